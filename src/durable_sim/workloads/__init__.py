"""The workloads the experiment harness runs, and their registry.

`WORKLOADS` maps each workload's name to its `Workload` (a `durable_sim.registry.Registry`).
The paper's two are built in (`COUNTER`, `VIDEO`); yours joins them in one of three ways:

- ``register_workload(ORDER)`` with a `Workload` value;
- ``@register_workload("order", store_purposes=("order",))`` on a class whose static methods
  ``durable`` and/or ``baseline`` are the runners (optional ``labels``, ``session`` and
  ``check`` as in `Workload`; its docstring's first line is the description);
- an entry point of an installed package in the group ``durable_sim.workloads``, naming a
  `Workload` (``order = my_package.order:ORDER``) or a module attribute whose import registers
  one.

A registered workload runs wherever a built-in one does: `durable_sim.experiments.ExperimentSpec`,
``durable-sim run``, notebooks, and spawned worker processes (``jobs > 1``) when it was
registered at the top level of an importable module or by an entry point (see
`durable_sim.registry`; a workload defined in a notebook cell runs with ``jobs=1``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TypeVar, overload

from durable_sim.registry import Registry, RegistryError, check_name
from durable_sim.rows import MODELS
from durable_sim.workloads.base import (
    Platform,
    RunEnv,
    RunValues,
    Workload,
    durable_values,
    no_check,
    no_labels,
    no_session,
    run_baseline_workflow,
    run_durable_workflow,
)
from durable_sim.workloads.counter import COUNTER
from durable_sim.workloads.video import VIDEO

#: A store-call purpose becomes the row column ``store_ops_<purpose>``.
PURPOSE_PATTERN = re.compile(r"[a-z][a-z0-9_]*")


def check_workload(workload: Workload) -> None:
    """Fail with `RegistryError` unless `workload`'s fields can make rows: a valid phase name,
    one callable runner per model it has (models: ``baseline``, ``durable``), unique store-call
    purposes that fit in a column name, callable ``labels``/``session``/``check`` and a
    one-line description."""
    what = f"workload {workload.name!r}"
    check_name(workload.phase, f"phase of {what}")
    runners = dict(workload.runners)
    if not runners or set(runners) - set(MODELS):
        raise RegistryError(
            f"{what} has runners for {sorted(runners)} (accepted: one or both of {list(MODELS)})"
        )
    for field, value in [
        *((f"runner {model!r}", runner) for model, runner in runners.items()),
        ("labels", workload.labels),
        ("session", workload.session),
        ("check", workload.check),
    ]:
        if not callable(value):
            raise RegistryError(f"{what}: {field} must be callable, got {value!r}")
    purposes = workload.store_purposes
    bad = [p for p in purposes if not isinstance(p, str) or not PURPOSE_PATTERN.fullmatch(p)]
    if isinstance(purposes, str) or bad or len(set(purposes)) != len(purposes):
        raise RegistryError(
            f"{what} has store_purposes {purposes!r} (accepted: a tuple of distinct names of "
            "lower-case letters, digits and '_', starting with a letter)"
        )
    if not isinstance(workload.description, str) or "\n" in workload.description:
        raise RegistryError(f"{what}: description must be one line of text")


#: Every workload by name: the built-ins, yours, and installed packages' entry points.
WORKLOADS: Registry[Workload] = Registry(
    "workload", Workload, group="durable_sim.workloads", check=check_workload
)
WORKLOADS.register(COUNTER, builtin=True)
WORKLOADS.register(VIDEO, builtin=True)

C = TypeVar("C", bound=type)


@overload
def register_workload(workload: Workload, /, *, replace: bool = False) -> Workload: ...


@overload
def register_workload(
    name: str,
    /,
    *,
    phase: str | None = None,
    store_purposes: Sequence[str] = (),
    description: str | None = None,
    replace: bool = False,
) -> Callable[[C], C]: ...


def register_workload(
    target: Workload | str,
    /,
    *,
    phase: str | None = None,
    store_purposes: Sequence[str] = (),
    description: str | None = None,
    replace: bool = False,
) -> Workload | Callable[[C], C]:
    """Register a workload: ``register_workload(workload)`` returns `workload`;
    ``@register_workload(name, ...)`` on a class builds the `Workload` from it and returns the
    class unchanged.

    The decorator's class gives the runners as static methods named after the models
    (``durable``, ``baseline``: ``(spec, env) -> RunValues``) and may give ``labels``,
    ``session`` and ``check`` (see `Workload`); `phase` defaults to `name`; `description` to
    the first line of the class's docstring.

    Raises `RegistryError` (see `durable_sim.registry.Registry.register`) for a bad name, a
    value of the wrong type, bad fields (`check_workload`), or a name registered elsewhere
    unless `replace` (the built-ins never); the decorator's options with a `Workload` value.
    """
    if isinstance(target, Workload):
        if phase is not None or store_purposes or description is not None:
            raise RegistryError(
                "phase, store_purposes and description are options of the decorator form "
                "(@register_workload(name, ...)); a Workload value carries its own"
            )
        return WORKLOADS.register(target, replace=replace, stacklevel=2)
    if not isinstance(target, str):
        raise RegistryError(
            f"register_workload takes a Workload, or a name for the decorator form "
            f"(@register_workload('order')); got {type(target).__name__}"
        )
    name = check_name(target, "workload name")

    def decorate(cls: C) -> C:
        if not isinstance(cls, type):
            raise RegistryError(
                f"@register_workload({name!r}) decorates a class whose static methods are the "
                f"runners; got {type(cls).__name__}"
            )
        doc = (cls.__doc__ or "").strip().splitlines()
        workload = Workload(
            name=name,
            phase=name if phase is None else phase,
            runners={m: getattr(cls, m) for m in sorted(MODELS) if hasattr(cls, m)},
            store_purposes=tuple(store_purposes),
            labels=getattr(cls, "labels", no_labels),
            session=getattr(cls, "session", no_session),
            check=getattr(cls, "check", no_check),
            description=description if description is not None else (doc[0] if doc else ""),
        )
        WORKLOADS.register(workload, replace=replace, stacklevel=2)
        return cls

    return decorate


def get_workload(name: str) -> Workload:
    """The workload registered as `name` (an installed entry point is loaded on first use).
    Raises `durable_sim.registry.UnknownNameError` listing the accepted names."""
    return WORKLOADS[name]


__all__ = [
    "COUNTER",
    "VIDEO",
    "WORKLOADS",
    "Platform",
    "RunEnv",
    "RunValues",
    "Workload",
    "check_workload",
    "durable_values",
    "get_workload",
    "no_check",
    "no_labels",
    "no_session",
    "register_workload",
    "run_baseline_workflow",
    "run_durable_workflow",
]
