"""`make mutate`'s configuration: each target names existing code and tests, in valid TOML."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

import mutate

REPO = Path(__file__).resolve().parents[2]


def test_targets_name_existing_code_and_tests() -> None:
    sources = [p.relative_to(REPO).as_posix() for p in (REPO / "src").rglob("*.py")]
    for name, (code, tests) in mutate.TARGETS.items():
        assert any(fnmatch.fnmatch(path, code) for path in sources), name
        assert all((REPO / t).is_dir() for t in tests), name


def test_generated_config_is_valid_toml() -> None:
    code, tests = mutate.TARGETS["durable"]
    config = tomllib.loads(mutate._config(code, tests))["tool"]["mutmut"]
    assert config["only_mutate"] == [code]
    assert config["pytest_add_cli_args_test_selection"] == list(tests)
    assert "no:xdist" in config["pytest_add_cli_args"]
