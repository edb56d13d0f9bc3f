# Helpers for the bench/run_*.sh scripts (sourced).

# bench_bin BUILD_DIR NAME: the path of a benchmark binary; exits naming how to build it if absent.
bench_bin() {
  local bin="$1/bench/$2"
  [ -x "$bin" ] || { echo "no $bin: configure with -DOPTBENCH_BUILD_BENCH=ON and build it" >&2; exit 2; }
  echo "$bin"
}

# bench_csv BIN [ARGS...]: runs a Google Benchmark binary; prints "name,real_time,GFLOP/s" per
# benchmark that ran (skipped ones, e.g. 2 threads on a single-threaded backend, are left out).
bench_csv() {
  local bin=$1
  shift
  "$bin" --benchmark_format=csv "$@" 2>/dev/null |
    awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
      /^"BM_/ && $col["error_occurred"] != "true" {
        gsub(/"/, "", $1); g = ("\"GFLOP/s\"" in col) ? $col["\"GFLOP/s\""] : ""
        if (g != "") g = sprintf("%.1f", g / 1e9)
        print $1 "," $col["real_time"] "," g }'
}

# bench_backend BIN: "# optbench: matrix products by <the binary's GEMM backend>".
bench_backend() { echo "# optbench: matrix products by $("$1" --gemm_backend)"; }

# median: the median of the numbers on standard input (space or newline separated).
median() { tr ' ' '\n' | { grep . || true; } | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
