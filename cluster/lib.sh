# Shared by the cluster and bench scripts (sourced); expects PROG set by the caller.

# pid_alive PID: running and not a zombie.
pid_alive() {
  local state
  [[ -r /proc/$1/stat ]] || return 1
  state=$(sed 's/^.*) //' "/proc/$1/stat" | cut -d' ' -f1)
  [[ $state != Z && $state != X ]]
}

# stop_pid PID TIMEOUT WHAT: SIGTERM, then SIGKILL if PID is still alive after TIMEOUT seconds.
stop_pid() {
  local pid=$1 timeout=$2 what=$3
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + timeout))
  while pid_alive "$pid"; do
    if ((SECONDS >= deadline)); then
      echo "$PROG: $what pid $pid ignored SIGTERM for ${timeout} s; sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
      break
    fi
    sleep 0.1
  done
}

# free_port: a loopback port nothing answers on.
free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 20000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
  done
}
