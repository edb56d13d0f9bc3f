"""What `query` and `jobs` take, checked and turned into optbench.v1 requests; shared by the client
and the database reader so that both accept and refuse the same arguments."""

import numbers

from optbench import _proto, aggregate as aggregates
from optbench.errors import InvalidArgumentError

_MAX_GROUPS = 1000


def id_list(ids, what="ids"):
    """One id or an iterable of ids as a non-empty list of strings."""
    if isinstance(ids, str):
        ids = [ids]
    try:
        out = list(ids)
    except TypeError:
        raise InvalidArgumentError(
            f"{what}: {ids!r} is not a sweep or job id or a list of them") from None
    if not out or not all(isinstance(i, str) and i for i in out):
        raise InvalidArgumentError(
            f"{what}: {ids!r} is not a sweep or job id or a non-empty list of them")
    return out


def parse_group_by(text):
    """("frequency", G) for "frequency:G" or "frequency" (G = 10), ("class", 0) or ("none", 0),
    as `optbench query --group-by` takes them."""
    if text in ("class", "none"):
        return text, 0
    if text == "frequency":
        return "frequency", 10
    if isinstance(text, str) and text.startswith("frequency:"):
        n = text[len("frequency:"):]
        if n.isdigit() and 1 <= int(n) <= _MAX_GROUPS:
            return "frequency", int(n)
        raise InvalidArgumentError(
            f"group_by: '{text}': N in frequency:N must be 1..{_MAX_GROUPS}")
    raise InvalidArgumentError(
        f"group_by: {text!r} is not one of frequency:N, frequency, class, none")


def query_request(metric, split, group_by, steps, aggregate=None):
    """A QueryMetricsRequest without its target, and the group_by kind ("frequency", "class" or
    "none"). `steps` is None or (a, b), either of which may be None; 0 <= a <= b. `aggregate`:
    None or "seed"."""
    kind, groups = parse_group_by(group_by)
    if (problem := aggregates.check(aggregate)) is not None:
        raise InvalidArgumentError(problem)
    request = _proto.coordinator.QueryMetricsRequest(
        metric=metric or "",
        group_by={"frequency": _proto.coordinator.GROUP_BY_FREQUENCY,
                  "class": _proto.coordinator.GROUP_BY_CLASS,
                  "none": _proto.coordinator.GROUP_BY_NONE}[kind],
        groups=groups)
    if split not in ("train", "test"):
        raise InvalidArgumentError(f"split: {split!r} is not train or test")
    request.split = _proto.types.SPLIT_TEST if split == "test" else _proto.types.SPLIT_TRAIN
    if steps is not None:
        try:
            lo, hi = steps
        except (TypeError, ValueError):
            raise InvalidArgumentError(f"steps: {steps!r} is not a pair (a, b)") from None
        ok = all(v is None or (isinstance(v, numbers.Integral) and not isinstance(v, bool))
                 for v in (lo, hi))
        lo_value = lo or 0
        if not ok or lo_value < 0 or (hi is not None and hi < lo_value):
            raise InvalidArgumentError(
                f"steps: {steps!r} is not (a, b) with 0 <= a <= b (either may be None)")
        request.min_step = int(lo_value)
        if hi is not None:
            request.max_step = int(hi)
    request.aggregate = aggregate or ""
    return request, kind


def collect_series(ids, request, resolve, fetch):
    """The series of every job the ids name, in order, each job once. `resolve(id)` says whether
    the id is a sweep ("sweep_id") or a job ("job_id"); `fetch(request)` answers one request."""
    series, seen = [], set()
    for i in id_list(ids):
        one = _proto.coordinator.QueryMetricsRequest()
        one.CopyFrom(request)
        setattr(one, resolve(i), i)
        for s in fetch(one).series:
            if s.job.id not in seen:
                seen.add(s.job.id)
                series.append(s)
    return series


def collect_aggregates(ids, request, resolve, fetch):
    """The AggregateSeries (request.aggregate is "seed") and the Series of the jobs of one sweep
    or job id, as `fetch(request)` answers. Several ids are refused: labels tell jobs apart only
    within their sweep, so jobs of two sweeps with equal labels need not be one setting."""
    names = id_list(ids)
    if len(names) != 1:
        raise InvalidArgumentError(
            f"aggregate: one sweep or job id at a time, not {len(names)} (labels tell jobs apart "
            "only within their sweep)")
    one = _proto.coordinator.QueryMetricsRequest()
    one.CopyFrom(request)
    setattr(one, resolve(names[0]), names[0])
    response = fetch(one)
    return list(response.aggregates), list(response.series)
