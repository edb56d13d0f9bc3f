#!/usr/bin/env bash
# The metric path end to end against a real optbench-coordinator process (loopback gRPC, SQLite in
# a temp dir): per-class ingest through the worker's Reporter, QueryMetrics latency
# (frequency-grouped and per class) on stored jobs of 5,000 and 50,000 classes x 1,000
# evaluations, and job claims per second with 32 concurrent claimers (issue 12's targets in the
# last column). Builds nothing; needs a build with -DOPTBENCH_BUILD_BENCH=ON.
#   bench/run_metric_path.sh [BUILD_DIR] [metric_path_bench flags, e.g. --big_classes=20000]
#                                                             (default build-native)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-native}
shift || true
source bench/lib.sh
bin=$(bench_bin "$build" metric_path_bench)
coordinator="$build/server/optbench-coordinator"
[ -x "$coordinator" ] || { echo "no $coordinator: build optbench-coordinator" >&2; exit 2; }
"$bin" --coordinator="$coordinator" "$@"
