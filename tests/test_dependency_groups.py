"""Optional dependency groups: declared in pyproject.toml, pinned in requirements.lock (the one
set of exact pins `make env` installs), mirrored in environment.yml."""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]


def _sync() -> ModuleType:
    path = REPO / "tools" / "sync_environment.py"
    spec = importlib.util.spec_from_file_location("sync_environment", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_groups_exist_and_every_direct_need_is_pinned() -> None:
    sync = _sync()
    groups = sync.groups(tomllib.loads((REPO / "pyproject.toml").read_text()))
    assert {"lab", "dev", "dask", "postgres"} <= set(groups)
    pins = sync.lock_pins((REPO / "requirements.lock").read_text())
    assert sync.unpinned(pins, groups) == []
    # the packages an extra adds are pinned too (dask[distributed], psycopg[binary])
    assert {"distributed", "psycopg-binary"} <= {pin.split("==")[0] for pin in pins}


def test_a_requirement_without_a_pin_is_reported() -> None:
    sync = _sync()
    groups = {"": ["numpy"], "dask": ["dask[distributed]"]}
    assert sync.unpinned(["numpy==2.4.6", "dask==2026.8.0"], groups) == ["distributed (dask)"]


def test_environment_yml_installs_every_group() -> None:
    text = (REPO / "environment.yml").read_text()
    assert text.rstrip().endswith("- -e .[dask,dev,lab,postgres]")
    assert "#   postgres: psycopg[binary]" in text
