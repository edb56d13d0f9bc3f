"""Aggregation over seeds, as report/aggregate.cc computes it, for the database reader (which
answers QueryMetrics requests itself).

A setting is the jobs whose labels are equal but for "seed". Per setting, step and group: the
mean, the sample standard deviation (divisor n - 1), n and the 95 % Student-t interval
mean -/+ t(0.975, n - 1) * std / sqrt(n), over the jobs that have the step and a finite value
there (NaN, a class without targets, is left out of n). n = 0: mean NaN; n < 2: std and interval
NaN.
"""

import math

from optbench import _proto

ACCEPTED = "seed"


def check(aggregate):
    """None for "" / None (no aggregation) or "seed"; the coordinator's message otherwise."""
    if aggregate in (None, "", "seed"):
        return None
    shown = f"'{aggregate}'" if isinstance(aggregate, str) else repr(aggregate)
    return f"aggregate: {shown} is not accepted; accepted: {ACCEPTED} (or empty for none)"


def _beta_continued_fraction(a, b, x):
    # Numerical Recipes, 3rd ed., 6.4 betacf (modified Lentz), as report/aggregate.cc.
    tiny, eps = 1e-300, 1e-15
    qab, qap, qam = a + b, a + 1, a - 1
    c, d = 1.0, 1 - qab * x / qap
    d = 1 / (tiny if abs(d) < tiny else d)
    h = d
    for m in range(1, 10001):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)),
                   -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1 + aa * d
            d = 1 / (tiny if abs(d) < tiny else d)
            c = 1 + aa / c
            c = tiny if abs(c) < tiny else c
            h *= d * c
        if abs(d * c - 1) < eps:
            break
    return h


def _regularized_beta(a, b, x):
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) +
                     b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _beta_continued_fraction(a, b, x) / a
    return 1 - front * _beta_continued_fraction(b, a, 1 - x) / b


def student_t975(df):
    """The 0.975 quantile of Student's t with df >= 1 degrees of freedom (bisection on
    P(|T| > t) = I_{df/(df+t^2)}(df/2, 1/2) = 0.05, Abramowitz & Stegun 26.7.1)."""
    nu = float(df)

    def tail(t):
        return _regularized_beta(nu / 2, 0.5, nu / (nu + t * t))

    lo, hi = 0.0, 1.0
    while tail(hi) > 0.05:
        hi *= 2
    for _ in range(100):
        if hi - lo <= 1e-12 * hi:
            break
        mid = (lo + hi) / 2
        if tail(mid) > 0.05:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _summarize(values, t975):
    out = _proto.coordinator.AggregateValue(n=len(values))
    n = len(values)
    mean = sum(values) / n if n else math.nan
    out.mean = mean
    if n < 2:
        out.std = out.ci_low = out.ci_high = math.nan
        return out
    std = math.sqrt(sum((v - mean) * (v - mean) for v in values) / (n - 1))
    if n - 1 not in t975:
        t975[n - 1] = student_t975(n - 1)
    half = t975[n - 1] * std / math.sqrt(n)
    out.std, out.ci_low, out.ci_high = std, mean - half, mean + half
    return out


def over_seeds(series_list):
    """AggregateSeries messages for optbench.v1.Series messages, one per setting in the order of
    each setting's first job."""
    settings = []  # (labels without seed, [series])
    for s in series_list:
        labels = {k: v for k, v in s.job.labels.items() if k != "seed"}
        for key, members in settings:
            if key == labels:
                members.append(s)
                break
        else:
            settings.append((labels, [s]))
    out, t975 = [], {}
    for labels, members in settings:
        a = _proto.coordinator.AggregateSeries(labels=labels)
        values = {}  # step -> [[finite values] per group]
        num_groups = 0
        for s in members:
            a.job_ids.append(s.job.id)
            a.split = s.split
            if not a.metric:
                a.metric = s.metric
            if not a.groups:
                a.groups.extend(s.groups)
            for p in s.points:
                at = values.setdefault(p.step, [])
                at.extend([] for _ in range(len(p.values) - len(at)))
                num_groups = max(num_groups, len(at))
                for g, v in enumerate(p.values):
                    if math.isfinite(v):
                        at[g].append(v)
        for step in sorted(values):
            groups = values[step]
            groups.extend([] for _ in range(num_groups - len(groups)))
            a.points.add(step=step, values=[_summarize(v, t975) for v in groups])
        out.append(a)
    return out
