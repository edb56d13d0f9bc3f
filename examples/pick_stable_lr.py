#!/usr/bin/env python3
"""Applies the step-size rule of examples/heavy_tail_linear.yaml to a finished tuning sweep.

usage: pick_stable_lr.py DB SWEEP_ID   (needs `optbench` on PATH; reads the database read-only)
"""
import csv, io, subprocess, sys, collections, math
db, sweep = sys.argv[1], sys.argv[2]
def q(*args):
    out = subprocess.run(["optbench", "query", sweep, "--db", db, "--format", "csv", *args],
                         capture_output=True, text=True, check=True).stdout
    return list(csv.DictReader(io.StringIO(out)))
overall = collections.defaultdict(list)
labels = {}
for r in q("--group-by", "none"):
    overall[r["job_id"]].append((int(r["step"]), float(r["value"]) if r["value"] else math.nan))
    labels[r["job_id"]] = (r["optimizer"], r.get("momentum", ""), r["lr"])
groups = collections.defaultdict(dict)
for r in q("--group-by", "frequency:10", "--steps", "300:300"):
    groups[r["job_id"]][int(r["group"])] = float(r["value"]) if r["value"] else math.nan
best = {}
for job, series in overall.items():
    series.sort()
    vals = [v for _, v in series]
    stable = all(b <= a * (1 + 1e-6) for a, b in zip(vals, vals[1:])) and all(math.isfinite(v) for v in vals)
    opt = labels[job][:2]
    g = groups[job]
    print(f"{labels[job]} final={vals[-1]:.4f} stable={stable} g1={g.get(1, math.nan):.3f} g10={g.get(10, math.nan):.3f}")
    if stable and (opt not in best or vals[-1] < best[opt][0]):
        best[opt] = (vals[-1], labels[job][2], g.get(1), g.get(10))
print("\nchosen:")
for opt, (final, lr, g1, g10) in sorted(best.items()):
    print(opt, "lr", lr, "final", round(final, 4), "g1", round(g1, 3), "g10", round(g10, 3))
