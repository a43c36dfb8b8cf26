"""Regenerate everything from the notebooks: data, tables, figures, executed notebooks, the PDF.

    python tools/reproduce.py [--params params/paper] [--root ROOT] [--no-paper]
    python tools/reproduce.py --recover [--root ROOT]

`--root` defaults to the checkout this file belongs to, whatever the working directory; a
relative `--params` is read from the root. A parameter set is a directory with one YAML file
per notebook (``01_counter.yaml``, ...), each checked against the notebook's parameter model
(`durable_sim.notebook`) before anything runs: an unknown key, file or bad value is one error
naming it, and nothing is written.

Every notebook runs with papermill on the project kernel (`durable_sim.kernel`, resolved from
this environment only, so ``JUPYTER_PATH`` cannot substitute another) into a scratch tree under
``<root>/.reproduce/``; the kernels see ``DURABLE_SIM_ROOT`` pointing there, a private
Matplotlib/IPython/Jupyter config, and no ``MATPLOTLIBRC``. The driver records which files each
notebook wrote (a file written by two is an error), normalizes the executed notebooks
(`strip_notebook`), compiles the paper, and only when all of that succeeded publishes the
changed files into the tree in one recoverable step (`publish`). `notebooks/manifest.json`
lists each notebook's outputs; ``logs/reproduce.json`` (not committed) records the interpreter,
every installed package and the timings of the last run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import yaml
from strip_notebook import strip_file

from durable_sim import yamlfile
from durable_sim.errors import DurableSimError
from durable_sim.kernel import KERNEL_NAME, apply_kernel_environment, install_kernel, kernel_dir
from durable_sim.notebook import NOTEBOOK_PARAMETERS, ParameterError
from durable_sim.project import ROOT_ENV, ProjectPaths
from durable_sim.report import build_paper
from durable_sim.staging import BusyError, exclusive, new_stage, publish, recover, work_dir

REPO = Path(__file__).resolve().parents[1]
#: Where each kind of output may be written, relative to the root.
OUTPUT_DIRS = ("notebooks", *ProjectPaths.OUTPUT_DIRS, "paper/build")
#: Trees the notebooks and the paper read from; every file in them outside `OUTPUT_DIRS` is an
#: input (the paper's source, the measured data set, price tables, committed sweeps, sweep
#: files), copied into the stage.
INPUT_TREES = ("paper", "data", "params/sweeps")
MANIFEST = "notebooks/manifest.json"
PAPER_PDF = ProjectPaths(Path()).paper_pdf.as_posix()
RUN_LOG = "logs/reproduce.json"


class ReproduceError(DurableSimError):
    """Bad input or a bad tree, found before anything was written; one line."""


def notebooks(root: Path) -> list[Path]:
    """The parameterized notebooks, in run order."""
    return sorted((root / "notebooks").glob("[0-9]*.ipynb"))


def load_parameter_set(directory: Path, stems: list[str]) -> dict[str, dict[str, Any]]:
    """Each notebook's parameter file in `directory`, validated; `ReproduceError` if any is bad."""
    if not directory.is_dir():
        raise ReproduceError(
            f"parameter set {directory} is not a directory (expected one YAML file per notebook: "
            f"{', '.join(s + '.yaml' for s in stems)})"
        )
    unknown = sorted(p.name for p in directory.iterdir() if p.stem not in stems)
    if unknown:
        raise ReproduceError(
            f"{directory}: {unknown[0]} names no notebook (accepted: "
            f"{', '.join(s + '.yaml' for s in stems)})"
        )
    chosen = {}
    for stem in stems:
        path = directory / f"{stem}.yaml"
        if not path.is_file():
            raise ReproduceError(f"{directory}: {path.name} is missing (an empty file = defaults)")
        try:
            values = yamlfile.load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ReproduceError(
                f"{path}: not readable as YAML ({' '.join(str(exc).split())})"
            ) from None
        if not isinstance(values, dict):
            raise ReproduceError(f"{path}: expected a mapping of parameter names to values")
        if stem not in NOTEBOOK_PARAMETERS:
            raise ReproduceError(f"notebook {stem} has no parameter model in durable_sim.notebook")
        try:
            NOTEBOOK_PARAMETERS[stem].check(values)
        except ParameterError as exc:
            raise ReproduceError(f"{path}: {exc}") from None
        chosen[stem] = values
    return chosen


def check_output_dirs(root: Path) -> None:
    """Each output directory is a writable directory, or can be created; else `ReproduceError`."""
    for rel in (*OUTPUT_DIRS, "logs", work_dir(root).name):
        path = root / rel
        existing = path
        while not existing.exists():
            existing = existing.parent
        if not existing.is_dir():
            raise ReproduceError(f"output path {existing} is not a directory")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise ReproduceError(f"output directory {existing} is not writable")


def kernel_manager_class() -> type:
    """A kernel manager that finds kernels only in this environment (JUPYTER_PATH ignored)."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    kernels = str(kernel_dir().parent)

    class ProjectKernelManager(AsyncKernelManager):  # type: ignore[misc]
        @default("kernel_spec_manager")
        def _project_kernels(self) -> KernelSpecManager:
            return KernelSpecManager(kernel_dirs=[kernels], ensure_native_kernel=False)

    return ProjectKernelManager


def prepare_kernel_environment() -> None:
    """This process's environment as every kernel it starts must see it (they inherit it)."""
    apply_kernel_environment(os.environ)
    os.environ["JUPYTER_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="durable-sim-jupyter-runtime-")
    import matplotlib.font_manager  # noqa: F401  (build the font cache here, not in a cell)


def _snapshot(tree: Path) -> dict[str, tuple[int, int, int]]:
    out = {}
    for path in tree.rglob("*"):
        if path.is_file():
            info = path.stat()
            out[path.relative_to(tree).as_posix()] = (info.st_ino, info.st_mtime_ns, info.st_size)
    return out


def _writer_error(rel: str, first: str, second: str) -> ReproduceError:
    return ReproduceError(
        f"{rel} is written by both {first} and {second}: every generated file needs one writer"
    )


def stage_inputs(root: Path, stage: Path) -> set[str]:
    """Copy the inputs (files of `INPUT_TREES` outside `OUTPUT_DIRS`) into `stage`."""
    copied = set()
    for tree in INPUT_TREES:
        for path in sorted((root / tree).rglob("*")):
            rel = path.relative_to(root).as_posix()
            if path.is_file() and not any(rel.startswith(d + "/") for d in OUTPUT_DIRS):
                (stage / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, stage / rel)
                copied.add(rel)
    return copied


@contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    """Set the environment variable `name` (the kernels inherit it) and restore it afterwards,
    so a driver called in-process leaves its caller's environment as it was."""
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def run_notebooks(
    root: Path, stage: Path, params: dict[str, dict[str, Any]], inputs: set[str]
) -> tuple[dict[str, list[str]], dict[str, float]]:
    """Execute each notebook into `stage`; returns each one's written files and its seconds."""
    import papermill as pm

    writers: dict[str, str] = {}
    manifest: dict[str, list[str]] = {}
    seconds: dict[str, float] = {}
    manager = kernel_manager_class()
    (stage / "notebooks").mkdir(parents=True, exist_ok=True)
    with _environment(ROOT_ENV, str(stage)):
        for nb in notebooks(root):
            before = _snapshot(stage)
            start = time.perf_counter()
            out = stage / "notebooks" / nb.name
            pm.execute_notebook(
                str(nb),
                str(out),
                parameters=params[nb.stem],
                kernel_name=KERNEL_NAME,
                cwd=str(stage / "notebooks"),
                progress_bar=False,
                kernel_manager_class=manager,
            )
            strip_file(out)
            seconds[nb.stem] = round(time.perf_counter() - start, 1)
            print(f"{nb.name}: {seconds[nb.stem]:.1f} s", file=sys.stderr)
            after = _snapshot(stage)
            written = sorted(rel for rel, sig in after.items() if before.get(rel) != sig)
            for rel in written:
                if rel in inputs:
                    raise ReproduceError(f"{nb.name} modified the input {rel}")
                if rel in writers:
                    raise _writer_error(rel, writers[rel], nb.stem)
                writers[rel] = nb.stem
            manifest[nb.stem] = written
    return manifest, seconds


def check_locations(manifest: dict[str, list[str]]) -> None:
    """Every output lies in an output directory; a stray file is an error before publishing."""
    for writer, files in manifest.items():
        for rel in files:
            allowed = rel == f"notebooks/{writer}.ipynb" or any(
                rel.startswith(d + "/") for d in OUTPUT_DIRS if d != "notebooks"
            )
            if not allowed:
                raise ReproduceError(f"{writer} wrote {rel}, outside the output directories")


def environment_record() -> dict[str, Any]:
    """The interpreter and every installed distribution, for the run log."""
    packages = sorted(
        {(d.metadata["Name"] or "?", d.version) for d in metadata.distributions()},
        key=lambda item: item[0].lower(),
    )
    return {
        "python": sys.version,
        "executable": sys.executable,
        "platform": platform.platform(),
        "packages": {name: version for name, version in packages},
    }


def write_run_log(root: Path, record: dict[str, Any]) -> Path:
    path = root / RUN_LOG
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def reproduce(root: Path, params_dir: Path, *, paper: bool = True) -> list[str]:
    """Run everything into a stage and publish it; returns the files that changed."""
    stems = [nb.stem for nb in notebooks(root)]
    params = load_parameter_set(params_dir, stems)
    check_output_dirs(root)
    with exclusive(root):
        done = recover(root)
        if done:
            print(f"reproduce: {done}", file=sys.stderr)
        install_kernel()
        prepare_kernel_environment()
        started = datetime.now(UTC).isoformat(timespec="seconds")
        stage = new_stage(root)
        inputs = stage_inputs(root, stage)
        manifest, seconds = run_notebooks(root, stage, params, inputs)
        if paper and ProjectPaths(stage).paper_source.is_file():
            ProjectPaths(stage).paper_pdf.parent.mkdir(parents=True, exist_ok=True)
            build_paper(stage)  # the one build, as `durable-sim report` makes it
            manifest["paper"] = [PAPER_PDF]
        check_locations(manifest)
        (stage / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
        outputs = [*sorted(rel for files in manifest.values() for rel in files), MANIFEST]
        changed = publish(root, stage, outputs)
        write_run_log(
            root,
            {
                "started": started,
                "finished": datetime.now(UTC).isoformat(timespec="seconds"),
                "parameters": {
                    stem: {
                        "file": str(params_dir / f"{stem}.yaml"),
                        "sha256": hashlib.sha256(
                            (params_dir / f"{stem}.yaml").read_bytes()
                        ).hexdigest(),
                    }
                    for stem in stems
                },
                "seconds": seconds,
                "kernel": json.loads((kernel_dir() / "kernel.json").read_text(encoding="utf-8")),
                "environment": environment_record(),
                "outputs": {
                    rel: hashlib.sha256((root / rel).read_bytes()).hexdigest() for rel in outputs
                },
                "changed": changed,
            },
        )
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--params",
        default="params/paper",
        help="parameter set: a directory with one YAML file per notebook (relative: to --root)",
    )
    parser.add_argument(
        "--root", default=str(REPO), help="project root or a copy of it (default: this checkout)"
    )
    parser.add_argument("--no-paper", action="store_true", help="skip compiling the PDF")
    parser.add_argument(
        "--recover", action="store_true", help="only finish or discard an interrupted run"
    )
    args = parser.parse_args(argv)
    root = Path(args.root).expanduser().resolve()
    if not (root / "notebooks").is_dir():
        parser.error(f"--root {root} has no notebooks/ directory")
    params_dir = Path(args.params).expanduser()
    params_dir = params_dir if params_dir.is_absolute() else root / params_dir
    try:
        if args.recover:
            with exclusive(root):
                print(f"reproduce: {recover(root) or 'nothing to recover'}", file=sys.stderr)
            return 0
        changed = reproduce(root, params_dir, paper=not args.no_paper)
    except (ReproduceError, ParameterError, BusyError) as exc:  # bad input: nothing was written
        print(f"reproduce: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        print(f"reproduce: failed, nothing was published: {exc}", file=sys.stderr)
        return 1
    print(f"reproduce: {len(changed)} file(s) changed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
