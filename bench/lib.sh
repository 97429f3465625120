# Shell helpers shared by bench/run.sh and bench/instructions.sh (sourced, not run).

# wait_for_port PORT [TRIES]: returns once something listens on the loopback port, polling every
# 0.1 s (100 tries, 10 s, unless told otherwise), else says so and fails.
wait_for_port() {
  local tries=${2:-100}
  for _ in $(seq 1 "$tries"); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "bench: nothing listening on port $1" >&2
  return 1
}
