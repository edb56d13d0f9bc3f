#!/usr/bin/env python3
"""Paper 5's README table from a database that ran examples/paper5_train.yaml and
examples/paper5_signround.yaml: per model, bits and method, the mean and per-block reconstruction
MSE, test accuracy (or loss) overall and of the most frequent and the rarest frequency group,
and agreement with the full-precision model, next to full precision. Reads through the
`optbench` command-line client (read-only on the file); standard library only.

  python3 examples/paper5_table.py paper5.db SWEEP_ID [--optbench build/client/optbench] [--groups 4]

SWEEP_ID is the quantize sweep's id, as `optbench run examples/paper5_signround.yaml` prints it;
--groups sets the frequency groups (the first is the most frequent classes, the last the rarest).
"""
import argparse
import csv
import io
import subprocess
from collections import defaultdict


def query(optbench, db, sweep, metric, split, group_by):
    out = subprocess.run(
        [optbench, "query", sweep, "--db", db, "--metric", metric, "--split", split,
         "--group-by", group_by, "--format", "csv"],
        check=True, capture_output=True, text=True).stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    last = defaultdict(int)
    for r in rows:
        last[r["job_id"]] = max(last[r["job_id"]], int(r["step"]))
    return [r for r in rows if int(r["step"]) == last[r["job_id"]]]


def by_job(rows):
    """job_id -> (labels, [value per group in group order])."""
    out = {}
    for r in rows:
        labels, values = out.setdefault(r["job_id"], (r, []))
        values.append(float(r["value"]) if r["value"] else float("nan"))
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("db")
    p.add_argument("sweep")
    p.add_argument("--optbench", default="build/client/optbench")
    p.add_argument("--groups", type=int, default=4)
    p.add_argument("--group-size", type=int, default=16,
                   help="the sweep's quantize.group_size when it has one only (not a label)")
    a = p.parse_args()
    sweep = a.sweep
    groups = f"frequency:{a.groups}"
    q = lambda m, s="train", g="none": by_job(query(a.optbench, a.db, sweep, m, s, g))
    mse, rtn = q("block_mse", g="class"), q("block_mse_rtn", g="class")
    agree = q("agreement", "test")
    tables = defaultdict(list)
    for metric in ("accuracy", "loss"):
        try:
            acc, acc_g = q(metric, "test"), q(metric, "test", groups)
            fp, fp_g = q("fp_" + metric, "test"), q("fp_" + metric, "test", groups)
        except subprocess.CalledProcessError:
            continue
        for job, (r, v) in acc.items():
            model = r.get("source.model", "?")
            if (model == "mlp") != (metric == "accuracy"):
                continue
            method = r["quantize.method"]
            if method == "optimizer":
                method = r.get("optimizer", "optimizer")
            blocks = mse[job][1]
            group = int(r.get("quantize.group_size") or a.group_size)
            tables[(model, metric)].append((
                (int(r["quantize.bits"]), -group), f"W{r['quantize.bits']} g{group if group > 0 else ' row'}", method, sum(blocks) / len(blocks),
                " / ".join(f"{x:.2g}" for x in blocks),
                " / ".join(f"{x:.2g}" for x in rtn[job][1]),
                v[0], acc_g[job][1][0], acc_g[job][1][-1], agree[job][1][0],
                fp[job][1][0], fp_g[job][1][0], fp_g[job][1][-1]))
    order = {"rtn": 0, "sign_sgd": 1}
    for (model, metric), rows in sorted(tables.items()):
        rows.sort(key=lambda t: (t[0], order.get(t[2], 2)))
        fp = rows[0][10:]
        print(f"\n{model}: test {metric}, full precision {fp[0]:.3f} "
              f"(frequent group {fp[1]:.3f}, rarest group {fp[2]:.3f})\n")
        print(f"| bits, group | method | block MSE (mean) | per block | RTN per block "
              f"| test {metric} | frequent group | rarest group | agreement |")
        print("|---|---|---|---|---|---|---|---|---|")
        for t in rows:
            print(f"| {t[1]} | {t[2]} | {t[3]:.3g} | {t[4]} | {t[5]} | {t[6]:.3f} | {t[7]:.3f} "
                  f"| {t[8]:.3f} | {t[9]:.3f} |")


if __name__ == "__main__":
    main()
