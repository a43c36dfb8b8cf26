"""Regenerate everything from the notebooks: data, tables, figures, executed notebooks, the PDF.

    python tools/reproduce.py [--params params/paper.yaml] [--root .] [--no-paper]

Runs every `notebooks/*.ipynb` of `--root` in place with papermill (kernel ``python3``, working
directory `notebooks/`), passing each notebook only the keys of the parameter file it declares
(one flat file serves all notebooks without "unknown parameter" warnings), strips run-varying
metadata, then compiles `paper/paper.typ` to `paper/build/paper.pdf` with Typst. `--root` may be a
copy of the repository (the reproducibility test runs it on one in a temporary directory).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import papermill as pm
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from strip_notebook import strip_file

KERNEL = "python3"


def run_notebooks(root: Path, params: dict[str, object]) -> list[Path]:
    notebooks = sorted((root / "notebooks").glob("[0-9]*.ipynb"))
    for nb in notebooks:
        declared = {p["name"] for p in pm.inspect_notebook(str(nb)).values()}
        chosen = {k: v for k, v in params.items() if k in declared}
        start = time.perf_counter()
        pm.execute_notebook(
            str(nb),
            str(nb),
            parameters=chosen,
            kernel_name=KERNEL,
            cwd=str(root / "notebooks"),
            progress_bar=False,
        )
        strip_file(nb)
        print(f"{nb.name}: {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return notebooks


def build_paper(root: Path) -> Path:
    """Compile paper/paper.typ with Typst: fixed fonts (embedded only), no date, same bytes."""
    import typst

    out = root / "paper" / "build" / "paper.pdf"
    out.parent.mkdir(parents=True, exist_ok=True)
    typst.compile(
        str(root / "paper" / "paper.typ"),
        output=str(out),
        root=str(root),
        ignore_system_fonts=True,
    )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", default="params/paper.yaml", help="flat YAML parameter file")
    parser.add_argument("--root", default=".", help="repository root (or a copy of it)")
    parser.add_argument("--no-paper", action="store_true", help="skip compiling the PDF")
    args = parser.parse_args(argv)
    root = Path(args.root).resolve()
    params = yaml.safe_load(Path(args.params).read_text(encoding="utf-8")) or {}
    if not isinstance(params, dict):
        parser.error(f"{args.params}: expected a mapping of parameter names to values")
    run_notebooks(root, params)
    if not args.no_paper and (root / "paper" / "paper.typ").is_file():
        print(f"paper: {build_paper(root).relative_to(root)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
