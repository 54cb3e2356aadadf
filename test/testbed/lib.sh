# Shared helpers for the test-bed scripts: paths, free loopback ports, process start/stop.
# Sourced, not run.
TESTBED_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$TESTBED_ROOT/../.." && pwd)"
# shellcheck source=versions.env
source "$TESTBED_ROOT/versions.env"
ATELIER_CACHE="${ATELIER_CACHE:-$HOME/.cache/atelier}"
TESTBED_DIR="${TESTBED_DIR:-$REPO_ROOT/.testbed}"
BIN="$ATELIER_CACHE/bin/current"

now_ms() { date +%s%3N; }

# free_ports N: prints N distinct free TCP ports on 127.0.0.1 (held open together while chosen).
free_ports() {
  local n="$1" py
  py='import socket,sys
ss=[socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss: s.bind(("127.0.0.1",0))
print(" ".join(str(s.getsockname()[1]) for s in ss))
for s in ss: s.close()'
  if command -v python3 >/dev/null; then python3 -c "$py" "$n"; else
    node -e 'const net=require("net");const n=+process.argv[1];const ss=[];let done=0;
      for(let i=0;i<n;i++){const s=net.createServer();ss.push(s);s.listen(0,"127.0.0.1",()=>{if(++done===n){console.log(ss.map(x=>x.address().port).join(" "));ss.forEach(x=>x.close())}})}' "$n"
  fi
}

# start_proc DIR NAME CMD...: starts CMD in its own session, logs to DIR/logs/NAME.log, pid in DIR/pids/NAME.
start_proc() {
  local dir="$1" name="$2"; shift 2
  mkdir -p "$dir/logs" "$dir/pids"
  setsid "$@" >"$dir/logs/$name.log" 2>&1 < /dev/null &
  echo $! > "$dir/pids/$name"
}

# stop_procs DIR: stops every process recorded under DIR/pids (TERM, then KILL after 10s).
stop_procs() {
  local dir="$1" f pid deadline
  [ -d "$dir/pids" ] || return 0
  for f in "$dir"/pids/*; do
    [ -f "$f" ] || continue
    pid="$(cat "$f")"
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  done
  deadline=$(( $(date +%s) + 10 ))
  for f in "$dir"/pids/*; do
    [ -f "$f" ] || continue
    pid="$(cat "$f")"
    while kill -0 "$pid" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; fi
    rm -f "$f"
  done
}

# wait_for DESCRIPTION TIMEOUT_S CMD...: retries CMD until it succeeds or TIMEOUT_S passes.
wait_for() {
  local what="$1" timeout="$2"; shift 2
  local deadline=$(( $(date +%s) + timeout ))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then echo "testbed: timed out after ${timeout}s waiting for $what" >&2; return 1; fi
    sleep 0.2
  done
}

# wait_proc DIR NAME TIMEOUT_S CMD...: like wait_for, but fails at once, showing the log, if process NAME died.
wait_proc() {
  local dir="$1" name="$2" timeout="$3"; shift 3
  local deadline=$(( $(date +%s) + timeout ))
  until "$@" >/dev/null 2>&1; do
    if ! kill -0 "$(cat "$dir/pids/$name")" 2>/dev/null; then
      echo "testbed: $name exited; last lines of $dir/logs/$name.log:" >&2; tail -n 15 "$dir/logs/$name.log" >&2; return 1
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then echo "testbed: timed out after ${timeout}s waiting for $name" >&2; tail -n 15 "$dir/logs/$name.log" >&2; return 1; fi
    sleep 0.2
  done
}
