"""Build the API reference from the docstrings with pdoc; any warning fails the build.

python tools/build_docs.py [OUTPUT_DIR]   # default docs/api; exit 1 on any warning

The public modules are every module of the `durable_sim` package whose dotted name has no part
starting with an underscore. `missing_docstrings()` lists the public modules, classes and
functions (methods included) without a docstring; tests/test_docs.py checks it.
"""

from __future__ import annotations

import gc
import pkgutil
import sys
import warnings
from pathlib import Path

import pdoc
import pdoc.doc
import pdoc.extract
import pdoc.render

import durable_sim

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "docs" / "api"


def public_modules() -> list[str]:
    """Dotted names of the package's public modules, the package first."""
    found = pkgutil.walk_packages(durable_sim.__path__, "durable_sim.")
    names = [m.name for m in found if not any(p.startswith("_") for p in m.name.split("."))]
    return ["durable_sim", *sorted(names)]


def _specs(names: list[str]) -> list[str]:
    """The names to hand pdoc: each module once (pdoc adds some packages' submodules itself)."""
    specs: list[str] = []
    covered: set[str] = set()
    for name in names:
        if name not in covered:
            specs.append(name)
            covered.update(pdoc.extract.walk_specs([name]))
    return specs


def build(output_dir: Path, modules: list[str] | None = None) -> list[str]:
    """Render `modules` (default: every public module) as HTML into `output_dir`; returns
    pdoc's warnings (text)."""
    gc.collect()  # finalize the caller's leftovers first: their warnings are not pdoc's
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # no source listings: the source is in the repository
        pdoc.render.configure(show_source=False, docformat="markdown")
        pdoc.pdoc(*_specs(modules or public_modules()), output_directory=output_dir)
    # A ResourceWarning comes from a finalizer run by garbage collection (an object of whatever
    # ran before in this process), never from rendering documentation.
    return [
        f"{w.category.__name__}: {w.message}"
        for w in caught
        if not issubclass(w.category, ResourceWarning)
    ]


def _members(obj: pdoc.doc.Namespace, module: str) -> list[str]:
    missing = []
    for member in obj.members.values():
        if member.name.startswith("_") or member.taken_from[0] != module:
            continue  # private, or documented where it is defined
        if isinstance(member, pdoc.doc.Function | pdoc.doc.Class):
            if not member.docstring.strip():
                missing.append(member.fullname)
            if isinstance(member, pdoc.doc.Class):
                missing += _members(member, module)
    return missing


def missing_docstrings() -> list[str]:
    """Public modules, classes and functions (methods included) that have no docstring,
    each listed once, in the module where it is defined."""
    missing = []
    for name in public_modules():
        module = pdoc.doc.Module.from_name(name)
        if not module.docstring.strip():
            missing.append(name)
        missing += _members(module, name)
    return missing


def main(argv: list[str]) -> int:
    output = Path(argv[0]) if argv else DEFAULT_OUTPUT
    problems = build(output)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"API reference: {len(problems)} warnings (accepted: none)", file=sys.stderr)
        return 1
    print(f"API reference: {output / 'index.html'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
