"""The committed full sensitivity sweeps (`make sweeps`, ``data/sweeps/``) are current and agree
with notebook 04's canonical run, checked without running a single point.

Current: a rerun of each sweep file would skip every point (each point's CSV matches its sidecar,
and the sidecar's spec, code digest and price-table digest give the point's digest, computed from
the committed sweep file, this code and this price table), and ``index.csv`` records those
digests and each CSV's sha256. Consistent: notebook 04's coarse grids are subsets of the full
ones with fewer runs, so their rows are the full points' first runs, byte for byte as read back;
and the claims judged on the full grids get the verdicts notebook 05 gave from the coarse ones.
A failure after a change to ``src/`` means: run ``make sweeps`` and commit ``data/sweeps``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from durable_sim import sweeps
from durable_sim.analysis.claims import Settings, judge_claims
from durable_sim.analysis.sensitivity import SWEEP_DIMENSIONS, summary_frame, trends_frame
from durable_sim.experiments import load_rows
from durable_sim.sweeps import INDEX_FILE, load_sweep, read_sweep

REPO = Path(__file__).resolve().parents[1]
SWEEP_FILES = REPO / "params" / "sweeps"
COMMITTED = REPO / "data" / "sweeps"
#: The claims the sensitivity sweeps judge.
SWEPT_CLAIMS = ("advantages_grow", "less_storage_cost")


def _full(name: str) -> sweeps.Sweep:
    return load_sweep(SWEEP_FILES / f"sensitivity_{name}.yaml")


@pytest.mark.parametrize("name", list(SWEEP_DIMENSIONS))
def test_the_committed_sweep_is_current(name: str) -> None:
    sweep = _full(name)
    out = COMMITTED / f"sensitivity_{name}"
    saved, todo = sweeps._survey(out, sweep)
    stale = [file for _, _, file in todo]
    assert not stale, (
        f"data/sweeps/sensitivity_{name} is stale for {len(stale)} of {len(sweep.points)} points "
        f"(e.g. {stale[:2]}): run `make sweeps` and commit data/sweeps"
    )
    index = pd.read_csv(out / INDEX_FILE)
    assert index["point"].tolist() == [p.point_id for p in sweep.points]
    assert index["digest"].tolist() == [p.digest for p in sweep.points]
    assert index["sha256"].tolist() == [saved[i].sha256 for i in range(len(sweep.points))]
    assert len(read_sweep(out)) == sum(p.spec.runs for p in sweep.points)


@pytest.mark.parametrize("name", list(SWEEP_DIMENSIONS))
def test_the_canonical_rows_are_the_first_runs_of_the_full_grid(name: str) -> None:
    coarse = load_sweep(SWEEP_FILES / "coarse" / f"sensitivity_{name}.yaml")
    full = {point.point_id: point for point in _full(name).points}
    canonical = load_rows(REPO / "data" / "experiments" / f"sensitivity_{name}.csv")
    assert canonical["point"].drop_duplicates().tolist() == [p.point_id for p in coarse.points]
    grid_keys = list(coarse.grid_keys)
    for point in coarse.points:
        twin = full.get(point.point_id)
        assert twin is not None, f"{point.point_id} is not a point of the full grid"
        assert point.spec.runs <= twin.spec.runs
        assert point.spec == twin.spec.model_copy(update={"runs": point.spec.runs})
        ours = canonical[canonical["point"] == point.point_id].drop(columns=["point", *grid_keys])
        theirs = pd.read_csv(COMMITTED / f"sensitivity_{name}" / twin.file)
        theirs = theirs.head(point.spec.runs).drop(columns=grid_keys)
        pd.testing.assert_frame_equal(ours.reset_index(drop=True), theirs, check_dtype=False)


def test_the_full_grids_give_the_canonical_verdicts() -> None:
    """The growth and storage-cost claims, judged on the full grids (more points, more runs),
    get the verdicts the report gives them from the coarse grids."""
    grids = {
        dimension: read_sweep(COMMITTED / f"sensitivity_{name}", grid_values=True)
        for name, dimension in SWEEP_DIMENSIONS.items()
    }
    frames = {
        "sensitivity_summary": summary_frame(grids),
        "sensitivity_trends": trends_frame(grids, seed=0, n_resamples=1000),
    }
    full = judge_claims(frames, Settings(0.05, 0.7, 0.15)).set_index("id")["verdict"]
    report = pd.read_csv(REPO / "paper" / "generated" / "claims.csv").set_index("id")["verdict"]
    for claim in SWEPT_CLAIMS:
        assert report[claim] != "not testable here"
        assert full[claim] == report[claim], claim
