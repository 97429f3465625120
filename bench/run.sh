#!/usr/bin/env bash
# The whole benchmark in one command: builds release binaries, starts the mock Argo, a bare
# Pingora proxy, Pingora alone (answering streams itself, for the memory floor) and two
# argo-bridges, one on Argo's resource API and one on its native API
# (ARGO_BRIDGE_UPSTREAM_API=native), on loopback (pinned with taskset), runs every workload
# against them with the load generator and, for chat and stream, with wrk too, and writes
# bench/results.md (raw data: bench/results.jsonl). Every process it starts is killed on exit;
# every run is bounded in time.
#
#   bash bench/run.sh                  the full suite
#   bash bench/run.sh --profile chat   perf profile of the gateway under one workload (chat,
#                                      embeddings, stream, chat_native, stream_native,
#                                      stream_claude, stream_messages_claude, stream_responses,
#                                      stream_generate: all but the first three profile the
#                                      native gateway) -> bench/out/profile-WORKLOAD.txt
#   bash bench/run.sh --workloads hold --targets pingora,gateway
#                                      a subset: other arguments go to `loadgen suite`
#   bash bench/run.sh --workloads chat_native,stream_native,stream_claude,hold_native
#                                      the native upstream only
#   bash bench/run.sh --workloads stream_messages_claude,stream_responses,stream_generate,chat_messages_claude,chat_responses
#                                      the other client formats only
#   bash bench/run.sh --workloads wrk  the wrk runs only
#
# Workloads: chat, embeddings, stream, stream_paced, hold (resource gateway); chat_native,
# stream_native, stream_claude, hold_native (native gateway; floor and bare are sent Argo's
# native requests); stream_messages_claude, stream_responses, stream_generate (the Anthropic,
# Responses and Google client formats streamed through the native gateway, at
# BENCH_FORMAT_CONCURRENCY; floor and bare are sent the native request the gateway makes);
# chat_messages_claude, chat_responses (one answer asked of Claude by an Anthropic client, which
# the gateway gathers from Argo's stream, and of a GPT model by a Responses client, which Argo's
# /v1/responses serves);
# wrk (chat and stream through both gateways and bare Pingora, driven by wrk -t1 -c32 with
# bench/wrk.lua).
#
# Knobs (environment): BENCH_SECONDS (5, measured seconds per run), BENCH_WARMUP (1),
# BENCH_CONCURRENCY (1,16,64,256), BENCH_FORMAT_CONCURRENCY (1,64: the other client formats),
# BENCH_PACED_CONCURRENCY (1,64), BENCH_PACE_MS (10),
# BENCH_HOLD_STREAMS (10000), BENCH_PORT_BASE (18180), BENCH_RUST_LOG (gateway log level, info),
# BENCH_TIMEOUT (1800, seconds for the whole suite), BENCH_MICRO (1: also run the criterion
# microbenchmarks of argo-filters and add them to the report; 0: skip them), BENCH_WRK (1: also
# drive chat and stream with wrk, installed with apt-get when missing; 0: skip), BENCH_WRK_CONNECTIONS
# (32), BENCH_WRK_REPEATS (3: runs per wrk row, bare and gateway alternating, the median
# reported with the spread of the runs' ratios), BENCH_PROFILE_CONCURRENCY (16: the load under --profile). Binaries are taken from $CARGO_TARGET_DIR/release (default target/release).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh

seconds=${BENCH_SECONDS:-5}
warmup=${BENCH_WARMUP:-1}
concurrency=${BENCH_CONCURRENCY:-1,16,64,256}
format_concurrency=${BENCH_FORMAT_CONCURRENCY:-1,64}
paced_concurrency=${BENCH_PACED_CONCURRENCY:-1,64}
pace_ms=${BENCH_PACE_MS:-10}
hold=${BENCH_HOLD_STREAMS:-10000}
port_base=${BENCH_PORT_BASE:-18180}
gateway_log=${BENCH_RUST_LOG:-info}
suite_timeout=${BENCH_TIMEOUT:-1800}
micro=${BENCH_MICRO:-1}
use_wrk=${BENCH_WRK:-1}
profile_concurrency=${BENCH_PROFILE_CONCURRENCY:-16}
wrk_connections=${BENCH_WRK_CONNECTIONS:-32}
wrk_repeats=${BENCH_WRK_REPEATS:-3}
target_dir=${CARGO_TARGET_DIR:-target}
bin=$target_dir/release
profile=""
suite_args=("$@") # anything else goes to `loadgen suite`, e.g. --workloads hold --targets gateway
if [ "${1:-}" = "--profile" ]; then
  profile=${2:?"--profile needs a workload: chat, embeddings, stream, chat_native, stream_native, stream_claude, stream_messages_claude, stream_responses or stream_generate"}
  suite_args=()
  use_wrk=0
fi

mock_port=$((port_base + 1))
bare_port=$((port_base + 2))
gateway_port=$((port_base + 3))
alone_port=$((port_base + 4))
native_port=$((port_base + 5))
out=bench/out
mkdir -p "$out"

install_tools() {
  local packages=()
  command -v cmake >/dev/null 2>&1 || packages+=(cmake)
  command -v taskset >/dev/null 2>&1 || packages+=(util-linux)
  if [ -n "$profile" ] && ! command -v perf >/dev/null 2>&1; then packages+=(linux-perf); fi
  if [ "$use_wrk" = 1 ] && ! command -v wrk >/dev/null 2>&1; then packages+=(wrk); fi
  if [ ${#packages[@]} -gt 0 ]; then
    echo "bench: installing ${packages[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
  fi
}

# System under test on one core, the mock Argo and the load generator on the other.
cpus=$(nproc)
sut_cpu=0
load_cpu=$((cpus > 1 ? 1 : 0))

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
  sleep 1
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM


refuse_busy_port() {
  if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    echo "bench: port $1 is already in use; set BENCH_PORT_BASE" >&2
    exit 1
  fi
}

# argo-bridge on CPU $sut_cpu, pointed at the mock, with the given extra environment.
start_gateway() {
  local port=$1
  shift
  local argo="http://127.0.0.1:$mock_port/argoapi"
  # The access log goes to /dev/null: it is formatted and written as in production.
  env "$@" ARGO_BRIDGE_LISTEN="127.0.0.1:$port" ARGO_BRIDGE_THREADS=1 \
    ARGO_BRIDGE_TOKENS="bench-token=bench" ARGO_BRIDGE_AUTH_MODE=tokens \
    ARGO_BRIDGE_ARGO_PROD_URL="$argo" ARGO_BRIDGE_ARGO_DEV_URL="$argo" ARGO_BRIDGE_ARGO_TEST_URL="$argo" \
    RUST_LOG="$gateway_log" taskset -c "$sut_cpu" "$bin/argo-bridge" run >/dev/null 2>&1 &
}

start_stack() {
  for port in $mock_port $bare_port $gateway_port $alone_port $native_port; do refuse_busy_port "$port"; done
  RUST_LOG=warn taskset -c "$load_cpu" "$bin/argo-bridge" mock-argo \
    --listen "127.0.0.1:$mock_port" --fragment-delay-ms 0 >"$out/mock.log" 2>&1 &
  mock_pid=$!
  pids+=("$mock_pid")
  RUST_LOG=warn taskset -c "$sut_cpu" "$bin/bare-proxy" \
    --listen "127.0.0.1:$bare_port" --upstream "127.0.0.1:$mock_port" --threads 1 >"$out/bare.log" 2>&1 &
  bare_pid=$!
  pids+=("$bare_pid")
  # Pingora alone, answering streams itself: the floor of memory per open stream.
  RUST_LOG=warn taskset -c "$sut_cpu" "$bin/bare-proxy" --answer-locally \
    --listen "127.0.0.1:$alone_port" --upstream "127.0.0.1:$mock_port" --threads 1 >"$out/alone.log" 2>&1 &
  alone_pid=$!
  pids+=("$alone_pid")
  start_gateway "$gateway_port" ARGO_BRIDGE_UPSTREAM_API=resource
  gateway_pid=$!
  pids+=("$gateway_pid")
  # The same gateway on Argo's native API: the gateway of the *_native rows, stream_claude and
  # the other client formats.
  start_gateway "$native_port" ARGO_BRIDGE_UPSTREAM_API=native
  native_pid=$!
  pids+=("$native_pid")
  for port in $mock_port $bare_port $gateway_port $alone_port $native_port; do wait_for_port "$port"; done
}

suite() {
  local wrk_args=()
  if [ "$use_wrk" = 1 ]; then
    wrk_args=(--wrk "$(command -v wrk || echo wrk)" --wrk-script bench/wrk.lua --wrk-connections "$wrk_connections" --wrk-threads 1 --wrk-repeats "$wrk_repeats")
  fi
  # wrk, started by the load generator, inherits its CPU.
  timeout --signal=INT "$suite_timeout" taskset -c "$load_cpu" "$bin/loadgen" suite \
    --floor "127.0.0.1:$mock_port@$mock_pid" --bare "127.0.0.1:$bare_port@$bare_pid" \
    --gateway "127.0.0.1:$gateway_port@$gateway_pid" --pingora-alone "127.0.0.1:$alone_port@$alone_pid" \
    --gateway-native "127.0.0.1:$native_port@$native_pid" "${wrk_args[@]}" \
    --seconds "$seconds" --warmup "$warmup" --concurrency "$concurrency" --format-concurrency "$format_concurrency" \
    --paced-concurrency "$paced_concurrency" --pace-ms "$pace_ms" --hold "$hold" "$@" "${suite_args[@]}"
}

write_report() {
  local load_after
  load_after=$(cut -d' ' -f1-3 /proc/loadavg)
  {
    echo "<!-- written by bench/run.sh; raw data in bench/results.jsonl -->"
    echo "Run $(date -u '+%Y-%m-%d %H:%M UTC') at commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')" \
      "on $(nproc) × $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)," \
      "load average before / after: $load_before / $load_after."
    echo "Gateways (resource and native upstream), bare proxy and Pingora alone: 1 worker thread each, pinned to CPU $sut_cpu;" \
      "mock Argo (1 thread), load generator and wrk pinned to CPU $load_cpu." \
      "${seconds}s measured after ${warmup}s warm-up per row; other client formats at c=$format_concurrency;" \
      "paced streams: one 8-byte token every ${pace_ms} ms;" \
      "open-file limit $fd_limit."
    if [ -n "${timed_out:-}" ]; then echo; echo "$timed_out"; fi
    echo
    "$bin/loadgen" report "$out/results.jsonl"
  } >bench/results.md
  cp "$out/results.jsonl" bench/results.jsonl
}

profile_gateway() {
  local data="$out/perf-$profile.data" pid=$gateway_pid
  case $profile in chat | embeddings | stream) ;; *) pid=$native_pid ;; esac
  perf record -F 999 --call-graph dwarf,16384 -p "$pid" -o "$data" -- sleep $((seconds + warmup + 1)) >/dev/null 2>&1 &
  local perf_pid=$!
  suite --out "$out/profile-$profile.jsonl" --workloads "$profile" --targets gateway \
    --concurrency "$profile_concurrency" --format-concurrency "$profile_concurrency" --paced-concurrency "" --hold 0
  wait "$perf_pid" || true
  perf report -i "$data" --stdio --no-children --percent-limit 0.5 >"$out/profile-$profile.txt" 2>/dev/null
  echo "bench: profile in $out/profile-$profile.txt"
}

install_tools
cargo build --release -p argo-bridge -p argo-bench
# Each held stream costs the gateway two sockets (client and Argo side): raise the descriptor
# limit as far as this machine allows, and hold fewer streams if it cannot reach 2 × N.
want_fds=$((2 * hold + 200))
[ "$(ulimit -Hn)" = unlimited ] || [ "$(ulimit -Hn)" -ge "$want_fds" ] || ulimit -Hn "$want_fds" 2>/dev/null || true
fd_limit=$(ulimit -Hn)
[ "$fd_limit" = unlimited ] && fd_limit=$want_fds
ulimit -n "$fd_limit"
if [ "$fd_limit" -lt "$want_fds" ]; then
  hold=$(((fd_limit - 200) / 2))
  echo "bench: the open-file limit is $fd_limit and cannot be raised here: holding $hold streams, not ${BENCH_HOLD_STREAMS:-10000}"
fi
start_stack
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
if [ -n "$profile" ]; then
  profile_gateway
  exit 0
fi
rm -f "$out/results.jsonl"
suite_status=0
suite --out "$out/results.jsonl" || suite_status=$?
if [ "$suite_status" = 124 ]; then
  echo "bench: BENCH_TIMEOUT ($suite_timeout s) reached: the report covers what was measured" >&2
  timed_out="**Stopped by BENCH_TIMEOUT after $suite_timeout s: rows that were not reached are missing.**"
elif [ "$suite_status" != 0 ]; then
  exit "$suite_status"
fi
write_report
if [ "$micro" = 1 ] && [ "$suite_status" = 0 ]; then
  # Criterion on the system-under-test core, after the servers have gone idle.
  taskset -c "$sut_cpu" cargo bench -p argo-filters --bench translate -- \
    --warm-up-time 1 --measurement-time 3 >"$out/micro.log" 2>&1
  { echo; "$bin/loadgen" micro-report "$target_dir/criterion"; } >>bench/results.md
fi
echo "bench: wrote bench/results.md"
[ "$suite_status" = 0 ] || exit "$suite_status"
