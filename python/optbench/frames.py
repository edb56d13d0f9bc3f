"""DataFrames from optbench.v1 messages: jobs, metric series in long format, component
declarations. The client and the database reader both answer with messages and turn them into
DataFrames here, so the two give identical frames for the same data.

Hyperparameters are named as job labels name them (sweep/sweep_file.h): the optimizer's
parameters bare ("lr", "beta1"), other components' as "<slot>.<param>" ("dataset.m"), the task's
settings as "<settings key>.<setting>" ("trainer.steps"), components by their slot ("optimizer":
"adam"), plus "task" and "seed". Values keep their declared types: a double parameter is a float
column even when every value is whole, an int list is a tuple.
"""

import numpy as np
import pandas as pd

from optbench import _proto, request as requests
from optbench.errors import InvalidArgumentError

# The slot whose parameters go bare in labels (every task's TaskSpec::labelled_slot today).
LABELLED_SLOT = "optimizer"
# Each task's settings key (TaskDeclaration.settings_key), for a job whose labels do not show it;
# tests/python checks it against the coordinator's declarations.
SETTINGS_KEYS = {"train": "trainer", "convex_relu": "convex", "quantize": "quantize"}
SOURCE_KEY = "source"
_COMPONENT_FIELDS = ("dataset", "model", "optimizer", "aux_optimizer")

JOB_COLUMNS = ["id", "sweep_id", "index", "state", "attempt", "max_attempts", "worker",
               "progress", "total_steps", "error"]
TIME_COLUMNS = ["created_at", "started_at", "finished_at"]


def state_name(state):
    """"succeeded" for JOB_STATE_SUCCEEDED."""
    return _proto.types.JobState.Name(state).removeprefix("JOB_STATE_").lower()


def param_value(value):
    """A ParamValue as Python: float, int, bool, str, a tuple of ints, or None when unset."""
    kind = value.WhichOneof("kind")
    if kind is None:
        return None
    if kind == "int_list":
        return tuple(value.int_list.values)
    return getattr(value, kind)


def plain_scalar(text):
    """A label's text typed as sweep files type a plain scalar (sweep::TypePlainScalar): bool,
    int, float or else the text; for labels that no field of the spec holds ("source.lr")."""
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def components(spec):
    """The job's components by slot: the fixed fields, then the `components` map by slot name."""
    out = {slot: getattr(spec, slot) for slot in _COMPONENT_FIELDS if spec.HasField(slot)}
    for slot in sorted(spec.components):
        out[slot] = spec.components[slot]
    return out


def settings(spec):
    """The task's settings by name: the `settings` map; for a spec from before it, the set fields
    of TrainerSpec."""
    if spec.settings:
        return {k: param_value(spec.settings[k]) for k in sorted(spec.settings)}
    return {f.name: v for f, v in spec.trainer.ListFields()}


def settings_key(job, spec_settings, slots):
    """The prefix of the job's settings: shown by a label "<key>.<setting>", else the task's
    known key, else "settings"."""
    for label in job.labels:
        prefix, _, name = label.partition(".")
        if name in spec_settings and prefix not in slots and prefix != SOURCE_KEY:
            return prefix
    return SETTINGS_KEYS.get(job.spec.task or "train", "settings")


def job_fields(job):
    """Every hyperparameter of the job as {label key: typed value}, in the order task, components
    (each with its parameters), settings, seed."""
    spec = job.spec
    slots = components(spec)
    spec_settings = settings(spec)
    reserved = {"seed", "task", SOURCE_KEY, *slots}
    fields = {"task": spec.task or "train"}
    for slot, component in slots.items():
        fields[slot] = component.name
        for name in sorted(component.params):
            bare = slot == LABELLED_SLOT and name not in reserved
            fields[name if bare else f"{slot}.{name}"] = param_value(component.params[name])
    key = settings_key(job, spec_settings, slots)
    for name, value in spec_settings.items():
        fields[f"{key}.{name}"] = value
    fields["seed"] = spec.seed
    return fields


def label_keys(jobs):
    """Label keys of `jobs` as `optbench query --format csv` orders them: "optimizer" first,
    "seed" last, the rest sorted."""
    keys = set()
    for job in jobs:
        keys.update(job.labels)
    out = ["optimizer"] if "optimizer" in keys else []
    out += sorted(keys - {"optimizer", "seed"})
    return out + (["seed"] if "seed" in keys else [])


def typed_frame(columns):
    """A DataFrame from {name: list of Python values (None = missing)}, each column typed by its
    values: int64 (Int64 with missing values), float64, bool (boolean with missing values), or
    object for strings and tuples."""
    data = {}
    for name, values in columns.items():
        present = [v for v in values if v is not None]
        missing = len(present) < len(values)
        if present and all(isinstance(v, bool) for v in present):
            dtype = "boolean" if missing else "bool"
        elif present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
            dtype = "Int64" if missing else "int64"
        elif present and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                             for v in present):
            dtype = "float64"
        else:
            dtype = object
        data[name] = pd.Series(values, dtype=dtype)
    return pd.DataFrame(data)


def _timestamp(job, field):
    # The coordinator sends a time it does not have (a job not started) as the epoch: unset.
    t = getattr(job, field)
    if not job.HasField(field) or (t.seconds == 0 and t.nanos == 0):
        return None
    return t.seconds * 1_000_000_000 + t.nanos


def jobs_frame(jobs):
    """One row per job: JOB_COLUMNS, then every hyperparameter (job_fields; a column for each key
    any job has, in order of first appearance), then TIME_COLUMNS (UTC)."""
    fields = [job_fields(job) for job in jobs]
    keys = list(dict.fromkeys(k for f in fields for k in f))
    columns = {
        "id": [j.id for j in jobs],
        "sweep_id": [j.sweep_id for j in jobs],
        "index": [j.index for j in jobs],
        "state": [state_name(j.state) for j in jobs],
        "attempt": [j.attempt for j in jobs],
        "max_attempts": [j.max_attempts for j in jobs],
        "worker": [j.worker_id for j in jobs],
        "progress": [j.progress_step for j in jobs],
        "total_steps": [j.total_steps for j in jobs],
        "error": [j.error for j in jobs],
    }
    for key in keys:
        if key in columns:
            raise InvalidArgumentError(f"hyperparameter '{key}' clashes with a job column")
        columns[key] = [f.get(key) for f in fields]
    frame = typed_frame(columns)
    for field in TIME_COLUMNS:
        frame[field] = pd.to_datetime(pd.Series([_timestamp(j, field) for j in jobs],
                                                dtype="Int64"), unit="ns", utc=True)
    return frame


# The column naming the group, for each kind of group_by (request.parse_group_by).
GROUP_COLUMN = {"frequency": "group", "class": "class", "none": None}


def query_frame(series_list, group_by):
    """Long format, one row per (job, step, group): job_id, sweep_id, each label key of the jobs
    (typed; a job without that label takes the value of its own field of that name, if it has
    one), metric, split, step, then for group_by "frequency" a "group" column (1 = the most
    frequent classes, as in `optbench query`'s table, CSV and JSON) or for "class" a "class" column
    (the class id), "item" for per-item metrics (the item's name), group_classes and
    group_train_examples; last, value (NaN for a class without targets in the split).

    `series_list` holds optbench.v1.Series messages; `group_by` is "frequency", "class" or
    "none".
    """
    jobs = [s.job for s in series_list]
    keys = label_keys(jobs)
    per_job = {"job_id": [], "sweep_id": []}
    per_job.update({k: [] for k in keys})
    for job in jobs:
        per_job["job_id"].append(job.id)
        per_job["sweep_id"].append(job.sweep_id)
        fields = job_fields(job)
        for k in keys:
            if k in fields:
                per_job[k].append(fields[k])
            elif k in job.labels:
                per_job[k].append(plain_scalar(job.labels[k]))
            else:
                per_job[k].append(None)
    job_table = typed_frame(per_job)

    group_column = GROUP_COLUMN[group_by]
    items = group_column is not None and any(
        g.label for s in series_list for g in s.groups)
    rows_of_job, metric, split, step, index, label, classes, examples, value = (
        [] for _ in range(9))
    for position, s in enumerate(series_list):
        counts = [len(p.values) for p in s.points]
        n = sum(counts)
        rows_of_job.append(np.full(n, position, dtype=np.int64))
        metric += [s.metric] * n
        split += ["test" if s.split == _proto.types.SPLIT_TEST else "train"] * n
        step.append(np.repeat(np.array([p.step for p in s.points], dtype=np.int64), counts))
        g = np.concatenate([np.arange(c, dtype=np.int64) for c in counts]) if n else \
            np.zeros(0, dtype=np.int64)
        index.append(g)
        groups = list(s.groups)
        label += [groups[i].label if i < len(groups) else "" for i in g]
        classes.append(np.array([groups[i].num_classes if i < len(groups) else 0 for i in g],
                                dtype=np.int64))
        examples.append(np.array([groups[i].train_examples if i < len(groups) else 0 for i in g],
                                 dtype=np.int64))
        value.append(np.fromiter((v for p in s.points for v in p.values), dtype=np.float64,
                                 count=n))

    def cat(parts, dtype):
        return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)

    frame = job_table.take(cat(rows_of_job, np.int64)).reset_index(drop=True)
    frame["metric"] = pd.Series(metric, dtype=object)
    frame["split"] = pd.Series(split, dtype=object)
    frame["step"] = cat(step, np.int64)
    if group_column is not None:
        # Frequency groups count from 1 (the most frequent), as the CLI's every output does; a
        # per-class series' groups are its classes in id order, so the position is the id.
        frame[group_column] = cat(index, np.int64) + (1 if group_column == "group" else 0)
        if items:
            frame["item"] = pd.Series(label, dtype=object)
    frame["group_classes"] = cat(classes, np.int64)
    frame["group_train_examples"] = cat(examples, np.int64)
    frame["value"] = cat(value, np.float64)
    return frame


def aggregate_frame(aggregates, series_list, group_by):
    """Long format, one row per (setting, step, group): each label key of the settings but seed
    (typed as the setting's first job has it), metric, split, step, the group columns as
    query_frame has them, group_classes, group_train_examples, then mean, std, n, ci_low,
    ci_high (optbench.aggregate says how they are computed; NaN where undefined).

    `aggregates` holds optbench.v1.AggregateSeries messages, `series_list` the Series of their
    jobs (for the labels' types); `group_by` is "frequency", "class" or "none"."""
    jobs = {s.job.id: s.job for s in series_list}
    keys = [k for k in label_keys([_Labelled(a.labels) for a in aggregates]) if k != "seed"]
    columns = {k: [] for k in keys}
    group_column = GROUP_COLUMN[group_by]
    items = group_column is not None and any(g.label for a in aggregates for g in a.groups)
    rows = {name: [] for name in ("metric", "split", "step", "group", "item", "group_classes",
                                  "group_train_examples", "mean", "std", "n", "ci_low",
                                  "ci_high")}
    for a in aggregates:
        first = jobs.get(a.job_ids[0]) if a.job_ids else None
        fields = job_fields(first) if first is not None else {}
        typed = {k: fields[k] if k in fields else plain_scalar(a.labels[k])
                 for k in keys if k in a.labels}
        groups = list(a.groups)
        for p in a.points:
            for g, v in enumerate(p.values):
                group = groups[g] if g < len(groups) else None
                for k in keys:
                    columns[k].append(typed.get(k))
                rows["metric"].append(a.metric)
                rows["split"].append("test" if a.split == _proto.types.SPLIT_TEST else "train")
                rows["step"].append(p.step)
                # As query_frame numbers them: frequency groups from 1, classes by their id.
                number = g + 1
                if group_column == "class":
                    number = group.classes[0] if group is not None and len(group.classes) == 1 \
                        else g
                rows["group"].append(number)
                rows["item"].append(group.label if group is not None else "")
                rows["group_classes"].append(group.num_classes if group is not None else 0)
                rows["group_train_examples"].append(
                    group.train_examples if group is not None else 0)
                for name in ("mean", "std", "n", "ci_low", "ci_high"):
                    rows[name].append(getattr(v, name))
    frame = typed_frame(columns) if keys else pd.DataFrame(index=range(len(rows["step"])))
    frame["metric"] = pd.Series(rows["metric"], dtype=object)
    frame["split"] = pd.Series(rows["split"], dtype=object)
    frame["step"] = np.array(rows["step"], dtype=np.int64)
    if group_column is not None:
        frame[group_column] = np.array(rows["group"], dtype=np.int64)
        if items:
            frame["item"] = pd.Series(rows["item"], dtype=object)
    frame["group_classes"] = np.array(rows["group_classes"], dtype=np.int64)
    frame["group_train_examples"] = np.array(rows["group_train_examples"], dtype=np.int64)
    for name in ("mean", "std", "n", "ci_low", "ci_high"):
        frame[name] = np.array(rows[name], dtype=np.int64 if name == "n" else np.float64)
    return frame


class _Labelled:
    """A stand-in with only `labels`, for label_keys over settings."""

    def __init__(self, labels):
        self.labels = labels


def components_frame(declarations):
    """One row per (component or task, parameter or setting) of a ListComponentsResponse: kind,
    name, param (None for one without any; a task's settings as sweep files and labels name
    them, "trainer.steps"), type, default (typed), min, max, min_exclusive,
    max_exclusive, choices (a tuple), used_when ("<param>=<value>" or ""), doc (the parameter's),
    component_doc."""
    rows = []

    def add(kind, name, doc, params, prefix=""):
        for p in params or [None]:
            rows.append({
                "kind": kind, "name": name,
                "param": prefix + p.name if p else None,
                "type": p.type if p else None,
                "default": param_value(p.default_value) if p else None,
                "min": p.min if p and p.HasField("min") else None,
                "max": p.max if p and p.HasField("max") else None,
                "min_exclusive": p.min_exclusive if p else False,
                "max_exclusive": p.max_exclusive if p else False,
                "choices": tuple(p.choices) if p else (),
                "used_when": f"{p.used_when_param}={p.used_when_value}"
                             if p and p.used_when_param else "",
                "doc": p.doc if p else "",
                "component_doc": doc,
            })

    for c in declarations.components:
        add(c.kind, c.name, c.doc, list(c.params))
    for t in declarations.tasks:
        add("task", t.name, t.doc, list(t.settings), f"{t.settings_key}.")
    columns = list(rows[0]) if rows else ["kind", "name", "param"]
    frame = pd.DataFrame(rows, columns=columns)
    # Defaults of different types share the column: keep them as given.
    frame["default"] = pd.Series([r["default"] for r in rows], dtype=object)
    return frame


def query(source, ids, metric, split, group_by, steps, aggregate):
    """Client.query and open_db(...).query alike: `source` resolves ids (`_resolve`) and answers
    QueryMetricsRequests (`query_messages`), from a coordinator or a database file."""
    request, kind = requests.query_request(metric, split, group_by, steps, aggregate)
    if aggregate:
        settings, series = requests.collect_aggregates(ids, request, source._resolve,
                                                       source.query_messages)
        return aggregate_frame(settings, series, kind)
    series = requests.collect_series(ids, request, source._resolve, source.query_messages)
    return query_frame(series, kind)
