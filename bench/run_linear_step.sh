#!/usr/bin/env bash
# The engine's full-batch softmax-regression step vs PyTorch's on paper 1's D1 data (m = 7, 8, 9),
# side by side in one run, at 1 and at 2 threads each, as ratios (the machines here are shared
# and noisy: only the ratios mean anything), with each side's sgemm peak in the same run. Needs a
# build with -DOPTBENCH_BUILD_BENCH=ON (e.g. `cmake --preset native`) and the peer's packages
# (bench/README.md).
#   bench/run_linear_step.sh [BUILD_DIR] [ROUNDS]      (default build-native, 3)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-native}
rounds=${2:-3}
# OPENBLAS_CORETYPE would pin OpenBLAS (ours and PyTorch's) to AVX2 kernels; use the full CPU.
unset OPENBLAS_CORETYPE
source bench/lib.sh
bin=$(bench_bin "$build" linear_step_bench)
bench_backend "$bin"
declare -A ours peer
for ((round = 1; round <= rounds; round++)); do
  # Names: BM_FullBatchAdamStep/m:8/threads:1/min_time:2.000/real_time, BM_Sgemm/threads:1/...
  while IFS=, read -r name ms gflops; do
    case $name in
      BM_FullBatchAdamStep*) m=${name#*m:}; m=${m%%/*}; t=${name#*threads:}; t=${t%%/*}
        ours[$m/$t]+="$ms " ;;
      BM_Sgemm*) t=${name#*threads:}; t=${t%%/*}; ours[sgemm/$t]+="$gflops " ;;
    esac
  done < <(bench_csv "$bin")
  for t in 1 2; do
    while read -r line; do
      case $line in
        m=*) m=${line#m=}; m=${m%% *}; peer[$m/$t]+="${line##*=} " ;;
        sgemm_gflops=*) peer[sgemm/$t]+="${line#*=} " ;;
        "# peer:"*) ((round == 1)) && echo "$line (threads $t)" ;;
      esac
    done < <(/usr/bin/python3 bench/peer/torch_linear_step.py "$t" 2 7 8 9)
  done
done

printf "%-3s %-8s %12s %12s %8s %8s\n" m threads optbench_ms pytorch_ms ratio %peak
for t in 1 2; do
  for m in 7 8 9; do
    o=$(echo "${ours[$m/$t]:-}" | median); p=$(echo "${peer[$m/$t]:-}" | median)
    peak=$(echo "${ours[sgemm/$t]:-}" | median)
    [ -n "$o" ] && [ -n "$p" ] && [ -n "$peak" ] || { printf "%-3s %-8s %12s\n" "$m" "$t" "(skipped)"; continue; }
    n=$((m * (1 << m))); d=$(((m + 1) * (1 << m))); c=$(((1 << m) - 1))
    printf "%-3s %-8s %12.2f %12.2f %8.2f %7.0f%%\n" "$m" "$t" "$o" "$p" "$(echo "$o / $p" | bc -l)" \
      "$(echo "400 * $n * $d * $c / ($o * 1000000) / $peak" | bc -l)"
  done
  echo "sgemm 2048^3, $t thread(s): optbench $(echo "${ours[sgemm/$t]:-}" | median) GFLOP/s, PyTorch $(echo "${peer[sgemm/$t]:-}" | median) GFLOP/s"
done
echo "(ratio = optbench time / PyTorch time per step, median of $rounds alternating rounds; < 1 is faster;"
echo " %peak = the step's two GEMMs (4 n d c flops) as a share of optbench's same-run sgemm peak)"
