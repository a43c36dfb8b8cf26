"""Project paths: one root whatever the working directory, and its directories."""

from __future__ import annotations

from pathlib import Path

import pytest

from durable_sim import project
from durable_sim.errors import OutputPathError
from durable_sim.project import ProjectPaths, ProjectRootError, find_project_root, project_root

REPO = Path(__file__).resolve().parents[1]


def test_project_root_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(project.ROOT_ENV, raising=False)
    assert project_root() == REPO  # the editable checkout, whatever the cwd
    monkeypatch.chdir(tmp_path)
    assert project_root() == REPO
    monkeypatch.setenv(project.ROOT_ENV, str(tmp_path / "env"))
    assert project_root() == tmp_path / "env"
    assert project_root(str(tmp_path / "explicit")) == tmp_path / "explicit"
    with pytest.raises(ProjectRootError, match="bad output_root='out': an absolute path"):
        project_root("out")
    monkeypatch.setenv(project.ROOT_ENV, "relative")
    with pytest.raises(ProjectRootError, match=f"bad {project.ROOT_ENV}='relative'"):
        project_root()


def test_outside_a_checkout_asks_for_a_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(project.ROOT_ENV, raising=False)
    monkeypatch.setattr(project, "installed_checkout", lambda: None)
    with pytest.raises(ProjectRootError, match="set output_root or DURABLE_SIM_ROOT"):
        project_root()


def test_the_command_lines_root_is_found_from_below_or_refused(tmp_path: Path) -> None:
    assert find_project_root(REPO / "data" / "experiments") == REPO
    with pytest.raises(ProjectRootError, match="no durable-sim project at or above"):
        find_project_root(tmp_path)


def test_layout_and_errors() -> None:
    paths = ProjectPaths(Path("/p"))
    assert paths.measured == Path("/p/data/measured")
    assert paths.paper_pdf == Path("/p/paper/build/paper.pdf")
    assert paths.paper_source == Path("/p/paper/paper.typ")
    assert issubclass(ProjectRootError, OutputPathError)  # a bad option: exit status 2
