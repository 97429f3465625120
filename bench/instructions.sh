#!/usr/bin/env bash
# User-space instructions per request, counted by valgrind's callgrind: bare Pingora and the
# gateway (resource and native upstream) under the same short chat wrk posts in bench/run.sh.
# Bare Pingora is counted twice: as it comes (glibc's malloc) and on mimalloc, the gateway's
# allocator, so that the gateway's own work shows apart from the allocator's.
# Throughput on this kind of machine drifts by ±25% from run to run; an instruction count does
# not, so a change to the request path shows here as a number that repeats (to within ~1%).
# It leaves out the kernel's share (the loopback sends and receives, about half of a
# request's CPU, the same for bare Pingora and the gateway) and counts an instruction as an
# instruction whatever it costs.
#
#   bash bench/instructions.sh        -> bench/instructions.md (and the table on stdout)
#
# Knobs (environment): BENCH_INSTR_SECONDS (10, counted seconds per target, after 2 s of
# warm-up), BENCH_INSTR_CONNECTIONS (4), BENCH_PORT_BASE (18180; this script uses base+11 on).
# Binaries are taken from $CARGO_TARGET_DIR/release (default target/release).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh

seconds=${BENCH_INSTR_SECONDS:-10}
connections=${BENCH_INSTR_CONNECTIONS:-4}
port_base=${BENCH_PORT_BASE:-18180}
bin=${CARGO_TARGET_DIR:-target}/release
out=bench/out/instructions
mock_port=$((port_base + 11))
target_port=$((port_base + 12))
mkdir -p "$out"

packages=()
command -v valgrind >/dev/null 2>&1 || packages+=(valgrind)
command -v wrk >/dev/null 2>&1 || packages+=(wrk)
if [ ${#packages[@]} -gt 0 ]; then
  echo "instructions: installing ${packages[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
fi
cargo build --release -p argo-bridge -p argo-bench

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT


# The wrk workloads' bodies (bench/src/suite.rs, wrk_chat): the client's, and the Argo
# request the gateway makes of it, for bare Pingora.
question='Short benchmark question. #mock {\"reply\":\"Tq00001 Tq00002 Tq00003 Tq00004 \"}'
messages="[{\"content\":\"$question\",\"role\":\"user\"}]"
echo "{\"messages\":$messages,\"model\":\"gpt-4o\",\"stream\":false}" >"$out/client.json"
echo "{\"messages\":$messages,\"model\":\"gpt4o\",\"user\":\"bench\"}" >"$out/resource.json"
echo "{\"messages\":$messages,\"model\":\"gpt4o\",\"stream\":false,\"user\":\"bench\"}" >"$out/native.json"

RUST_LOG=warn "$bin/argo-bridge" mock-argo --listen "127.0.0.1:$mock_port" --fragment-delay-ms 0 \
  >"$out/mock.log" 2>&1 &
pids+=($!)
wait_for_port "$mock_port"
argo="http://127.0.0.1:$mock_port/argoapi"

# The process under count: bare Pingora (on either allocator), or the gateway on the given
# upstream API (`native-accounts`: native, with an accounts store on SQLite and a request
# authenticated by an issued key, counted in the usage ledger).
serve() {
  local target=$1
  shift
  local accounts=()
  if [ "$target" = native-accounts ]; then
    target=native
    # The store is read at start (the key) and then not again within the count: its reads and
    # writes are the same per second whatever the load, so under valgrind, which serves some
    # hundred requests a second, they would be counted a hundred times over per request. They
    # are not on the request path, which is what this row measures.
    accounts=(ARGO_BRIDGE_ACCOUNTS_PATH="$out/accounts.db" ARGO_BRIDGE_ACCOUNTS_REFRESH_INTERVAL_MS=600000
      ARGO_BRIDGE_LEDGER_FLUSH_INTERVAL_MS=600000)
  fi
  if [ "$target" = bare ] || [ "$target" = bare-mimalloc ]; then
    local proxy=bare-proxy
    [ "$target" = bare-mimalloc ] && proxy=bare-proxy-mimalloc
    "$@" "$bin/$proxy" --listen "127.0.0.1:$target_port" --upstream "127.0.0.1:$mock_port" --threads 1
  else
    env ARGO_BRIDGE_UPSTREAM_API="$target" ARGO_BRIDGE_LISTEN="127.0.0.1:$target_port" ARGO_BRIDGE_THREADS=1 \
      ARGO_BRIDGE_TOKENS="bench-token=bench" ARGO_BRIDGE_AUTH_MODE=tokens \
      ARGO_BRIDGE_ARGO_PROD_URL="$argo" ARGO_BRIDGE_ARGO_DEV_URL="$argo" ARGO_BRIDGE_ARGO_TEST_URL="$argo" \
      "${accounts[@]}" RUST_LOG=info "$@" "$bin/argo-bridge" run
  fi
}

# Counts one target (NAME, bare | resource | native, URL, BODY, HEADERS) and appends
# "NAME REQUESTS INSTRUCTIONS" to the rows.
count() {
  local name=$1 target=$2 url=$3 body=$4 headers=$5
  local file="$out/callgrind.$name.out"
  rm -f "$file"*
  serve "$target" valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$file" \
    >"$out/$name.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  wait_for_port "$target_port" 300 # valgrind starts the server slowly
  # valgrind runs the server as its own process: the one callgrind_control names.
  local server
  server=$(pgrep -n -f "callgrind-out-file=$file")
  local drive=(wrk -t1 "-c$connections" -s bench/wrk.lua "$url")
  callgrind_control -i on "$server" >/dev/null 2>&1
  # One request answered first: what a process builds on first use (the tokenizers' tables,
  # up to 90 ms natively, seconds under valgrind) is not a per-request cost.
  local first=(curl -s --max-time 120 -o /dev/null -H "Content-Type: application/json")
  [ -n "$headers" ] && first+=(-H "${headers%$'\n'}")
  "${first[@]}" --data-binary "@$body" "$url" || true
  WRK_BODY=$body WRK_HEADERS=$headers "${drive[@]}" -d2s >/dev/null
  callgrind_control -z "$server" >/dev/null 2>&1
  local report
  report=$(WRK_BODY=$body WRK_HEADERS=$headers "${drive[@]}" "-d${seconds}s")
  callgrind_control -d "$server" >/dev/null 2>&1
  # The counted window is the first dump (FILE.1); give valgrind time to finish writing it.
  local dump="$file.1"
  for _ in $(seq 1 100); do
    [ -s "$dump" ] && grep -q "^totals:" "$dump" && break
    sleep 0.1
  done
  kill "$server" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if grep -q "Non-2xx" <<<"$report"; then
    echo "instructions: $name answered errors: $report" >&2
    return 1
  fi
  local requests instructions
  requests=$(awk '/requests in/ {gsub(",", "", $1); print $1}' <<<"$report")
  instructions=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  if [ -z "$instructions" ] || [ "$instructions" -lt "$requests" ]; then
    echo "instructions: no count for $name (see $out/$name.log)" >&2
    return 1
  fi
  echo "$name $requests $instructions" >>"$out/rows.txt"
}

client=http://127.0.0.1:$target_port/v1/chat/completions
token=$'Authorization: Bearer bench-token\n'
rm -f "$out/rows.txt"
resource_url="http://127.0.0.1:$target_port/argoapi/api/v1/resource/chat/"
native_url="http://127.0.0.1:$target_port/argoapi/v1/chat/completions"
native_auth=$'Authorization: Bearer bench\n'
count bare_resource bare "$resource_url" "$out/resource.json" ""
count bare_mimalloc_resource bare-mimalloc "$resource_url" "$out/resource.json" ""
count gateway_resource resource "$client" "$out/client.json" "$token"
count bare_native bare "$native_url" "$out/native.json" "$native_auth"
count bare_mimalloc_native bare-mimalloc "$native_url" "$out/native.json" "$native_auth"
count gateway_native native "$client" "$out/client.json" "$token"
rm -f "$out/accounts.db"*
key=$(ARGO_BRIDGE_ACCOUNTS_PATH="$out/accounts.db" RUST_LOG=error "$bin/argo-bridge" keys create --user bench)
count gateway_native_accounts native-accounts "$client" "$out/client.json" $'Authorization: Bearer '"$key"$'\n'
mapfile -t results <"$out/rows.txt"

per_request() { awk -v n="$2" -v i="$3" 'BEGIN {printf "%.0f", i / n}'; }
{
  echo "<!-- written by bench/instructions.sh -->"
  echo "User-space instructions per request (valgrind callgrind), $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'):" \
    "wrk -t1 -c$connections for ${seconds}s after 2s of warm-up, the short chat of the wrk rows."
  echo
  echo "| target | requests | instructions / request | gateway / bare | gateway / bare on mimalloc |"
  echo "|---|---:|---:|---:|---:|"
  declare -A by_name
  for row in "${results[@]}"; do
    read -r name requests instructions <<<"$row"
    by_name[$name]=$(per_request "$name" "$requests" "$instructions")
  done
  ratio() { awk -v g="$1" -v b="$2" 'BEGIN {printf "%.2f", g / b}'; }
  for row in "${results[@]}"; do
    read -r name requests _ <<<"$row"
    plain="-" same="-"
    case $name in
      gateway_*)
        api=${name#gateway_}
        api=${api%_accounts}
        plain=$(ratio "${by_name[$name]}" "${by_name[bare_$api]}")
        same=$(ratio "${by_name[$name]}" "${by_name[bare_mimalloc_$api]}")
        ;;
    esac
    echo "| $name | $requests | ${by_name[$name]} | $plain | $same |"
  done
} | tee bench/instructions.md
