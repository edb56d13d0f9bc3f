"""The optbench coordinator's API from Python (optbench.v1.Coordinator, grpc.health.v1), with
answers as pandas DataFrames. Errors are optbench.Error subclasses carrying the coordinator's
status code and message."""

import dataclasses
import json
import os
import pathlib

import grpc
import pandas as pd

from optbench import _proto, frames, request as requests
from optbench.errors import Error, InvalidArgumentError, NotFoundError, from_rpc

_DEFAULT_ADDRESS = "127.0.0.1:7070"
# Every evaluation of a job with many classes can exceed gRPC's default 4 MiB answer.
_CHANNEL_OPTIONS = [("grpc.max_receive_message_length", -1)]


def _pem(value, what):
    """A PEM given as bytes, or as the path of its file."""
    if value is None or isinstance(value, bytes):
        return value
    try:
        return pathlib.Path(value).read_bytes()
    except OSError as e:
        raise InvalidArgumentError(f"{what}: cannot read {value}: {e.strerror}") from None


@dataclasses.dataclass
class Status:
    """GetStatus: jobs per state ("queued" -> 3), the workers (id, name, slots,
    seconds_since_seen, lost), the recent sweeps (id, name, created_at, num_jobs and a column per
    state) and the coordinator's version."""
    state_counts: dict
    workers: pd.DataFrame
    recent_sweeps: pd.DataFrame
    version: str


class Client:
    """A connection to an optbench coordinator. Thread-safe (gRPC channels are); close() it, or
    use it as a context manager.

    address: HOST:PORT (default $OPTBENCH_COORDINATOR, else 127.0.0.1:7070). token: a bearer
    token (default $OPTBENCH_TOKEN, as for the CLI). tls_ca: the coordinator's CA
    (a PEM file's path, or its bytes) — enables TLS; tls_cert and tls_key: a client certificate
    for mutual TLS. timeout: seconds each unary call may take.
    """

    def __init__(self, address=None, token=None, tls_ca=None, tls_cert=None, tls_key=None,
                 timeout=60.0):
        self.address = address or os.environ.get("OPTBENCH_COORDINATOR", _DEFAULT_ADDRESS)
        if token is None:
            token = os.environ.get("OPTBENCH_TOKEN", "")
        self._metadata = [("authorization", f"Bearer {token.strip()}")] if token else []
        if (tls_cert is None) != (tls_key is None):
            raise InvalidArgumentError("tls_cert and tls_key: give both or neither")
        if tls_ca is None and tls_cert is not None:
            raise InvalidArgumentError("tls_cert: needs tls_ca (the coordinator's CA)")
        if tls_ca is not None:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=_pem(tls_ca, "tls_ca"),
                private_key=_pem(tls_key, "tls_key"),
                certificate_chain=_pem(tls_cert, "tls_cert"))
            self._channel = grpc.secure_channel(self.address, credentials, _CHANNEL_OPTIONS)
        else:
            self._channel = grpc.insecure_channel(self.address, _CHANNEL_OPTIONS)
        self._stub = _proto.coordinator_grpc.CoordinatorStub(self._channel)
        self._health = self._channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=_proto.health.HealthCheckRequest.SerializeToString,
            response_deserializer=_proto.health.HealthCheckResponse.FromString)
        self.timeout = timeout

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"optbench.Client({self.address!r})"

    def _call(self, method, request, timeout=None):
        try:
            return method(request, timeout=timeout or self.timeout, metadata=self._metadata)
        except grpc.RpcError as e:
            raise from_rpc(e) from None

    # ---- submitting and following sweeps ----------------------------------------------------

    def submit(self, sweep, dry_run=False, name=None, max_attempts=0):
        """Submits a sweep: a sweep file's path (str or pathlib.Path), its YAML or JSON text, or a
        dict of the same structure. Returns the new sweep's id; with dry_run, the expanded and
        validated jobs (as jobs() shows them, without ids), creating nothing. name: the sweep's
        name (default: the file's `name:`, else the file's stem). InvalidArgumentError with the
        coordinator's message ("sweep.yaml:7: optimizer[1].beta1[1]: ...") for a bad sweep."""
        if isinstance(sweep, dict):
            text, source = json.dumps(sweep), "sweep"
        elif isinstance(sweep, os.PathLike) or (
                isinstance(sweep, str) and "\n" not in sweep and os.path.isfile(sweep)):
            path = pathlib.Path(sweep)
            try:
                text = path.read_text()
            except OSError as e:
                raise InvalidArgumentError(f"sweep: cannot read {path}: {e.strerror}") from None
            source = str(path)
        elif isinstance(sweep, str):
            if "\n" not in sweep and sweep.endswith((".yaml", ".yml", ".json")):
                raise NotFoundError(f"sweep: no such file {sweep}")
            text, source = sweep, "sweep"
        else:
            raise InvalidArgumentError(
                f"sweep: {type(sweep).__name__} is not a path, sweep text or dict")
        response = self._call(self._stub.SubmitSweep, _proto.coordinator.SubmitSweepRequest(
            name=name or "", sweep_text=text, source_name=source, dry_run=dry_run,
            max_attempts=max_attempts))
        if dry_run:
            return frames.jobs_frame(list(response.jobs))
        return response.sweep.id

    def watch(self, target, timeout=None):
        """Yields the watched jobs (a jobs() DataFrame) whenever something changes, until every
        job of the sweep or job `target` is over. timeout: seconds for the whole watch (None =
        no limit)."""
        field = self._resolve(target)
        stream = self._stub.Watch(_proto.coordinator.WatchRequest(**{field: target}),
                                  timeout=timeout, metadata=self._metadata)
        try:
            for event in stream:
                yield frames.jobs_frame(list(event.jobs))
        except grpc.RpcError as e:
            raise from_rpc(e) from None
        finally:
            stream.cancel()

    def wait(self, target, timeout=None):
        """Blocks until every job of the sweep or job `target` is over; returns them as jobs()
        does. DeadlineExceeded (an Error) after `timeout` seconds."""
        last = None
        for last in self.watch(target, timeout=timeout):
            pass
        return last if last is not None else self.jobs(target)

    def cancel(self, target):
        """Cancels the sweep or job `target`: queued jobs at once, running ones at their next
        step."""
        field = self._resolve(target)
        self._call(self._stub.Cancel, _proto.coordinator.CancelRequest(**{field: target}))

    # ---- reading ----------------------------------------------------------------------------

    def _resolve(self, target):
        """"sweep_id" or "job_id", by asking the coordinator as `optbench` does; NotFoundError
        with the coordinator's answers when it is neither."""
        if not isinstance(target, str) or not target:
            raise InvalidArgumentError(f"id: {target!r} is not a sweep or job id")
        messages = []
        for field, method, message in (
                ("sweep_id", self._stub.GetSweep, _proto.coordinator.GetSweepRequest),
                ("job_id", self._stub.GetJob, _proto.coordinator.GetJobRequest)):
            try:
                self._call(method, message(**{field: target}))
                return field
            except NotFoundError as e:
                messages.append(e.message)
        raise NotFoundError(f"no sweep or job with id '{target}' ({'; '.join(messages)})")

    def jobs(self, ids=None):
        """The jobs of each sweep or job id in `ids` (one id or a list; None = every job): one row
        per job with id, sweep_id, index, state, attempt, max_attempts, worker, progress,
        total_steps, error, its hyperparameters as typed columns (task, a column per slot with
        the component's name, "lr", "dataset.m", "trainer.steps", ..., seed) and created_at,
        started_at, finished_at (UTC)."""
        if ids is None:
            return frames.jobs_frame(self._list_jobs(""))
        out, seen = [], set()
        for i in requests.id_list(ids):
            if self._resolve(i) == "sweep_id":
                found = self._list_jobs(i)
            else:
                found = [self._call(self._stub.GetJob, _proto.coordinator.GetJobRequest(job_id=i))]
            out += [j for j in found if j.id not in seen]
            seen.update(j.id for j in found)
        return frames.jobs_frame(out)

    def _list_jobs(self, sweep_id):
        request = _proto.coordinator.ListJobsRequest(sweep_id=sweep_id, page_size=1000)
        jobs = []
        while True:
            page = self._call(self._stub.ListJobs, request)
            jobs += list(page.jobs)
            if not page.next_page_token:
                return jobs
            request.page_token = page.next_page_token

    def query(self, ids, metric="", split="train", group_by="frequency:10", steps=None,
              aggregate=None):
        """Metric series of the jobs that `ids` names (a sweep or job id, or a list of them; each
        job once), in long format: one row per (job, step, group) with job_id, sweep_id, the
        jobs' labels as typed columns (optimizer first, seed last), metric, split, step, "group"
        (frequency groups: 1 = the most frequent classes) or "class", group_classes,
        group_train_examples and value. See frames.query_frame.

        metric: a metric the jobs declare (`optbench list metrics`; default: their objective's
        loss). split: "train" or "test". group_by: "frequency:N" (N groups holding about the
        same number of training examples), "frequency" (10), "class" or "none". steps: (a, b)
        for steps a..b, either may be None.

        aggregate="seed": over seeds instead, one row per (setting, step, group), a setting being
        the jobs whose labels are equal but for seed: the setting's labels, metric, split, step,
        the group columns, then mean, std (n - 1; NaN for n < 2), n (the jobs with the step and
        a finite value there), ci_low and ci_high (95 % Student-t); each step over the jobs that
        have it. One sweep or job id only (labels tell jobs apart within their sweep)."""
        return frames.query(self, ids, metric, split, group_by, steps, aggregate)

    def query_messages(self, request):
        """The coordinator's QueryMetricsResponse for an optbench.v1.QueryMetricsRequest."""
        return self._call(self._stub.QueryMetrics, request)

    def components(self, kind=""):
        """Registered tasks and components with their hyperparameters (frames.components_frame):
        kind "dataset", "model", "optimizer", "objective", "task", or "" for all."""
        return frames.components_frame(self._call(
            self._stub.ListComponents, _proto.coordinator.ListComponentsRequest(kind=kind)))

    def status(self):
        """The coordinator's Status: jobs per state, workers, recent sweeps, version."""
        s = self._call(self._stub.GetStatus, _proto.coordinator.GetStatusRequest())
        workers = pd.DataFrame(
            [(w.id, w.name, w.slots, w.seconds_since_seen, w.lost) for w in s.workers],
            columns=["id", "name", "slots", "seconds_since_seen", "lost"])
        states = [frames.state_name(v) for v in _proto.types.JobState.values() if v]
        sweeps = pd.DataFrame(
            [(w.id, w.name,
              pd.Timestamp(w.created_at.seconds * 10**9 + w.created_at.nanos, tz="UTC"),
              w.num_jobs, *(w.state_counts.get(st, 0) for st in states))
             for w in s.recent_sweeps],
            columns=["id", "name", "created_at", "num_jobs", *states])
        return Status(state_counts=dict(s.state_counts), workers=workers, recent_sweeps=sweeps,
                      version=s.version)

    def health(self, service="", timeout=5.0):
        """The grpc.health.v1 answer for the whole server (or one service,
        "optbench.v1.Coordinator"): "SERVING", "NOT_SERVING", ... UnavailableError when nothing
        answers within `timeout` seconds."""
        response = self._call(self._health,
                              _proto.health.HealthCheckRequest(service=service), timeout=timeout)
        return _proto.health.HealthCheckResponse.ServingStatus.Name(response.status)


__all__ = ["Client", "Status", "Error"]
