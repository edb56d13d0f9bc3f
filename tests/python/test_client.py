"""The optbench Python package against a real coordinator and real workers (conftest.py): submit
and watch, jobs() and query() DataFrames, the database reader agreeing with the coordinator to the
bit, the CLI's JSON, TLS with a token, and errors carrying the coordinator's message."""

import json
import math
import sqlite3
import subprocess

import numpy as np
import pandas.testing as pdt
import pytest

import optbench
from optbench import frames
from conftest import CLI, Service

# Two optimizers x two seeds on heavy-tailed data (15 classes in 4 frequency levels).
SWEEP = """
name: py_heavy_tail
dataset: {name: heavy_tail_uniform, m: 4}
model: {name: linear}
trainer: {steps: 20, eval_every: 5}
optimizer:
  - {name: gd, lr: 0.5}
  - {name: adam, lr: 0.01}
seed: [0, 1]
"""
# One job of another task's data and model: its attention diagnostics are example-weighted.
ATTENTION = {
    "name": "py_attention",
    "dataset": {"name": "noisy_patches"},
    "model": {"name": "attention2", "m_k": 4, "m_v": 4},
    "trainer": {"steps": 10, "eval_every": 5},
    "optimizer": {"name": "gd", "lr": 1.0},
}


@pytest.fixture(scope="session")
def client(service):
    with optbench.Client(service.address) as c:
        yield c


@pytest.fixture(scope="session")
def sweeps(client):
    heavy = client.submit(SWEEP)
    events = list(client.watch(heavy, timeout=120))
    attention = client.submit(ATTENTION)
    client.wait(attention, timeout=120)
    return {"heavy": heavy, "attention": attention, "events": events}


@pytest.fixture(scope="session")
def db(service, sweeps):
    with optbench.open_db(service.db) as d:
        yield d


def cli_json(service, target, *flags):
    out = subprocess.run([str(CLI), "query", target, f"--coordinator={service.address}",
                          "--format=json", *flags], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_health_and_status(client, sweeps):
    assert client.health() == "SERVING"
    assert client.health("optbench.v1.Coordinator") == "SERVING"
    status = client.status()
    assert status.state_counts["succeeded"] == 5
    assert sorted(status.workers["id"]) == ["w0", "w1"]
    assert list(status.recent_sweeps["name"]) == ["py_attention", "py_heavy_tail"]


def test_watch_follows_the_sweep_to_its_end(sweeps):
    events = sweeps["events"]
    assert all(list(e.columns[:4]) == ["id", "sweep_id", "index", "state"] for e in events)
    assert len(events[-1]) == 4
    assert (events[-1]["state"] == "succeeded").all(), events[-1]


def test_jobs_have_typed_hyperparameter_columns(client, sweeps):
    jobs = client.jobs(sweeps["heavy"])
    assert list(jobs["id"]) == [f"{sweeps['heavy']}-{i}" for i in range(4)]
    assert list(jobs["optimizer"]) == ["gd", "gd", "adam", "adam"]
    assert list(jobs["seed"]) == [0, 1, 0, 1]
    assert list(jobs["lr"]) == [0.5, 0.5, 0.01, 0.01]
    assert (jobs["state"] == "succeeded").all()
    assert (jobs["progress"] == 20).all() and (jobs["total_steps"] == 20).all()
    assert set(jobs["worker"]) <= {"w0", "w1"} and (jobs["attempt"] == 1).all()
    assert (jobs["error"] == "").all()
    dtypes = jobs.dtypes
    assert dtypes["lr"] == np.float64 and dtypes["seed"] == np.int64
    assert dtypes["dataset.m"] == np.int64 and dtypes["trainer.steps"] == np.int64
    assert dtypes["trainer.eval_every"] == np.int64 and dtypes["nesterov"] == "boolean"
    assert dtypes["optimizer"] == object and jobs["task"].eq("train").all()
    # adam's parameters are missing (not zero) for the gd jobs.
    assert jobs["beta1"].isna().tolist() == [True, True, False, False]
    assert (jobs["finished_at"] >= jobs["started_at"]).all()
    assert str(jobs["created_at"].dt.tz) == "UTC"
    # One id or several: a sweep and a job of another sweep.
    both = client.jobs([sweeps["heavy"], f"{sweeps['attention']}-0"])
    assert len(both) == 5 and both["model"].tolist()[-1] == "attention2"


def test_dry_run_returns_the_expanded_jobs(client):
    jobs = client.submit(SWEEP, dry_run=True)
    assert len(jobs) == 4 and (jobs["id"] == "").all()
    assert list(jobs["optimizer"]) == ["gd", "gd", "adam", "adam"]


@pytest.mark.parametrize("group_by,flag", [("frequency:3", "frequency:3"),
                                           ("class", "class"), ("none", "none")])
def test_query_equals_the_cli_json(service, client, sweeps, group_by, flag):
    frame = client.query(sweeps["heavy"], group_by=group_by, steps=(5, None))
    rows = cli_json(service, sweeps["heavy"], f"--group-by={flag}", "--steps=5:")
    assert len(frame) == len(rows) > 0
    group_column = frames.GROUP_COLUMN[optbench.request.parse_group_by(group_by)[0]]
    for (_, got), want in zip(frame.iterrows(), rows):
        assert (got["job_id"], got["step"], got["metric"], got["split"]) == \
            (want["job_id"], want["step"], want["metric"], want["split"])
        assert got["group_classes"] == want["group_classes"]
        assert got["group_train_examples"] == want["group_train_examples"]
        if group_column:
            assert got[group_column] == want[group_column]
        if want["value"] is None:
            assert math.isnan(got["value"])
        else:
            assert got["value"] == want["value"]  # JSON numbers print to round-trip exactly.
        assert got["optimizer"] == want["labels"]["optimizer"]
        assert got["lr"] == float(want["labels"]["lr"])
        assert got["seed"] == int(want["labels"]["seed"])


def test_query_over_several_sweeps_and_a_groupby_over_seeds(client, sweeps):
    frame = client.query([sweeps["heavy"], f"{sweeps['attention']}-0"], group_by="frequency:2")
    assert list(frame.columns) == ["job_id", "sweep_id", "optimizer", "lr", "seed", "metric",
                                   "split", "step", "group", "group_classes",
                                   "group_train_examples", "value"]
    # The attention job's lr is not one of its labels (it is alone in its sweep): it comes from
    # its spec, typed.
    assert frame.loc[frame.sweep_id == sweeps["attention"], "lr"].eq(1.0).all()
    assert frame.dtypes["lr"] == np.float64 and frame.dtypes["seed"] == np.int64
    heavy = frame[frame.sweep_id == sweeps["heavy"]]
    mean = heavy.groupby(["optimizer", "lr", "step", "group"])["value"].mean()
    assert len(mean) == 2 * 5 * 2  # optimizers x evaluations (0, 5, ..., 20) x groups
    one = heavy[(heavy.optimizer == "adam") & (heavy.step == 20) & (heavy.group == 1)]
    assert mean["adam", 0.01, 20, 1] == pytest.approx(one["value"].mean())
    # Each job once, even when named twice.
    again = client.query([sweeps["heavy"], f"{sweeps['heavy']}-0"], group_by="none")
    assert again.groupby("job_id").size().tolist() == [5, 5, 5, 5]


QUERIES = [  # (sweeps, arguments)
    (["heavy", "attention"], dict()),
    (["heavy", "attention"], dict(group_by="class", steps=(5, 15))),
    (["heavy", "attention"], dict(group_by="none")),
    (["heavy", "attention"], dict(metric="accuracy", group_by="frequency:4")),
    (["heavy", "attention"], dict(metric="p_mass", group_by="frequency")),  # over all targets
    (["heavy", "attention"], dict(metric="grad_norm")),                     # a scalar
    (["heavy"], dict(metric="head_weight_norm", group_by="frequency:2")),   # mean over classes
    (["attention"], dict(metric="diag.attn_11", group_by="frequency:2")),   # example-weighted
    (["attention"], dict(metric="diag.query_signal", split="test")),
]


@pytest.mark.parametrize("names,kwargs", QUERIES, ids=[f"{n}-{q}" for n, q in QUERIES])
def test_database_reader_answers_as_the_coordinator(client, db, sweeps, names, kwargs):
    ids = [sweeps[n] for n in names]
    got, want = db.query(ids, **kwargs), client.query(ids, **kwargs)
    assert len(want) > 0
    pdt.assert_frame_equal(got, want, check_exact=True)
    # The messages too: group members and every bit of every value.
    request, _ = optbench.request.query_request(
        kwargs.get("metric", ""), kwargs.get("split", "train"),
        kwargs.get("group_by", "frequency:10"), kwargs.get("steps"))
    for sweep in ids:
        request.sweep_id = sweep
        mine, theirs = db.query_messages(request), client.query_messages(request)
        assert len(mine.series) == len(theirs.series)
        for a, b in zip(mine.series, theirs.series):
            assert (a.metric, a.split, list(a.groups)) == (b.metric, b.split, list(b.groups))
            assert [(p.step, np.array(p.values).tobytes()) for p in a.points] == \
                [(p.step, np.array(p.values).tobytes()) for p in b.points]


def test_database_reader_lists_jobs_as_the_coordinator(client, db, sweeps):
    pdt.assert_frame_equal(db.jobs(), client.jobs())
    pdt.assert_frame_equal(db.jobs(f"{sweeps['heavy']}-2"), client.jobs(f"{sweeps['heavy']}-2"))


def test_settings_keys_match_the_coordinators_tasks(client):
    tasks = client.components("task")
    declared = {name: {p.split(".")[0] for p in group["param"].dropna()}
                for name, group in tasks.groupby("name")}
    assert declared == {task: {key} for task, key in frames.SETTINGS_KEYS.items()}
    optimizers = client.components("optimizer")
    adam = optimizers[optimizers.name == "adam"].set_index("param")
    assert adam.loc["beta1", "type"] == "double" and adam.loc["beta1", "max"] == 1.0


def test_errors_carry_the_coordinators_message(client, db, sweeps):
    with pytest.raises(optbench.NotFoundError) as e:
        client.query("s-00000000")
    assert e.value.code == "NOT_FOUND"
    assert "sweep s-00000000 not found" in e.value.message
    assert "job s-00000000 not found" in e.value.message
    with pytest.raises(optbench.NotFoundError, match="s-00000000"):
        db.query("s-00000000")
    with pytest.raises(optbench.InvalidArgumentError) as from_client:
        client.query(sweeps["heavy"], metric="nope")
    with pytest.raises(optbench.InvalidArgumentError) as from_db:
        db.query(sweeps["heavy"], metric="nope")
    assert from_client.value.message.startswith("metric: unknown metric 'nope'; its jobs declare")
    assert from_db.value.message == from_client.value.message
    with pytest.raises(optbench.InvalidArgumentError) as bad_sweep:
        client.submit(SWEEP.replace("lr: 0.01", "lr: 0.01, beta1: 1.5"))
    assert "beta1" in bad_sweep.value.message and "1.5" in bad_sweep.value.message
    with pytest.raises(optbench.InvalidArgumentError, match="'frequency:0'"):
        client.query(sweeps["heavy"], group_by="frequency:0")
    with pytest.raises(optbench.InvalidArgumentError, match="'tset'"):
        db.query(sweeps["heavy"], split="tset")


def test_open_db_refuses_what_is_not_an_optbench_database(tmp_path):
    with pytest.raises(optbench.NotFoundError, match="missing.db"):
        optbench.open_db(tmp_path / "missing.db")
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(optbench.FailedPreconditionError, match="not an optbench database"):
        optbench.open_db(other)


# Seeds that change the result (random init, mini-batches): two settings (lr) x three seeds.
# Submitted when first used, after the tests that count the session's sweeps.
SEEDS = """
name: py_seeds
dataset: {name: heavy_tail_uniform, m: 3}
model: {name: linear, init: uniform}
trainer: {steps: 20, eval_every: 10, batch_size: 8}
optimizer: {name: gd, lr: [0.1, 0.5]}
seed: [0, 1, 2]
"""
T975 = {1: 12.706204736174698, 2: 4.302652729911275}  # R's qt(0.975, df)


@pytest.fixture(scope="module")
def seed_sweep(client, sweeps):
    sweep = client.submit(SEEDS)
    client.wait(sweep, timeout=120)
    return sweep


def test_query_aggregates_over_seeds_as_pandas_recomputes_them(client, db, seed_sweep):
    per_job = client.query(seed_sweep, group_by="frequency:3")
    got = client.query(seed_sweep, group_by="frequency:3", aggregate="seed")
    assert list(got.columns) == ["optimizer", "lr", "metric", "split", "step", "group",
                                 "group_classes", "group_train_examples", "mean", "std", "n",
                                 "ci_low", "ci_high"]
    assert got.dtypes["lr"] == np.float64 and got.dtypes["n"] == np.int64
    keys = ["optimizer", "lr", "step", "group"]
    want = per_job.groupby(keys)["value"].agg(["mean", "std", "count"]).reset_index()  # ddof 1
    merged = got.merge(want, on=keys, suffixes=("", "_want"))
    assert len(merged) == len(got) == len(want) == 2 * 3 * 3  # settings x steps x groups
    assert (merged["n"] == merged["count"]).all() and (merged["n"] == 3).all()
    assert (merged["std_want"] > 0).any(), "the seeds should change the result"
    np.testing.assert_allclose(merged["mean"], merged["mean_want"], rtol=1e-12)
    np.testing.assert_allclose(merged["std"], merged["std_want"], rtol=1e-9, atol=1e-15)
    half = merged["std_want"] * merged["n"].map(lambda n: T975[n - 1]) / np.sqrt(merged["n"])
    np.testing.assert_allclose(merged["ci_low"], merged["mean_want"] - half, rtol=1e-9)
    np.testing.assert_allclose(merged["ci_high"], merged["mean_want"] + half, rtol=1e-9)
    # The database reader aggregates as the coordinator does.
    pdt.assert_frame_equal(db.query(seed_sweep, group_by="frequency:3", aggregate="seed"), got,
                           check_exact=False, rtol=1e-12)
    # One job: n = 1, no spread, no interval.
    alone = db.query(f"{seed_sweep}-0", group_by="none", aggregate="seed")
    assert (alone["n"] == 1).all() and alone["std"].isna().all() and alone["ci_low"].isna().all()
    pdt.assert_frame_equal(alone, client.query(f"{seed_sweep}-0", group_by="none",
                                               aggregate="seed"), check_exact=False, rtol=1e-12)
    assert optbench.aggregate.student_t975(2) == pytest.approx(T975[2], rel=1e-10)


def test_aggregate_refuses_what_it_does_not_know(client, db, seed_sweep):
    for reader in (client, db):
        with pytest.raises(optbench.InvalidArgumentError,
                           match="aggregate: 'foo' is not accepted; accepted: seed"):
            reader.query(seed_sweep, aggregate="foo")
        with pytest.raises(optbench.InvalidArgumentError, match="one sweep or job id"):
            reader.query([seed_sweep, f"{seed_sweep}-0"], aggregate="seed")
    # The coordinator itself refuses it too, with the message the database reader gives.
    raw = optbench._proto.coordinator.QueryMetricsRequest(sweep_id=seed_sweep, aggregate="foo")
    with pytest.raises(optbench.InvalidArgumentError) as from_client:
        client.query_messages(raw)
    with pytest.raises(optbench.InvalidArgumentError) as from_db:
        db.query_messages(raw)
    assert from_client.value.message == from_db.value.message
    assert "'foo'" in from_client.value.message and "seed" in from_client.value.message


@pytest.fixture(scope="module")
def secure_service(tmp_path_factory):
    d = tmp_path_factory.mktemp("secure")
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")

    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    openssl("req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=optbench-test-ca")
    for name in ("server", "client"):
        openssl("req", *key, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj",
                f"/CN={name}")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", f"{name}.pem")
    (d / "tokens").write_text("client-token-for-tests submit,read me\n")
    s = Service(d, coordinator_flags=[f"--tls_cert={d / 'server.pem'}",
                                      f"--tls_key={d / 'server.key'}",
                                      f"--tls_client_ca={d / 'ca.pem'}",
                                      f"--auth_tokens={d / 'tokens'}"]).start(workers=0)
    yield s
    s.stop()


def test_mutual_tls_with_a_token(secure_service):
    d = secure_service.dir
    tls = dict(tls_ca=d / "ca.pem", tls_cert=d / "client.pem", tls_key=d / "client.key")
    with optbench.Client(secure_service.address, token="client-token-for-tests", **tls) as c:
        assert c.health() == "SERVING"
        assert len(c.submit(SWEEP, dry_run=True)) == 4
        sweep = c.submit(SWEEP)
        queued = c.jobs(sweep)
        assert list(queued["state"]) == ["queued"] * 4
        # The coordinator sends the times a job does not have yet as the epoch.
        assert queued["started_at"].isna().all() and queued["created_at"].notna().all()
    with optbench.Client(secure_service.address, **tls) as c:
        with pytest.raises(optbench.UnauthenticatedError, match="Bearer"):
            c.status()
    with optbench.Client(secure_service.address, token="client-token-for-tests") as c:
        with pytest.raises(optbench.UnavailableError):
            c.health(timeout=2)
