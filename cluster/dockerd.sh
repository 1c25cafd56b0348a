#!/usr/bin/env bash
# dockerd.sh - run a private Docker engine (Debian docker.io dockerd) in a directory, for tests.
set -euo pipefail
shopt -s inherit_errexit

readonly PROG="${0##*/}"
readonly START_TIMEOUT=30
readonly STOP_TIMEOUT=20
# sun_path is 108 bytes including the terminating NUL.
readonly MAX_SOCKET_PATH=107
# The longest socket dockerd and its containerd create under DIR.
readonly LONGEST_SOCKET=exec/containerd/containerd.sock.ttrpc

usage() {
  cat <<USAGE
Usage: $PROG start DIR [--storage-driver overlay2|vfs] [--netns NAME] [--insecure-registry CIDR]...
       $PROG stop DIR
       $PROG status DIR

start   start 'dockerd' (as root) detached in its own session, with
          --data-root DIR/data --exec-root DIR/exec -H unix://DIR/docker.sock
          --pidfile DIR/docker.pid --iptables=false --bridge=none --ip-masq=false
        output in DIR/dockerd.log; wait until 'docker -H unix://DIR/docker.sock version'
        answers (${START_TIMEOUT} s; the log tail is printed on failure), then print the
        socket path (DIR/docker.sock).
  --storage-driver D   overlay2 or vfs. Without it, overlay2 is tried first and vfs
                       is used if overlay2 cannot start (the driver in use is in
                       DIR/storage-driver). An explicit driver is never replaced.
  --netns NAME         run dockerd (and its containerd) in the network namespace
                       /run/netns/NAME, through 'nsenter --net=' ('ip netns exec'
                       does not work: it remounts /sys). The socket stays at
                       DIR/docker.sock, reachable from any namespace.
  --insecure-registry CIDR
                       pass --insecure-registry CIDR (or HOST:PORT) to dockerd
                       (repeatable): plain-HTTP registries off loopback need it.
stop    SIGTERM the engine of DIR and wait until it is gone (SIGKILL after
        ${STOP_TIMEOUT} s, and its containerd too), then unmount anything still mounted
        under DIR so that DIR can be removed. A no-op (exit 0) if it is not running.
status  print 'running pid PID SOCKET DRIVER' if running, else exit 1.

DIR must be short: unix socket paths are limited to ${MAX_SOCKET_PATH} bytes and the
longest one is DIR/${LONGEST_SOCKET}.

Example:
  $PROG start /tmp/d1 && docker -H unix:///tmp/d1/docker.sock images
  $PROG stop /tmp/d1 && rm -rf /tmp/d1
USAGE
}

die() { echo "$PROG: $*" >&2; exit 1; }

# shellcheck source=cluster/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# pid_from FILE COMM: print the pid in FILE if that process is alive and named COMM.
pid_from() {
  local pid
  [[ -f $1 ]] || return 1
  pid=$(<"$1")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  pid_alive "$pid" || return 1
  # Guard against a recycled pid.
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$2" ]] || return 1
  echo "$pid"
}

running_pid() { pid_from "$1/docker.pid" dockerd; }

engine_answers() {
  timeout 5 docker -H "unix://$1/docker.sock" version --format '{{.Server.Version}}' >/dev/null 2>&1
}

# mounts_under DIR: mount points at or below DIR, deepest first.
mounts_under() {
  # Field 5 of mountinfo is the mount point (octal-escaped; DIR has no spaces).
  awk -v d="$1" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r
}

# Set by start: a command prefix (nsenter into a network namespace) and extra dockerd flags.
wrap=()
extra=()

# launch DIR DRIVER: start dockerd detached; print its pid.
launch() {
  local dir=$1 driver=$2
  # Own session, no inherited stdio (a caller's $(...) must not wait for it). nsenter execs
  # dockerd (no fork for a network namespace), so $! is dockerd's pid either way.
  setsid "${wrap[@]}" dockerd \
    --data-root "$dir/data" \
    --exec-root "$dir/exec" \
    -H "unix://$dir/docker.sock" \
    --pidfile "$dir/docker.pid" \
    --iptables=false --bridge=none --ip-masq=false \
    --storage-driver "$driver" \
    "${extra[@]}" \
    >>"$dir/dockerd.log" 2>&1 </dev/null &
  echo $!
}

# wait_ready DIR PID: 0 when the engine answers, 1 if dockerd exited, 2 on timeout.
wait_ready() {
  local dir=$1 pid=$2 deadline=$((SECONDS + START_TIMEOUT))
  while :; do
    engine_answers "$dir" && return 0
    pid_alive "$pid" || return 1
    ((SECONDS < deadline)) || return 2
    sleep 0.2
  done
}

cmd_start() {
  [[ $# -ge 1 && $1 != -* ]] || die "start needs DIR (see --help)"
  local dir=$1 driver="" explicit=0
  shift
  while (($#)); do
    case "$1" in
      --storage-driver)
        (($# >= 2)) || die "--storage-driver needs overlay2 or vfs"
        driver=$2 explicit=1
        shift ;;
      --netns)
        (($# >= 2)) || die "--netns needs a network namespace name"
        [[ $2 =~ ^[A-Za-z0-9_.-]+$ && -e /run/netns/$2 ]] || die "no network namespace '$2' (/run/netns/$2)"
        wrap=(nsenter "--net=/run/netns/$2")
        shift ;;
      --insecure-registry)
        (($# >= 2)) || die "--insecure-registry needs a CIDR or HOST:PORT"
        extra+=(--insecure-registry "$2")
        shift ;;
      -h|--help) usage; exit 0 ;;
      *) die "start: unknown argument '$1' (see --help)" ;;
    esac
    shift
  done
  [[ -z $driver || $driver == overlay2 || $driver == vfs ]] \
    || die "--storage-driver must be overlay2 or vfs (got '$driver')"
  [[ -n $driver ]] || driver=overlay2

  ((EUID == 0)) || die "dockerd needs root"
  for c in dockerd docker containerd runc setsid timeout; do
    command -v "$c" >/dev/null 2>&1 || [[ -x /usr/sbin/$c ]] || die "'$c' not found (run cluster/deps.sh)"
  done
  [[ :$PATH: == *:/usr/sbin:* ]] || PATH=$PATH:/usr/sbin:/sbin

  # Check the length before creating anything.
  dir=$(realpath -m -- "$dir")
  local longest="$dir/$LONGEST_SOCKET"
  ((${#longest} <= MAX_SOCKET_PATH)) \
    || die "DIR '$dir' is too long: $longest would be ${#longest} bytes (max $MAX_SOCKET_PATH); use a shorter DIR"
  mkdir -p -- "$dir"
  dir=$(cd -- "$dir" && pwd -P)
  local pid
  if pid=$(running_pid "$dir"); then
    die "a dockerd is already running for $dir (pid $pid)"
  fi
  [[ ! -S $dir/docker.sock ]] || rm -f -- "$dir/docker.sock"
  mkdir -p -- "$dir/data" "$dir/exec"

  local rc=0
  pid=$(launch "$dir" "$driver")
  wait_ready "$dir" "$pid" || rc=$?
  if ((rc == 1 && !explicit)) && [[ $driver == overlay2 ]]; then
    echo "$PROG: overlay2 did not start; retrying with vfs (log: $dir/dockerd.log)" >&2
    driver=vfs rc=0
    pid=$(launch "$dir" "$driver")
    wait_ready "$dir" "$pid" || rc=$?
  fi
  if ((rc != 0)); then
    tail -n 20 -- "$dir/dockerd.log" >&2 || true
    if ((rc == 1)); then
      rm -f -- "$dir/docker.pid"
      die "dockerd exited during startup (log: $dir/dockerd.log)"
    fi
    cmd_stop "$dir" || true
    die "dockerd for $dir not ready after ${START_TIMEOUT} s (log: $dir/dockerd.log)"
  fi
  echo "$driver" >"$dir/storage-driver"
  echo "$dir/docker.sock"
}

cmd_stop() {
  [[ $# -eq 1 ]] || die "usage: $PROG stop DIR"
  local dir=$1 pid containerd="" mounts m
  [[ -d $dir ]] || return 0
  dir=$(cd -- "$dir" && pwd -P)
  containerd=$(pid_from "$dir/exec/containerd/containerd.pid" containerd) || containerd=""
  if pid=$(running_pid "$dir"); then
    stop_pid "$pid" "$STOP_TIMEOUT" dockerd
  fi
  # dockerd stops the containerd it started, unless it was killed.
  if [[ -n $containerd ]] && pid_alive "$containerd"; then
    stop_pid "$containerd" 5 containerd
  fi
  # A container start that raced the engine's stop can leave its runtime shim behind; the next
  # engine's containerd would take that task for a live one and refuse to start the container
  # ("task … already exists"). Nothing of this engine runs any more: its shims go too.
  pkill -KILL -f -- "containerd-shim.* -address $dir/exec/containerd/" 2>/dev/null || true
  mapfile -t mounts < <(mounts_under "$dir")
  for m in "${mounts[@]}"; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null \
      || echo "$PROG: could not unmount $m" >&2
  done
  rm -f -- "$dir/docker.pid"
}

cmd_status() {
  [[ $# -eq 1 ]] || die "usage: $PROG status DIR"
  local dir=$1 pid driver=unknown
  pid=$(running_pid "$dir") || { echo "not running"; return 1; }
  dir=$(cd -- "$dir" && pwd -P)
  [[ ! -f $dir/storage-driver ]] || driver=$(<"$dir/storage-driver")
  echo "running pid $pid $dir/docker.sock $driver"
}

(($#)) || die "missing command: start, stop or status (see --help)"
sub=$1
shift
case "$sub" in
  start) cmd_start "$@" ;;
  stop) cmd_stop "$@" ;;
  status) cmd_status "$@" ;;
  -h|--help|help) usage ;;
  *) die "unknown command '$sub' (start, stop, status; see --help)" ;;
esac
