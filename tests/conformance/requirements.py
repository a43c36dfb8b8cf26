"""AWS's conformance requirements, read from the pinned wheel that `make env` downloads.

The wheel (`aws-durable-execution-conformance-tests` 1.0.0) installs only on Python >= 3.14, so it
is never installed: its YAML requirements are read from the zip, and its history matcher
(``history.py``), placeholder context (``variables.py``) and log matcher (``cloudwatch.py``), which
import cleanly on 3.11, are imported from the wheel file itself.

A requirement's ``${GEN_STR:N}`` variables are drawn from a numpy Generator seeded by the
requirement id, so every run sees the same inputs (AWS's runner draws them with `secrets`).
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import re
import string
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[2]
WHEEL = (
    ROOT
    / ".cache"
    / "conformance"
    / "aws_durable_execution_conformance_tests-1.0.0-py3-none-any.whl"
)
PACKAGE = "aws_durable_execution_conformance_tests"
SUITES = (
    "step",
    "wait",
    "child",
    "callback",
    "invoke",
    "wait_for_condition",
    "wait_for_callback",
    "parallel",
    "map",
    "plugin",
)
_GEN_STR = re.compile(r"^\$\{GEN_STR:(\d+)\}$")
_ALPHABET = np.array(list(string.ascii_lowercase + string.digits))


@dataclass(frozen=True)
class Requirement:
    """One requirement file: ``id`` like ``"4-7"``, its suite, and the parsed YAML."""

    id: str
    suite: str
    spec: dict[str, Any]

    @property
    def description(self) -> str:
        return str(self.spec.get("description", ""))

    @property
    def optional(self) -> bool:
        return bool(self.spec.get("optional", False))


def _wheel() -> zipfile.ZipFile:
    if not WHEEL.is_file():
        raise FileNotFoundError(
            f"{WHEEL.relative_to(ROOT)} is missing: run `make env` to download AWS's "
            "conformance wheel (pinned in tests/conformance/wheel-requirements.txt)"
        )
    return zipfile.ZipFile(WHEEL)


def _sort_key(req_id: str) -> tuple[int, int]:
    major, minor = req_id.split("-")
    return int(major), int(minor)


@functools.cache
def requirements() -> dict[str, Requirement]:
    """Every requirement in the wheel, by id, in suite order then number."""
    prefix = f"{PACKAGE}/test_requirements/"
    found: list[Requirement] = []
    with _wheel() as wheel:
        for name in wheel.namelist():
            if not (name.startswith(prefix) and name.endswith(".yaml")):
                continue
            suite, file_name = name[len(prefix) :].split("/")
            spec = yaml.safe_load(wheel.read(name))
            found.append(Requirement(file_name.removesuffix(".yaml"), suite, spec))
    unknown = sorted({r.suite for r in found} - set(SUITES))
    if unknown:
        raise ValueError(f"the wheel has suites {unknown} this harness does not know ({SUITES})")
    found.sort(key=lambda r: (SUITES.index(r.suite), _sort_key(r.id)))
    return {r.id: r for r in found}


def suite_ids(suite: str) -> list[str]:
    """The ids of one suite's requirements, in order."""
    return [r.id for r in requirements().values() if r.suite == suite]


@functools.cache
def wheel_module(name: str) -> ModuleType:
    """A module of the wheel (``history``, ``variables``, ``cloudwatch``), imported from the zip."""
    _wheel().close()  # a clear error if it is missing
    if str(WHEEL) not in sys.path:
        sys.path.append(str(WHEEL))
    return importlib.import_module(f"{PACKAGE}.{name}")


def placeholder_context(req: Requirement) -> Any:
    """AWS's `PlaceholderContext`, with the requirement's ``Variables`` bound deterministically."""
    context = wheel_module("variables").PlaceholderContext()
    seed = int.from_bytes(hashlib.sha256(req.id.encode()).digest()[:8], "big")
    rng = np.random.default_rng(seed)
    for name, value in (req.spec.get("Variables") or {}).items():
        match = _GEN_STR.match(value) if isinstance(value, str) else None
        if match:
            context.bind(name, "".join(rng.choice(_ALPHABET, size=int(match.group(1)))))
        else:
            context.bind(name, str(value))
    return context
