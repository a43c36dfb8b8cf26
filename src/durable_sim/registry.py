"""Registries of named extensions (workloads, latency profiles), and how their registrations
reach spawned worker processes.

A `Registry` maps names to values of one type. Its values come from three places:

1. the package's built-ins (which cannot be replaced or removed);
2. a ``register_*`` call in Python code (`durable_sim.workloads.register_workload`,
   `durable_sim.latency.register_profile`), in a module, a script or a notebook cell;
3. the Python entry points of installed packages, in the registry's entry-point group
   (``durable_sim.workloads``, ``durable_sim.profiles``). Their names are listed without
   importing anything; an entry point is loaded the first time its name is looked up (and what
   it gives is kept), and a broken one raises one `RegistryError` naming its package and the
   entry point.

Worker processes are spawned, not forked, so a worker starts with the built-ins and the entry
points only. Every registration therefore records its `Origin`: how another process makes it
again. A ``register_*`` call at the top level of an importable module is made again by importing
that module (a script's top level is re-run by `multiprocessing` in each worker); an entry point
is loaded again by name. A call anywhere else (inside a function, in a notebook cell or an
interactive session) has no way back: it works in this process, and `Registry.for_workers`
refuses it with a `RegistryError` that says what to do, before any work is shared out.
`Registry.restore` is the worker's half.

Registrations, lookups and entry-point loading are thread-safe (one lock per registry).
"""

from __future__ import annotations

import importlib
import re
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Generic, Literal, Protocol, TypeVar

from durable_sim.errors import DurableSimError

#: What a registered name looks like: lower-case letters and digits in words joined by single
#: ``-`` or ``_``, starting with a letter (e.g. ``paper-local``, ``order_saga``).
NAME_PATTERN = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")
#: The longest accepted name, in characters.
MAX_NAME_LENGTH = 40
#: The naming rule as error messages state it.
NAME_RULE = (
    "lower-case letters and digits, words joined by single '-' or '_', starting with a letter, "
    f"at most {MAX_NAME_LENGTH} characters"
)


class RegistryError(DurableSimError, ValueError):
    """A bad registration or lookup: a bad name, a value of the wrong type, a name registered
    twice, a broken entry point, or a registration that cannot reach worker processes. The
    message is one line naming the value and what is accepted."""


class UnknownNameError(RegistryError, KeyError):
    """A name that is neither registered nor an installed entry point; also a `KeyError`, so a
    registry behaves as a `Mapping` (``registry.get(name)`` returns None)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def check_name(name: object, what: str) -> str:
    """`name` if it is a valid registered name (see `NAME_PATTERN`); else `RegistryError`
    naming `what` (e.g. ``"workload name"``), the value and the rule."""
    if (
        not isinstance(name, str)
        or len(name) > MAX_NAME_LENGTH
        or NAME_PATTERN.fullmatch(name) is None
    ):
        raise RegistryError(f"bad {what} {name!r} (accepted: {NAME_RULE})")
    return name


OriginKind = Literal["builtin", "module", "entry_point", "process"]


@dataclass(frozen=True)
class Origin:
    """Where a registration comes from, and so how another process can make it again.

    `kind` is ``builtin`` (the package registers it on import), ``module`` (a ``register_*``
    call at the top level of module `module`: importing it registers again; ``__main__`` for a
    script, which `multiprocessing` re-runs in each worker), ``entry_point`` (entry point
    `entry_point` of the installed package `package`), or ``process`` (a call made where no
    import repeats it: in a function of `module`, or in a notebook cell or interactive session;
    this process only).
    """

    kind: OriginKind
    module: str = ""
    entry_point: str = ""
    package: str = ""

    @property
    def reaches_workers(self) -> bool:
        """Whether a spawned worker process can make this registration again."""
        return self.kind != "process"

    def describe(self) -> str:
        """A few words for listings and messages, e.g. ``"module my_study.workloads"``."""
        if self.kind == "builtin":
            return "built in"
        if self.kind == "module":
            return f"module {self.module}"
        if self.kind == "entry_point":
            return f"package {self.package} (entry point {self.entry_point})"
        return f"this process only ({self.module})"


def _main_reruns_in_workers() -> bool:
    """Whether a spawned worker runs this process's ``__main__`` again (as ``__mp_main__``).

    Mirrors CPython 3.11's ``multiprocessing.spawn``: ``get_preparation_data`` passes the main
    module's ``__spec__.name`` or else its ``__file__``, and the worker skips a name that is
    ``__main__`` or ends in ``.__main__``, and a path whose stem is ``ipython``. A notebook's or
    an interactive session's ``__main__`` has neither name nor file, so it is not re-run.
    """
    main = sys.modules.get("__main__")
    spec_name = getattr(getattr(main, "__spec__", None), "name", None)
    if spec_name is not None:
        return spec_name != "__main__" and not spec_name.endswith(".__main__")
    path = getattr(main, "__file__", None)
    return path is not None and Path(path).stem != "ipython"


def _caller_origin(frame: FrameType) -> Origin:
    """The `Origin` of a registration made by the code running in `frame` (the caller of a
    ``register_*`` function): ``module`` for a module's top level (``__main__`` only when
    workers re-run it, see `_main_reruns_in_workers`), else ``process``."""
    module = str(frame.f_globals.get("__name__", ""))
    at_top_level = frame.f_code.co_name == "<module>"
    if at_top_level and (module != "__main__" or _main_reruns_in_workers()):
        return Origin("module", module=module)
    where = "a notebook cell or interactive session" if module == "__main__" else module
    if not at_top_level:
        where = f"function {frame.f_code.co_name} of {module}"
    return Origin("process", module=where)


class Named(Protocol):
    """What a registry holds: values that carry their own name."""

    @property
    def name(self) -> str: ...


T = TypeVar("T", bound=Named)


@dataclass(frozen=True)
class _Entry(Generic[T]):
    value: T
    origin: Origin
    registered_by: str  # the module whose code made the registration


class Registry(Mapping[str, T]):
    """Names -> values of type `value_type`, read like a `Mapping`.

    `kind` names a value in messages (``"workload"``); `group` is the entry-point group read
    for installed packages' values; `check` validates a value's fields beyond its type and name,
    raising `RegistryError`. Iteration yields the registered names and the entry points' names,
    sorted: listing never imports a package. A registered name shadows an entry point of the
    same name (which is then never loaded). ``registry[name]``
    loads an entry point when needed and raises `UnknownNameError` (a `KeyError` and a
    `RegistryError`) for an unknown name, listing the accepted ones.
    """

    def __init__(
        self,
        kind: str,
        value_type: type[T],
        *,
        group: str,
        check: Callable[[T], None] | None = None,
    ) -> None:
        self.kind = kind
        self.value_type = value_type
        self.group = group
        self._check = check
        self._entries: dict[str, _Entry[T]] = {}
        self._lock = threading.RLock()
        self._scanned_path: tuple[str, ...] | None = None
        self._entry_points: dict[str, list[metadata.EntryPoint]] = {}

    # -- registering -------------------------------------------------------------------------

    def register(
        self, value: T, *, replace: bool = False, builtin: bool = False, stacklevel: int = 1
    ) -> T:
        """Register `value` under its own name and return it.

        `stacklevel` says which caller made the registration (1: the caller of this method;
        2: its caller, for a ``register_*`` function that wraps this one), which sets the
        registration's `Origin`; `builtin` marks the package's own values.

        Raises `RegistryError` if `value` is not a `value_type`, its name breaks `NAME_PATTERN`,
        `check` rejects it, or the name is already registered: by the package (never
        replaceable), or from another module than this call's, unless `replace`. Registering
        again from the same module replaces the value, so re-running a notebook cell or
        reloading a module works.
        """
        name = self._validate(value)
        frame = sys._getframe(stacklevel)
        registered_by = str(frame.f_globals.get("__name__", ""))
        origin = Origin("builtin", module=registered_by) if builtin else _caller_origin(frame)
        with self._lock:
            self._add(name, _Entry(value, origin, registered_by), replace=replace)
        return value

    def _validate(self, value: object) -> str:
        """`value`'s name, once its type, name and fields are checked (`RegistryError`)."""
        if not isinstance(value, self.value_type):
            raise RegistryError(
                f"a {self.kind} must be a {self.value_type.__name__}, "
                f"got {type(value).__name__} {_short(value)}"
            )
        name = check_name(value.name, f"{self.kind} name")
        if self._check is not None:
            self._check(value)
        return name

    def _add(self, name: str, entry: _Entry[T], *, replace: bool) -> None:
        existing = self._entries.get(name)
        if existing is not None and existing.value is not entry.value:
            if existing.origin.kind == "builtin":
                raise RegistryError(
                    f"{self.kind} {name!r} is built in and cannot be replaced; "
                    "register yours under another name"
                )
            if not replace and existing.registered_by != entry.registered_by:
                raise RegistryError(
                    f"{self.kind} {name!r} is already registered by "
                    f"{existing.origin.describe()}; register yours under another name, "
                    "or pass replace=True"
                )
        if existing is None or existing.value is not entry.value:
            self._entries[name] = entry

    def unregister(self, name: str) -> None:
        """Remove a registration (not a built-in one). Raises `UnknownNameError` for a name not
        registered, `RegistryError` for a built-in. An entry point's name becomes available
        again from its package (loaded anew on the next lookup)."""
        with self._lock:
            entry = self._entries.get(name)
            if entry is None:
                raise self._unknown(name)
            if entry.origin.kind == "builtin":
                raise RegistryError(f"{self.kind} {name!r} is built in and cannot be removed")
            del self._entries[name]

    # -- reading -----------------------------------------------------------------------------

    def __getitem__(self, name: str) -> T:
        with self._lock:
            entry = self._entries.get(name)
            if entry is None:
                entry = self._load_entry_point(name)
            return entry.value

    def __contains__(self, name: object) -> bool:
        with self._lock:
            return name in self._entries or name in self._installed()

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            names = sorted(set(self._entries) | set(self._installed()))
        return iter(names)

    def __len__(self) -> int:
        with self._lock:
            return len(set(self._entries) | set(self._installed()))

    def __repr__(self) -> str:
        return f"<Registry of {self.kind}s: {', '.join(self)}>"

    def origin(self, name: str) -> Origin:
        """Where `name`'s registration comes from (an unloaded entry point is loaded first).
        Raises `UnknownNameError` for an unknown name."""
        with self._lock:
            self[name]
            return self._entries[name].origin

    def accepted(self) -> str:
        """The accepted names as a message lists them: ``['counter', 'video']``."""
        return str(list(self))

    def _unknown(self, name: object) -> UnknownNameError:
        return UnknownNameError(f"{self.kind} {name!r} is unknown (accepted: {self.accepted()})")

    # -- worker processes --------------------------------------------------------------------

    def for_workers(self, name: str) -> Origin:
        """`name`'s origin, checked to reach spawned worker processes (see `restore`).

        Raises `UnknownNameError` for an unknown name, and `RegistryError` saying what to do
        for a registration made where no worker can repeat it (in a function, a notebook cell or
        an interactive session).
        """
        origin = self.origin(name)
        if not origin.reaches_workers:
            raise RegistryError(
                f"{self.kind} {name!r} was registered in {origin.module}, which spawned worker "
                "processes cannot repeat: run with jobs=1, or move it into a module (a .py file "
                f"on the import path, or a package with a '{self.group}' entry point) and "
                "register it at that module's top level"
            )
        return origin

    def restore(self, name: str, origin: Origin) -> T:
        """In a worker process, make the registration of `name` again from its `origin` (from
        `for_workers` in the parent) and return the value: import the module, or load the entry
        point. Raises `RegistryError` if the module cannot be imported here, or if that does not
        register `name`."""
        if origin.kind == "module" and origin.module != "__main__":
            try:
                importlib.import_module(origin.module)
            except ImportError as exc:
                raise RegistryError(
                    f"{self.kind} {name!r}: cannot import module {origin.module!r} in this "
                    f"worker process ({exc}); every worker needs it on its import path"
                ) from exc
        with self._lock:
            if name in self:
                return self[name]
        raise RegistryError(
            f"{self.kind} {name!r} is not registered in this worker process: "
            f"{origin.describe()} did not register it when run again; register it at the "
            "module's top level (not under 'if __name__ == \"__main__\":')"
        )

    # -- entry points ------------------------------------------------------------------------

    def _installed(self) -> dict[str, list[metadata.EntryPoint]]:
        """The group's entry points by name, read again whenever `sys.path` has changed."""
        path = tuple(sys.path)
        if self._scanned_path != path:
            found: dict[str, list[metadata.EntryPoint]] = {}
            for ep in metadata.entry_points(group=self.group):
                if not any(ep.value == seen.value for seen in found.get(ep.name, [])):
                    found.setdefault(ep.name, []).append(ep)
            self._entry_points = found
            self._scanned_path = path
        return self._entry_points

    def _load_entry_point(self, name: str) -> _Entry[T]:
        candidates = self._installed().get(name)
        if not candidates:
            raise self._unknown(name)
        if len(candidates) > 1:
            packages = sorted(_package(ep) for ep in candidates)
            raise RegistryError(
                f"{self.kind} {name!r} is an entry point of several packages {packages} "
                f"(group {self.group}); uninstall all but one"
            )
        (ep,) = candidates
        where = (
            f"entry point '{ep.name} = {ep.value}' of package {_package(ep)!r} (group {self.group})"
        )
        try:
            loaded = ep.load()
        except Exception as exc:
            reason = " ".join(str(exc).split())
            raise RegistryError(f"cannot load {where}: {type(exc).__name__}: {reason}") from exc
        entry = self._entries.get(name)  # importing it may have registered it
        if isinstance(loaded, self.value_type):
            try:
                given = self._validate(loaded)
            except RegistryError as exc:
                raise RegistryError(f"{where}: {exc}") from None
            if given != name:
                raise RegistryError(
                    f"{where} gives a {self.kind} named {given!r}; the names must agree"
                )
            if entry is None or entry.value is not loaded:
                origin = Origin("entry_point", entry_point=ep.name, package=_package(ep))
                self._add(name, _Entry(loaded, origin, ep.module), replace=True)
        elif entry is None:
            raise RegistryError(
                f"{where} gives a {type(loaded).__name__}, not a {self.value_type.__name__} "
                f"(accepted: a {self.value_type.__name__} named {name!r}, or an object whose "
                "module registers one on import)"
            )
        return self._entries[name]


def _package(ep: metadata.EntryPoint) -> str:
    dist = ep.dist
    return f"{dist.name} {dist.version}" if dist is not None else "?"


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


__all__ = [
    "MAX_NAME_LENGTH",
    "NAME_PATTERN",
    "Named",
    "Origin",
    "Registry",
    "RegistryError",
    "UnknownNameError",
    "check_name",
]
