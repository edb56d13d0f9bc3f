"""Reading an optbench database file directly, read-only (works while a coordinator writes to it:
SQLite's WAL). `open_db(path)` answers `jobs()` and `query()` with the same DataFrames as
`Client`: it rebuilds the coordinator's answers (optbench.v1 messages) from the file — the job
rows as server/wire.cc JobToProto does, the metric series as server/query.cc QueryMetrics does,
to the bit — and hands them to the same DataFrame code.

The storage layout read here is storage/sqlite_schema.cc's (schema version 5 and later): times in
unix microseconds (NULL = never), per-class vectors as BLOBs of packed little-endian float64
(metrics) or int64 (class counts), a job's labels as a flat JSON object, its spec and its run's
metric declarations as serialized optbench.v1.JobSpec / MetricDeclarations.
"""

import json
import math
import os
import sqlite3
import struct
import urllib.parse

import numpy as np

from optbench import _proto, aggregate as aggregates, frames, request as requests
from optbench.errors import (DataLossError, FailedPreconditionError, InvalidArgumentError,
                             NotFoundError, error)

APPLICATION_ID = 0x4F504231  # storage/sqlite_schema.h kApplicationId
MIN_SCHEMA_VERSION = 5       # kept models; older files are migrated by opening them writable

_Decl = _proto.types.MetricDeclaration
_STATES = range(_proto.types.JOB_STATE_QUEUED, _proto.types.JOB_STATE_CANCELLED + 1)
_SELECT_JOB = (
    "SELECT j.id, s.id, j.idx, j.spec, j.summary_json, j.state, j.attempt, j.max_attempts, "
    "j.worker_id, j.progress_step, j.total_steps, j.cancel_requested, j.error, j.created_at, "
    "j.started_at, j.finished_at, j.num_classes, j.train_class_counts, j.test_class_counts, "
    "j.metrics, k.size_bytes, k.checksum FROM jobs j JOIN sweeps s ON s.seq = j.sweep_seq "
    "LEFT JOIN kept_models k ON k.job_id = j.id AND k.complete = 1 ")


def open_db(path):
    """Opens the optbench database file `path` read-only. NotFoundError if there is no such file;
    FailedPreconditionError if it is not an optbench database or its schema is older than this
    package reads (start a coordinator on it once to migrate it)."""
    return Database(path)


def _unpack(blob, fmt, what):
    if len(blob) % 8:
        raise DataLossError(f"{what} has {len(blob)} bytes, not a multiple of 8")
    return list(struct.unpack(f"<{len(blob) // 8}{fmt}", blob))


def _set_time(micros, out):
    # As server/wire.cc SetTime: the message is present even for a time the job does not have.
    out.SetInParent()
    if micros is not None:
        out.seconds, out.nanos = divmod(micros, 1_000_000)
        out.nanos *= 1000


class _JobRow:
    """A job as stored: its optbench.v1.Job and what the query needs beside it."""

    def __init__(self, row):
        (job_id, sweep_id, index, spec, summary, state, attempt, max_attempts, worker,
         progress, total, cancel, err, created, started, finished, num_classes, train_counts,
         test_counts, metrics, kept_size, kept_checksum) = row
        if state not in _STATES:
            raise DataLossError(f"job {job_id} has invalid stored state {state}")
        job = _proto.types.Job(id=job_id, sweep_id=sweep_id, index=index, state=state,
                               attempt=attempt, max_attempts=max_attempts, worker_id=worker,
                               progress_step=progress, total_steps=total,
                               cancel_requested=bool(cancel), error=err)
        try:
            job.spec.ParseFromString(spec)
        except Exception:  # JobToProto leaves a spec that does not parse empty.
            job.spec.Clear()
        for field, micros in (("created_at", created), ("started_at", started),
                              ("finished_at", finished)):
            _set_time(micros, getattr(job, field))
        job.labels.update(_labels(summary))
        self.declarations = None  # None: the run declared none (not run yet).
        if metrics:
            declared = _proto.types.MetricDeclarations()
            try:
                declared.ParseFromString(metrics)
            except Exception:
                raise DataLossError(
                    f"the stored metric declarations of job {job_id} do not parse") from None
            job.metrics.extend(declared.metrics)
            self.declarations = list(declared.metrics)
        if kept_size is not None:
            job.kept_model.size_bytes = kept_size
            job.kept_model.checksum = kept_checksum % (1 << 64)
        self.job = job
        self.num_classes = num_classes
        self.train_counts = _unpack(train_counts, "q", f"train class counts of job {job_id}")
        self.test_counts = _unpack(test_counts, "q", f"test class counts of job {job_id}")


def _labels(summary_json):
    # As proto::LabelsFromJson: a flat object of strings, anything else reads as no labels.
    try:
        labels = json.loads(summary_json)
    except ValueError:
        return {}
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        return {}
    return labels


def _check_declaration(job_id, m):
    # proto::FromProto(MetricDeclaration): what the coordinator refuses as DataLoss.
    shapes = (_Decl.SHAPE_SCALAR, _Decl.SHAPE_PER_CLASS, _Decl.SHAPE_PER_ITEM)
    splits = (_Decl.SPLITS_TRAIN, _Decl.SPLITS_EACH)
    if (m.shape not in shapes or m.splits not in splits
            or m.aggregate == _Decl.AGGREGATE_UNSPECIFIED
            or m.aggregate not in _Decl.Aggregate.values()):
        raise DataLossError(f"job {job_id}: metrics: '{m.name}' has an unspecified or unknown "
                            "shape, splits or aggregate")


def _default_metric(declarations):
    # spec::DefaultMetric: the primary metric, else the first with a query name.
    for m in declarations:
        if m.primary and m.query:
            return m
    return next((m for m in declarations if m.query), None)


def frequency_groups(train_counts, num_groups):
    """spec/frequency_groups.h FrequencyGroups: classes sorted by decreasing count (ties by id),
    cut where the cumulative count first reaches g/G of the total; group 0 the most frequent."""
    order = sorted(range(len(train_counts)), key=lambda k: -train_counts[k])
    total = sum(train_counts)
    groups = [[] for _ in range(num_groups)]
    if total == 0:
        groups[-1] = order
        return groups
    group, cumulative = 0, 0
    for k in order:
        groups[group].append(k)
        cumulative += train_counts[k]
        while group + 1 < num_groups and cumulative * num_groups >= (group + 1) * total:
            group += 1
    return groups


def _make_groups(group_by, num_groups, metric, train_counts):
    """server/query.cc MakeGroups: (members, labels), labels only for per-item metrics."""
    coordinator = _proto.coordinator
    if metric.shape == _Decl.SHAPE_PER_ITEM:
        n = len(metric.items)
        if group_by == coordinator.GROUP_BY_NONE:
            return [list(range(n))], [""]
        return [[i] for i in range(n)], list(metric.items)
    c = len(train_counts)
    if group_by == coordinator.GROUP_BY_CLASS:
        return [[k] for k in range(c)], []
    if group_by == coordinator.GROUP_BY_NONE:
        return [list(range(c))], []
    return frequency_groups(train_counts, num_groups), []


class _GroupPlan:
    """server/query.cc GroupPlan: a group's value at every step at once, with the additions in
    the coordinator's order (np.add.accumulate adds left to right, from 0 as its loop does)."""

    def __init__(self, metric, members, counts, split_total):
        self.aggregate = metric.aggregate
        self.members = np.array(members, dtype=np.int64)
        self.weights = np.array([float(counts[k]) if k < len(counts) else 0.0 for k in members])
        den = 0.0
        for w in self.weights:
            den += 1.0 if self.aggregate in (_Decl.AGGREGATE_CLASS_MEAN,
                                             _Decl.AGGREGATE_ITEM_MEAN) else w
        if self.aggregate == _Decl.AGGREGATE_PER_SPLIT_EXAMPLE:
            den = float(split_total)
        self.den = den

    def values(self, matrix):
        """`matrix`: steps x width, the stored vectors padded with zeros (a member past a short
        vector adds 0, as in the coordinator)."""
        terms = matrix[:, self.members]
        if self.aggregate == _Decl.AGGREGATE_EXAMPLE_WEIGHTED:
            # A class without targets in the split has no mean: it weighs nothing.
            positive = self.weights > 0
            terms = np.where(positive, terms * self.weights, 0.0)
        sums = np.add.accumulate(
            np.concatenate([np.zeros((terms.shape[0], 1)), terms], axis=1), axis=1)[:, -1]
        if self.den > 0:
            return sums / self.den
        return np.full(terms.shape[0], math.nan)


class Database:
    """A read-only optbench database file. Not thread-safe (one sqlite3 connection); close() it,
    or use it as a context manager."""

    def __init__(self, path):
        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise NotFoundError(f"database file {self.path} does not exist")
        uri = "file:" + urllib.parse.quote(os.path.abspath(self.path)) + "?mode=ro"
        try:
            self._conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            application_id = self._conn.execute("PRAGMA application_id").fetchone()[0]
        except sqlite3.DatabaseError as e:
            raise FailedPreconditionError(f"{self.path} is not a valid sqlite database: {e}") \
                from None
        if application_id != APPLICATION_ID:
            self._conn.close()
            raise FailedPreconditionError(
                f"{self.path} is not an optbench database (application_id {application_id:#x}, "
                f"expected {APPLICATION_ID:#x})")
        if version < MIN_SCHEMA_VERSION:
            self._conn.close()
            raise FailedPreconditionError(
                f"database {self.path} has schema version {version}, this package reads "
                f"version {MIN_SCHEMA_VERSION} and later; open it once writable (e.g. start the "
                "coordinator) to migrate it")

    def close(self):
        self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- what the coordinator's store answers -------------------------------------------------

    def _read(self, sql, args=()):
        try:
            return self._conn.execute(sql, args).fetchall()
        except sqlite3.Error as e:
            raise error("UNAVAILABLE" if isinstance(e, sqlite3.OperationalError) else "INTERNAL",
                        f"{self.path}: {e}") from None

    def _is_sweep(self, sweep_id):
        return bool(self._read("SELECT 1 FROM sweeps WHERE id = ?", (sweep_id,)))

    def _job_rows(self, sweep_id=None, job_id=None):
        if job_id is not None:
            rows = self._read(_SELECT_JOB + "WHERE j.id = ?", (job_id,))
            if not rows:
                raise NotFoundError(f"job {job_id} not found")
        elif sweep_id is not None:
            rows = self._read(_SELECT_JOB + "WHERE s.id = ? ORDER BY j.idx", (sweep_id,))
        else:
            rows = self._read(_SELECT_JOB + "ORDER BY j.sweep_seq, j.idx")
        return [_JobRow(r) for r in rows]

    def _resolve(self, target):
        """"sweep_id" or "job_id", as the client resolves an id; NotFoundError naming it."""
        if self._is_sweep(target):
            return "sweep_id"
        if self._read("SELECT 1 FROM jobs WHERE id = ?", (target,)):
            return "job_id"
        raise NotFoundError(f"no sweep or job with id '{target}' in {self.path}")

    # ---- the API shared with Client ---------------------------------------------------------

    def jobs(self, ids=None):
        """The jobs of each sweep or job id in `ids` (one id or a list; None = every job), as
        frames.jobs_frame: one row per job, its hyperparameters as typed columns."""
        if ids is None:
            return frames.jobs_frame([r.job for r in self._job_rows()])
        out, seen = [], set()
        for i in requests.id_list(ids):
            target = self._resolve(i)
            rows = self._job_rows(**{target: i})
            out += [r.job for r in rows if r.job.id not in seen]
            seen.update(r.job.id for r in rows)
        return frames.jobs_frame(out)

    def query(self, ids, metric="", split="train", group_by="frequency:10", steps=None,
              aggregate=None):
        """The metric series of the jobs the ids name, long format (frames.query_frame), or with
        aggregate="seed" over seeds (frames.aggregate_frame); the same arguments, errors and
        DataFrame as Client.query."""
        return frames.query(self, ids, metric, split, group_by, steps, aggregate)

    def query_messages(self, request):
        """server/query.cc QueryMetrics on this file: the QueryMetricsResponse the coordinator
        would give for `request` (an optbench.v1.QueryMetricsRequest), with its errors."""
        c = _proto.coordinator
        test = request.split == _proto.types.SPLIT_TEST
        group_by = request.group_by or c.GROUP_BY_FREQUENCY
        num_groups = request.groups or 10
        if not 1 <= num_groups <= 1000:
            raise InvalidArgumentError(
                f"groups: {request.groups} is out of range; allowed [1, 1000]")
        if (problem := aggregates.check(request.aggregate)) is not None:
            raise InvalidArgumentError(problem)
        max_step = request.max_step if request.HasField("max_step") else (1 << 63) - 1
        target = request.WhichOneof("target")
        if target is None:
            raise InvalidArgumentError("target: set job_id or sweep_id")
        if target == "sweep_id" and not self._is_sweep(request.sweep_id):
            raise NotFoundError(f"sweep {request.sweep_id} not found")
        jobs = self._job_rows(**{target: getattr(request, target)})

        response = c.QueryMetricsResponse()
        declared, split_problem, answered = set(), "", False
        train_only, splits = set(), set()  # As server/query.cc names them in its error.
        for row in jobs:
            job = row.job
            series = response.series.add()
            series.job.CopyFrom(job)
            series.split = _proto.types.SPLIT_TEST if test else _proto.types.SPLIT_TRAIN
            if row.declarations is None:
                if row.num_classes > 0:
                    raise FailedPreconditionError(
                        f"job {job.id} has metrics but no stored declarations (a worker older "
                        "than declared metrics ran it); query it through the coordinator, which "
                        "knows its components' declarations")
                # Not run yet: no series, and (without the catalog) nothing to check the metric
                # against.
                answered = True
                continue
            for m in row.declarations:
                _check_declaration(job.id, m)
                if m.query:
                    declared.add(m.query)
                    if m.splits == _Decl.SPLITS_TRAIN:
                        train_only.add(m.query)
            if row.num_classes > 0:
                splits.add("train")
                if row.test_counts:
                    splits.add("test")
            if request.metric:
                metric = next((m for m in row.declarations if m.query == request.metric), None)
            else:
                metric = _default_metric(row.declarations)
            if metric is None:
                continue
            series.metric = metric.query
            if test and metric.splits == _Decl.SPLITS_TRAIN:
                split_problem = f"metric '{metric.query}' is recorded for the train split only"
                continue
            counts = row.test_counts if test else row.train_counts
            if test and row.num_classes > 0 and not counts:
                split_problem = f"job {job.id} has no test split"
                continue
            answered = True
            per_class = metric.shape == _Decl.SHAPE_PER_CLASS
            if row.num_classes == 0 or (per_class and not counts):
                continue  # Not started yet.
            self._fill_series(series, row, metric, counts, group_by, num_groups,
                              request.min_step, max_step)
        if not answered and split_problem:
            raise InvalidArgumentError(split_problem)
        if not answered and jobs:
            who = "the job" if target == "job_id" else "its jobs"
            message = (f"metric: unknown metric '{request.metric}'; {who} declare "
                       f"{', '.join(sorted(declared)) if declared else 'none'}")
            if train_only:
                message += f" (train split only: {', '.join(sorted(train_only))})"
            message += "; splits: " + (
                ", ".join(sorted(splits, reverse=True)) if splits
                else "train, and test where the data set has one (not run yet)")
            raise InvalidArgumentError(message)
        if request.aggregate == "seed":
            response.aggregates.extend(aggregates.over_seeds(response.series))
        return response

    def _fill_series(self, series, row, metric, counts, group_by, num_groups, min_step,
                     max_step):
        test = series.split == _proto.types.SPLIT_TEST
        stored = self._read(
            "SELECT step, vals FROM metrics WHERE job_id = ? AND step BETWEEN ? AND ? AND "
            "split = ? AND metric = ? ORDER BY step",
            (row.job.id, min_step, max_step, "test" if test else "train", metric.name))
        steps, vectors = [], []
        for step, blob in stored:
            steps.append(step)
            vectors.append(_unpack(blob, "d", f"metric {'test' if test else 'train'}/"
                                   f"{metric.name} at step {step} of job {row.job.id}"))
        scalar = metric.shape == _Decl.SHAPE_SCALAR
        members, labels = _make_groups(
            _proto.coordinator.GROUP_BY_NONE if scalar else group_by, num_groups, metric,
            row.train_counts)
        for g, group_members in enumerate(members):
            group = series.groups.add(index=g)
            if labels:
                group.label = labels[g]
                continue
            group.num_classes = len(group_members)
            group.train_examples = sum(row.train_counts[k] for k in group_members)
            if not scalar and group_by != _proto.coordinator.GROUP_BY_NONE:
                group.classes.extend(group_members)
        if scalar:
            for step, values in zip(steps, vectors):
                series.points.add(step=step, values=[values[0] if values else math.nan])
            return
        split_total = sum(counts)
        plans = [_GroupPlan(metric, m, counts, split_total) for m in members]
        width = max([len(v) for v in vectors] + [max(m, default=-1) + 1 for m in members])
        matrix = np.zeros((len(vectors), width))
        for i, v in enumerate(vectors):
            matrix[i, :len(v)] = v
        columns = np.stack([p.values(matrix) for p in plans], axis=1) if plans else \
            np.zeros((len(steps), 0))
        for step, values in zip(steps, columns):
            series.points.add(step=step, values=values.tolist())
