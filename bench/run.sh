#!/usr/bin/env bash
# Runs every benchmark of a build tree, then the gRPC ingest load test, and prints the figures.
#
#   bench/run.sh BUILD_DIR        (what `make bench` runs)
#
# 1. Each Google Benchmark binary BUILD_DIR/bench/*_bench, with --benchmark_min_time.
# 2. The load test: a no-op Ingest server (BUILD_DIR/bench/noop_server) and modelwatchd
#    (BUILD_DIR/daemon/modelwatchd, on its embedded default config) listen on loopback ports
#    chosen by the kernel; BUILD_DIR/bench/loadgen streams batches of 256 and 1024 events, and one
#    event per message, to each in turn, and the table compares their rates. Without a
#    modelwatchd binary a second no-op server stands in for it, and the table says so.
#
# Environment knobs (defaults in brackets): BENCHMARKS [1] (0 skips part 1, to repeat the load
# test alone), BENCH_MIN_TIME [0.5] seconds per benchmark,
# BENCH_TIMEOUT [40] seconds per benchmark binary, LOAD_SECONDS [3] measured seconds per load
# run, LOAD_WARMUP [1] warm-up seconds per load run, LOAD_STREAMS [1] streams per load run. Each
# server gets two runs per mode, so the load test takes 12 * (LOAD_SECONDS + LOAD_WARMUP)
# seconds; with the defaults the whole script stays under three minutes. It exits non-zero when
# a benchmark or a load run fails; missing the throughput targets is reported, not an error.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
build_dir=$(cd "$1" && pwd)
run_benchmarks=${BENCHMARKS:-1}
bench_min_time=${BENCH_MIN_TIME:-0.5}
bench_timeout=${BENCH_TIMEOUT:-40}
load_seconds=${LOAD_SECONDS:-3}
load_warmup=${LOAD_WARMUP:-1}
load_streams=${LOAD_STREAMS:-1}

# Throughput targets of the load test (events/s for batches of 256 or more, and the fraction of
# the no-op server's rate).
target_rate=5000000
target_ratio=0.70

work=$(mktemp -d /tmp/modelwatch-bench.XXXXXX)
server_pids=()
# shellcheck disable=SC2317  # Called by the EXIT trap.
cleanup() {
  for pid in "${server_pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${server_pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

failed=0

echo "== machine"
echo "$(nproc) CPUs; $(uptime)"
echo "build: $build_dir ($(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null || echo unknown))"

# 1. Google Benchmark binaries.
echo
echo "== benchmarks (--benchmark_min_time=$bench_min_time)"
shopt -s nullglob
benches=("$build_dir"/bench/*_bench)
if [[ $run_benchmarks == 0 ]]; then
  echo "skipped (BENCHMARKS=0)"
  benches=()
elif [[ ${#benches[@]} -eq 0 ]]; then
  echo "no *_bench binaries in $build_dir/bench"
fi
for bin in "${benches[@]}"; do
  [[ -x $bin ]] || continue
  echo "-- $(basename "$bin")"
  if ! timeout "$bench_timeout" "$bin" --benchmark_min_time="$bench_min_time" \
      --benchmark_counters_tabular=true; then
    echo "FAILED (or exceeded ${bench_timeout}s): $(basename "$bin")"
    failed=1
  fi
done

# 2. The load test.
loadgen=$build_dir/bench/loadgen
noop=$build_dir/bench/noop_server
daemon=$build_dir/daemon/modelwatchd
if [[ ! -x $loadgen || ! -x $noop ]]; then
  echo "load test skipped: build the loadgen and noop_server targets" >&2
  exit 1
fi

# Starts a server in the background with --port_file and sets `addr` to its gRPC address once
# the file appears (polling, with a deadline). Returns non-zero when the server does not start.
start_server() {
  local name=$1
  shift
  local port_file=$work/$name.port
  "$@" --port_file="$port_file" >"$work/$name.log" 2>&1 &
  local pid=$!
  server_pids+=("$pid")
  addr=""
  for _ in $(seq 100); do
    if grep -q '^grpc=' "$port_file" 2>/dev/null; then
      addr=$(sed -n 's/^grpc=//p' "$port_file")
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "$name did not start; its log:" >&2
  tail -n 20 "$work/$name.log" >&2
  return 1
}

echo
echo "== load test"
start_server noop "$noop" --listen=127.0.0.1:0
noop_addr=$addr
noop_pid=${server_pids[-1]}
if [[ -x $daemon ]] && start_server modelwatchd "$daemon" --grpc_listen=127.0.0.1:0 \
    --http_listen=127.0.0.1:0 --log_level=warn; then
  daemon_name=modelwatchd
else
  echo "modelwatchd is not built or did not start: a second no-op server stands in for it"
  start_server noop2 "$noop" --listen=127.0.0.1:0
  daemon_name="noop-standin"
fi
daemon_addr=$addr
daemon_pid=${server_pids[-1]}
echo "noop_server at $noop_addr; $daemon_name at $daemon_addr"

# Runs the load generator once and appends its key=value line, prefixed with the server's name
# and the mode, to $work/loadgen.out ("ok=fail" when it failed).
load() {
  local name=$1 addr=$2 pid=$3 mode=$4
  local out
  if ! out=$("$loadgen" --target="$addr" --server_pid="$pid" --seconds="$load_seconds" \
      --warmup="$load_warmup" --streams="$load_streams" "--$mode" 2>>"$work/loadgen.log"); then
    echo "loadgen failed against $name with --$mode:" >&2
    tail -n 2 "$work/loadgen.log" >&2
    out="ok=fail"
  fi
  echo "server=$name mode=$mode $out" >>"$work/loadgen.out"
}

for mode in batch=256 batch=1024 one_event_per_message; do
  # Other work on the machine moves the rates from one second to the next, so the two servers
  # run in the order no-op, modelwatchd, modelwatchd, no-op, and the table keeps each one's
  # better run.
  load noop_server "$noop_addr" "$noop_pid" "$mode"
  load "$daemon_name" "$daemon_addr" "$daemon_pid" "$mode"
  load "$daemon_name" "$daemon_addr" "$daemon_pid" "$mode"
  load noop_server "$noop_addr" "$noop_pid" "$mode"
done

echo
echo "load: 10 classes, scores, ids, inline labels; $load_streams stream(s); best of 2 runs of" \
  "${load_seconds}s after ${load_warmup}s warm-up; $(uptime | sed 's/.*load/load/')"
# The table: per mode and server, the best rate and the lowest server CPU per event; the ratio
# columns divide modelwatchd's figures by the no-op server's (for CPU, no-op / modelwatchd, so
# that both read "fraction of the baseline").
awk -v rate_goal="$target_rate" -v ratio_goal="$target_ratio" -v daemon="$daemon_name" '
  {
    delete f
    for (i = 1; i <= NF; i++) { eq = index($i, "="); f[substr($i, 1, eq - 1)] = substr($i, eq + 1) }
    key = f["mode"] SUBSEP f["server"]
    if (!(f["mode"] in seen)) { seen[f["mode"]] = 1; modes[++n] = f["mode"] }
    if (f["ok"] != "true") { failed[key] = 1; next }
    # Fields are strings; +0 makes every comparison numeric.
    eps = f["events_per_second"] + 0
    if (eps > rate[key] + 0) rate[key] = eps
    ns = f["server_ns_per_event"] + 0
    if (ns > 0 && (!(key in cost) || ns < cost[key])) cost[key] = ns
  }
  END {
    printf "%-22s %-14s %12s %6s %16s %6s  %s\n", "mode", "server", "events/s", "ratio",
      "server ns/event", "ratio", "verdict"
    bad = 0
    for (m = 1; m <= n; m++) {
      mode = modes[m]; nk = mode SUBSEP "noop_server"; dk = mode SUBSEP daemon
      printf "%-22s %-14s %12s %6s %16s %6s\n", mode, "noop_server",
        (nk in failed) ? "FAILED" : sprintf("%.0f", rate[nk]), "1.00",
        (nk in cost) ? sprintf("%.1f", cost[nk]) : "-", "1.00"
      if ((nk in failed) || (dk in failed)) {
        printf "%-22s %-14s %12s\n", mode, daemon, (dk in failed) ? "FAILED" : rate[dk]
        bad = 1
        continue
      }
      ratio = rate[nk] > 0 ? rate[dk] / rate[nk] : 0
      cost_ratio = (nk in cost) && (dk in cost) ? sprintf("%.2f", cost[nk] / cost[dk]) : "-"
      verdict = ""
      if (mode != "one_event_per_message") {
        verdict = sprintf("%s %.0fM/s, %s %.0f%%", rate[dk] + 0 >= rate_goal + 0 ? "meets" : "MISSES",
          rate_goal / 1e6, ratio >= ratio_goal ? "meets" : "MISSES", ratio_goal * 100)
      }
      printf "%-22s %-14s %12.0f %6.2f %16s %6s  %s\n", mode, daemon, rate[dk], ratio,
        (dk in cost) ? sprintf("%.1f", cost[dk]) : "-", cost_ratio, verdict
    }
    exit bad
  }' "$work/loadgen.out" || failed=1

echo
echo "loadgen lines:"
cat "$work/loadgen.out"

exit "$failed"
