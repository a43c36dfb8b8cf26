"""Hand-written YAML is read safely, and a key given twice in one mapping is refused."""

from __future__ import annotations

import pytest
import yaml

from durable_sim import yamlfile


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("grid:\n  x: [1]\nbase: {}\ngrid:\n  y: [2]\n", "key 'grid' given twice (lines 1 and 4"),
        ("a: {c: 1, c: 2}\n", "key 'c' given twice (lines 1 and 1"),
        ("prices:\n  s3: 1\n  lambda: 2\n  s3: 3\n", "key 's3' given twice (lines 2 and 4"),
        ("- {n: 1}\n- {n: 2, m: 3, n: 4}\n", "key 'n' given twice (lines 2 and 2"),
        ("1: a\n1.0: b\n", "key 1.0 given twice"),
    ],
)
def test_a_key_given_twice_is_refused_with_its_lines(text: str, message: str) -> None:
    with pytest.raises(yamlfile.DuplicateKeyError, match="accepted: each key once") as info:
        yamlfile.load(text)
    assert message in str(info.value)
    assert isinstance(info.value, yaml.YAMLError)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "a: 1\nb: [1, 2]\nc: {d: 2.5, e: true, f: null}\n",
        "- {n: 1}\n- {n: 2}\n",  # equal keys in different mappings
        "a: {x: 1}\nb: {x: 1}\n",
        "'2024-01-01': 1\nname: '3'\n",
    ],
)
def test_documents_read_as_the_safe_loader_reads_them(text: str) -> None:
    assert yamlfile.load(text) == yaml.safe_load(text)


def test_unsafe_tags_are_refused() -> None:
    with pytest.raises(yaml.YAMLError):
        yamlfile.load("!!python/object/apply:os.system ['true']\n")
