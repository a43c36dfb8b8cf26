"""The durable-sim command line."""

import pandas as pd

from durable_sim.cli import main


def test_run_writes_csv_and_sidecar(tmp_path, capsys):
    out = tmp_path / "counter.csv"
    assert (
        main(["run", "counter", "--model", "baseline", "--runs", "3", "--quiet", "--out", str(out)])
        == 0
    )
    rows = pd.read_csv(out)
    assert list(rows.store_ops) == [5, 5, 5]
    assert out.with_suffix(".meta.json").exists()


def test_bad_spec_exits_2_with_one_line(tmp_path, capsys):
    out = tmp_path / "video.csv"
    assert main(["run", "video", "--model", "durable", "--chunks", "0", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err
        == "durable-sim: bad experiment spec: chunks=0: Input should be greater than or equal to 1"
    )
    assert not out.exists()
