#!/usr/bin/env python3
"""Paper 5's README table from a database that ran examples/paper5_train.yaml and then
examples/paper5_signround.yaml. Per model, bits, group size and method: the mean block
reconstruction MSE (round to nearest on the same inputs in brackets), test accuracy (MLP) or loss
(transformer) overall and of the most frequent and the rarest frequency group, and agreement with
the full-precision model; then the figures the README quotes. Reads through the `optbench`
command-line client (read-only on the file); standard library only.

  python3 examples/paper5_table.py paper5.db SWEEP_ID [--optbench build/client/optbench]
      [--groups 4] [--blocks]

SWEEP_ID is the quantize sweep's id, as `optbench run examples/paper5_signround.yaml` prints it;
--groups sets the frequency groups (the first holds the most frequent classes, the last the
rarest); --blocks adds every block's MSE.
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
    # job_id -> (its labels, [value per group in group order]) at the job's last step.
    jobs = {}
    for r in rows:
        if int(r["step"]) == last[r["job_id"]]:
            jobs.setdefault(r["job_id"], (r, []))[1].append(
                float(r["value"]) if r["value"] else float("nan"))
    return jobs


def mean(xs):
    return sum(xs) / len(xs)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("db")
    p.add_argument("sweep")
    p.add_argument("--optbench", default="build/client/optbench")
    p.add_argument("--groups", type=int, default=4)
    p.add_argument("--group-size", type=int, default=16,
                   help="the sweep's quantize.group_size when it has one only (not a label)")
    p.add_argument("--blocks", action="store_true", help="also print every block's MSE")
    a = p.parse_args()

    def q(metric, split="train", group_by="none"):
        return query(a.optbench, a.db, a.sweep, metric, split, group_by)

    mse, rtn = q("block_mse", group_by="class"), q("block_mse_rtn", group_by="class")
    agree = q("agreement", "test")
    rows = defaultdict(list)  # model -> rows
    fp_of = {}
    for metric in ("accuracy", "loss"):
        test, test_g = q(metric, "test"), q(metric, "test", f"frequency:{a.groups}")
        fp, fp_g = q("fp_" + metric, "test"), q("fp_" + metric, "test", f"frequency:{a.groups}")
        for job, (r, v) in test.items():
            model = r.get("source.model", "?")
            if (model == "mlp") != (metric == "accuracy"):
                continue
            method = r["quantize.method"]
            if method == "optimizer":
                method = r.get("optimizer", "optimizer")
            group = int(r.get("quantize.group_size") or a.group_size)
            fp_of[model] = (metric, fp[job][1][0], fp_g[job][1][0], fp_g[job][1][-1])
            rows[model].append(dict(
                bits=int(r["quantize.bits"]), group=group, method=method,
                mse=mse[job][1], rtn=rtn[job][1], test=v[0], frequent=test_g[job][1][0],
                rarest=test_g[job][1][-1], agree=agree[job][1][0]))
    order = {"rtn": 0, "sign_sgd": 1}
    print("| model (full precision) | W, group | method | block MSE | test | frequent | rarest "
          "| agreement |" + (" per block | RTN per block |" if a.blocks else ""))
    print("|---|---|---|---|---|---|---|---|" + ("---|---|" if a.blocks else ""))
    for model in sorted(rows):
        metric, fp, fp_frequent, fp_rarest = fp_of[model]
        rs = sorted(rows[model], key=lambda t: (t["bits"], -t["group"], order.get(t["method"], 2)))
        first = f"{model} ({metric} {fp:.3f}; {fp_frequent:.3f} / {fp_rarest:.3f})"
        last_setting = None
        for t in rs:
            setting = f"W{t['bits']} " + (f"g{t['group']}" if t["group"] > 0 else "row")
            shown = "" if setting == last_setting else setting
            last_setting = setting
            m = f"{mean(t['mse']):.2g}"
            if t["method"] != "rtn":
                m += f" ({mean(t['rtn']):.2g})"
            line = (f"| {first} | {shown} | {t['method']} | {m} | {t['test']:.3f} "
                    f"| {t['frequent']:.3f} | {t['rarest']:.3f} | {t['agree']:.3f} |")
            if a.blocks:
                line += (" " + " / ".join(f"{x:.2g}" for x in t["mse"]) + " | " +
                         " / ".join(f"{x:.2g}" for x in t["rtn"]) + " |")
            print(line)
            first = ""

    # The figures the README quotes.
    print()
    for model in sorted(rows):
        metric, fp = fp_of[model][0], fp_of[model][1]
        trained = [t for t in rows[model] if t["method"] != "rtn"]
        blocks = [(m, r) for t in trained for m, r in zip(t["mse"], t["rtn"])]
        below = sum(m < r for m, r in blocks)
        ratios = [r / m for m, r in blocks]
        print(f"{model}: trained rounding below round to nearest at {below} of {len(blocks)} "
              f"blocks, by {min(ratios):.1f}x to {max(ratios):.1f}x")
        by = {(t["bits"], t["group"], t["method"]): t for t in rows[model]}
        for (bits, group, method), t in sorted(by.items()):
            # At W3 and W4 the gaps are in the third digit: their shares mean nothing.
            if method == "rtn" or bits != 2 or (bits, group, "rtn") not in by:
                continue
            base = by[(bits, group, "rtn")]["test"]
            if abs(fp - base) > 1e-12:
                share = (t["test"] - base) / (fp - base)
                print(f"  W{bits} group {group if group > 0 else 'row'} {method}: "
                      f"{100 * share:.0f} % of round to nearest's {metric} gap recovered")
        for t in rows[model]:
            if t["method"] == "sign_sgd":
                a_t = by.get((t["bits"], t["group"], "adam"))
                if a_t:
                    print(f"  W{t['bits']} group {t['group'] if t['group'] > 0 else 'row'}: "
                          f"sign_sgd / adam block MSE "
                          f"{mean(t['mse']) / mean(a_t['mse']):.2f}")


if __name__ == "__main__":
    main()
