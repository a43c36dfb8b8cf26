"""Where runs keep their state: the database names a spec accepts, a run's own journal and
store on SQLite and Postgres, one server shared by an experiment's specs, and a measured run
of the counter and the video in both models on Postgres."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from durable_sim.dsn import redact
from durable_sim.errors import SpecError
from durable_sim.experiments import ExperimentSpec, run_experiments
from durable_sim.measure import measure
from durable_sim.pgcluster import PostgresCluster
from durable_sim.storage import Storage, check_database, open_storages
from durable_sim.study import counter_specs, video_specs


@pytest.mark.parametrize(
    "name", ["memory", "sqlite", "postgres", "postgresql://h/db", "host=h dbname=db port=5"]
)
def test_database_names_that_are_accepted(name: str) -> None:
    assert check_database(name) == name


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("mysql", "database 'mysql' is unknown"),
        (3, "database 3 is unknown"),
        ("postgresql://h/db?nosuch=1", "bad Postgres DSN"),
        ("host=h nosuch=1", "bad Postgres DSN"),
        ("mysql://u:S3cret@h/db", r"database 'mysql://u:\*\*\*@h/db' is unknown"),
    ],
)
def test_database_names_that_are_refused(value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_database(value)


def test_a_spec_names_its_database_and_aws_local_keeps_its_own() -> None:
    spec = ExperimentSpec.parse({"workload": "counter", "model": "baseline", "database": "sqlite"})
    assert spec.database == "sqlite"
    with pytest.raises(SpecError, match="database 'sqlite' holds our engine's journal"):
        ExperimentSpec.parse(
            {
                "workload": "counter",
                "model": "durable",
                "engine": "aws-local",
                "clock": "wall",
                "database": "sqlite",
            }
        )
    with pytest.raises(SpecError, match=r"bad experiment spec: database 'nowhere' is unknown"):
        ExperimentSpec.parse({"workload": "counter", "model": "durable", "database": "nowhere"})


def test_a_run_on_postgres_has_its_journal_and_store_in_a_schema_of_its_own(
    postgres_dsn: str,
) -> None:
    from durable_sim.clock import VirtualClock
    from durable_sim.latency import ZERO, Sampler

    def schemas() -> set[str]:
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            rows = conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'run_%'")
            return {row[0] for row in rows}

    before = schemas()
    with Storage("postgres", postgres_dsn).for_run() as run:
        assert run is not None
        store = run.open_store(VirtualClock(), Sampler(ZERO, 0))
        store.put("t", "k", {"v": 1})
        (schema,) = schemas() - before
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            tables = {
                row[0]
                for row in conn.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                    (schema,),
                )
            }
        assert {"durable_executions", "durable_operations", "kv_items"} <= tables
        store.close()
    assert schemas() == before  # dropped after the run


def test_sqlite_runs_get_files_of_their_own(tmp_path: Path) -> None:
    with open_storages(["sqlite", "memory", "sqlite"], tmp_path) as storages:
        assert sorted(storages) == ["memory", "sqlite"]
        with storages["sqlite"].for_run() as one, storages["sqlite"].for_run() as two:
            assert one is not None and two is not None
            assert one.store_path != two.store_path and one.store_path.parent.is_dir()  # type: ignore[union-attr]
        with storages["memory"].for_run() as none:
            assert none is None


@pytest.mark.parametrize("database", ["sqlite", "server"])
def test_both_models_run_on_a_shared_database(
    database: str, postgres_dsn: str, request: pytest.FixtureRequest
) -> None:
    name = postgres_dsn if database == "server" else database
    params = {"counter_runs": 2, "profile": "paper-local", "clock": "wall", "engine": "sim"}
    specs = counter_specs({**params, "seed": 0, "database": name})
    rows = run_experiments(specs)
    assert list(rows["ok"]) == [True] * 4
    assert list(rows.groupby("model")["store_ops"].mean()) == [5.0, 0.0]  # baseline, durable
    assert (rows[rows.model == "durable"]["checkpoint_ops"] == 4).all()


def test_measuring_on_a_postgres_server_this_project_starts(tmp_path: Path) -> None:
    """The params/postgres parameter set, made small: both workloads, both models, one server."""
    import yaml

    root = Path(__file__).resolve().parents[1] / "params" / "postgres"
    params = {p.stem: yaml.safe_load(p.read_text()) for p in root.glob("*.yaml")}
    assert {v["database"] for v in params.values()} == {"postgres"}
    params["01_counter"].update(counter_runs=2, warmup_runs=0)
    params["02_video_pipeline"].update(runs_durable=1, runs_baseline=1, chunks=2, warmup_runs=0)
    assert all(s.database == "postgres" for s in video_specs(params["02_video_pipeline"]))
    written = measure(params, tmp_path)
    assert [p.name for p in written] == ["phase1_counter.csv", "phase2_video.csv"]


def test_a_server_out_of_reach_during_a_run_is_a_journal_error_naming_it_without_password() -> None:
    """The run's schema is made on the server: one that cannot be reached (here a port nothing
    listens on; a SIGSTOPped one after the query deadline) is `JournalUnavailableError` naming
    the server, not psycopg's bare error (the CLI said 'unexpected ConnectionTimeout')."""
    from durable_sim.durable.errors import JournalUnavailableError

    url = "postgresql://u:SECRET@127.0.0.1:1/db"
    with pytest.raises(JournalUnavailableError) as err, Storage("postgres", url).for_run():
        pass
    message = str(err.value)
    assert message.startswith(
        "database 'user=u password=*** dbname=db host=127.0.0.1 port=1': "
        "cannot create the run's schema: connection failed"
    )
    assert "SECRET" not in message and "\n" not in message


SECRET = "S3cretPassw0rdXYZ"


def _with_password(dsn: str, password: str) -> str:
    """The test cluster's URL (``postgresql://postgres@...``, trust authentication: any
    password is accepted) with `password` in it."""
    return dsn.replace("postgres@", f"postgres:{password}@", 1)


def _keywords(dsn: str, **extra: str) -> str:
    """The URL `dsn` as libpq ``key=value`` pairs, with `extra` parameters."""
    from psycopg import conninfo

    return conninfo.make_conninfo(dsn, **extra)


def test_a_database_password_is_written_nowhere(
    postgres_cluster: PostgresCluster, tmp_path: Path, capsys: Any
) -> None:
    """The reviewer's ``run --database postgresql://su:PASSWORD@... --out X.csv`` wrote the
    password into X.meta.json, a file meant to be committed. The spec is written down with the
    DSN's secrets masked (a key=value DSN, accepted too, alike); the specs read back from the
    sidecar name the same experiment, whatever the password."""
    from durable_sim.cli import main
    from durable_sim.experiments import load_specs
    from durable_sim.sweeps import spec_digest

    url = _with_password(postgres_cluster.dsn, SECRET)
    keywords = _keywords(postgres_cluster.dsn, password=SECRET, sslpassword="KeyPassZZZ")
    for n, database in enumerate([url, keywords]):
        out = tmp_path / f"x{n}.csv"
        args = ["run", "counter", "--model", "durable", "--runs", "1", "--database", database]
        assert main([*args, "--out", str(out), "-q"]) == 0
        written = out.read_bytes() + out.with_suffix(".meta.json").read_bytes()
        assert SECRET.encode() not in written and b"KeyPassZZZ" not in written
        assert SECRET not in "".join(capsys.readouterr())
        (spec,) = load_specs(out)
        assert spec.database == redact(database) and "password=***" in spec.database
        values = {"workload": "counter", "model": "durable", "runs": 1}
        given = ExperimentSpec.parse({**values, "database": database})
        other = ExperimentSpec.parse({**values, "database": database.replace(SECRET, "x")})
        assert SECRET not in repr(given)
        digests = {spec_digest(s, "code", "prices") for s in (given, other, spec)}
        assert len(digests) == 1


def test_storage_objects_show_their_dsn_without_its_password() -> None:
    url = f"postgresql://u:{SECRET}@127.0.0.1:1/db?sslpassword=KeyPassZZZ"
    shown = repr(Storage("postgres", url))
    assert shown == (
        "Storage(kind='postgres', root='user=u password=*** dbname=db host=127.0.0.1 port=1 "
        "sslpassword=***')"
    )


def test_a_run_schema_joins_the_options_of_a_url_or_of_key_value_pairs() -> None:
    from psycopg import conninfo

    from durable_sim.storage import in_schema

    for dsn in (
        "postgresql://h/db?options=-cwork_mem%3D64kB",
        "host=h dbname=db options='-cwork_mem=64kB'",
    ):
        params = conninfo.conninfo_to_dict(in_schema(dsn, "run_1"))
        assert params["options"] == "-cwork_mem=64kB -csearch_path=run_1"
        assert (params["host"], params["dbname"]) == ("h", "db")
    assert (
        conninfo.conninfo_to_dict(in_schema("host=h", "run_2"))["options"] == "-csearch_path=run_2"
    )


def test_a_run_on_a_key_value_dsn_keeps_its_state_on_that_server(postgres_dsn: str) -> None:
    """run and sweep refused libpq's key=value form, which the worker took: all take it now."""
    spec = ExperimentSpec.parse(
        {"workload": "counter", "model": "baseline", "runs": 2, "database": _keywords(postgres_dsn)}
    )
    rows = run_experiments([spec])
    assert list(rows["ok"]) == [True, True] and list(rows["store_ops"]) == [5, 5]


# -- the baseline's store failing during a run ---------------------------------------------------


def test_a_full_sqlite_store_is_named_as_unavailable_not_blamed_on_the_workload(
    monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """The reviewer's full tmpfs: ``WorkloadError: workload 'video' (built in) raised:
    OperationalError: database or disk is full``, exit 1. SQLite's own limit on a file's pages
    fills the store here as a full disk does: the store is named, exit 2 (as the journal)."""
    from durable_sim.baseline.store import SQLiteBackend
    from durable_sim.cli import main

    opened = SQLiteBackend.__init__

    def small(self: SQLiteBackend, path: Any, **kwargs: Any) -> None:
        opened(self, path, **kwargs)
        self._conn.execute("PRAGMA max_page_count=3")  # the table's pages, then full

    monkeypatch.setattr(SQLiteBackend, "__init__", small)
    args = ["run", "video", "--model", "baseline", "--runs", "1", "--chunks", "50"]
    assert main([*args, "--database", "sqlite", "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("durable-sim: StoreUnavailableError: cannot write the store '")
    assert err.endswith("store.sqlite': database or disk is full\n") and "Workload" not in err


def test_a_postgres_store_lost_during_a_run_is_named_without_its_password(
    scratch_cluster: PostgresCluster, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """The reviewer's frozen server: ``WorkloadError: workload 'counter' (built in) raised:
    OperationalError: no answer from the server within query_timeout_s=10 s``, exit 1. Here
    the server dies at the baseline's first store write: the store is named (password masked)
    as unavailable, exit 2, as the durable model names its journal."""
    from durable_sim.baseline.store.postgres import PostgresBackend
    from durable_sim.cli import main

    put = PostgresBackend.put

    def server_dies(self: PostgresBackend, *args: Any) -> None:
        scratch_cluster.kill()
        put(self, *args)

    monkeypatch.setattr(PostgresBackend, "put", server_dies)
    database = _with_password(scratch_cluster.dsn, SECRET)
    args = ["run", "counter", "--model", "baseline", "--runs", "1", "--database", database]
    assert main([*args, "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "durable-sim: StoreUnavailableError: cannot write the store at 'user=postgres "
        "password=*** dbname=postgres host=127.0.0.1 port="
    )
    assert err.endswith("(the outcome of a write in flight is unknown)\n") and SECRET not in err
