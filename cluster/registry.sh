#!/usr/bin/env bash
# registry.sh - run a CNCF distribution registry (Debian docker-registry) for tests.
set -euo pipefail
shopt -s inherit_errexit

readonly PROG="${0##*/}"
readonly START_TIMEOUT=20
readonly STOP_TIMEOUT=10

usage() {
  cat <<USAGE
Usage: $PROG start DIR --port PORT [--addr HOST:PORT] [--auth none|htpasswd|token]
                   [--user U --password P]
                   [--token-realm URL --token-service S --token-issuer I --token-cert PEM]
                   [--proxy-remote URL [--proxy-user U --proxy-password P]]
                   [--tls-cert PEM --tls-key PEM]
       $PROG stop DIR
       $PROG status DIR
       $PROG blob-gets DIR [--bytes] [DIGEST]

start      write DIR/config.yml (storage in DIR/data, deletes enabled, info log with
           access log), start 'docker-registry serve' detached (output in
           DIR/registry.log, pid in DIR/registry.pid), wait until GET /v2/ answers
           200 or 401 (${START_TIMEOUT} s), print the base URL (http://HOST:PORT).
  --port PORT          listen on 127.0.0.1:PORT
  --addr HOST:PORT     listen address instead (e.g. 0.0.0.0:5000, 10.0.0.1:5000)
  --auth MODE          none (default), htpasswd (needs --user/--password; bcrypt
                       entry in DIR/htpasswd) or token (needs the --token-* options)
  --token-realm URL    token server URL put in the Bearer challenge
  --token-service S    service name (= JWT aud)
  --token-issuer I     issuer (= JWT iss)
  --token-cert PEM     certificate bundle whose keys sign the tokens
  --tls-cert PEM --tls-key PEM  serve HTTPS with this certificate and key
  --proxy-remote URL   run as a pull-through cache of URL (optionally with
                       --proxy-user/--proxy-password for the upstream)
stop       SIGTERM the registry of DIR, SIGKILL after ${STOP_TIMEOUT} s; a no-op (exit 0)
           if it is not running or DIR does not exist.
status     print the pid and URL if running, else exit 1.
blob-gets  per blob digest, the number of 'GET /v2/NAME/blobs/sha256:...' requests
           answered 200 or 206 in DIR/registry.log, as 'COUNT DIGEST' lines sorted by
           digest; with DIGEST, only that digest's count (0 if never fetched).
  --bytes              'COUNT BYTES DIGEST' (or 'COUNT BYTES'): BYTES is the body bytes
                       the log says were sent. Aborted downloads are logged (and
                       counted) as 200 with fewer bytes; compare BYTES with the size.

Example:
  $PROG start /tmp/reg1 --port 5001 --auth htpasswd --user ferry --password secret
  $PROG blob-gets /tmp/reg1
  $PROG stop /tmp/reg1
USAGE
}

die() { echo "$PROG: $*" >&2; exit 1; }
need_arg() { (($2 >= 2)) || die "$1 needs a value (see --help)"; }

# A JSON string is a valid YAML double-quoted scalar.
yaml_str() { jq -n --arg v "$1" '$v'; }

# shellcheck source=cluster/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# running_pid DIR: print the pid of DIR's registry if it is running.
running_pid() {
  local pidfile=$1/registry.pid pid
  [[ -f $pidfile ]] || return 1
  pid=$(<"$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  pid_alive "$pid" || return 1
  # Guard against a recycled pid.
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == docker-registr* ]] || return 1
  echo "$pid"
}

# probe_url DIR: the http://HOST:PORT to probe, from DIR/config.yml's http.addr.
probe_url() {
  local addr host port
  addr=$(sed -n 's/^  addr: "\(.*\)"$/\1/p' "$1/config.yml" | head -n1)
  [[ -n $addr ]] || return 1
  host=${addr%:*} port=${addr##*:}
  case "$host" in
    ''|0.0.0.0) host=127.0.0.1 ;;
    '[::]'|'::') host='[::1]' ;;
  esac
  if grep -q '^  tls:' "$1/config.yml"; then echo "https://$host:$port"; else echo "http://$host:$port"; fi
}

http_code() {
  curl -sk -o /dev/null -m 1 -w '%{http_code}' "$1" 2>/dev/null || true
}

cmd_start() {
  [[ $# -ge 1 && $1 != -* ]] || die "start needs DIR (see --help)"
  local dir=$1
  shift
  local port="" addr="" auth=none user="" password=""
  local realm="" service="" issuer="" cert="" remote="" puser="" ppassword="" tls_cert="" tls_key=""
  while (($#)); do
    case "$1" in
      --port) need_arg "$1" $#; port=$2; shift ;;
      --addr) need_arg "$1" $#; addr=$2; shift ;;
      --auth) need_arg "$1" $#; auth=$2; shift ;;
      --user) need_arg "$1" $#; user=$2; shift ;;
      --password) need_arg "$1" $#; password=$2; shift ;;
      --token-realm) need_arg "$1" $#; realm=$2; shift ;;
      --token-service) need_arg "$1" $#; service=$2; shift ;;
      --token-issuer) need_arg "$1" $#; issuer=$2; shift ;;
      --token-cert) need_arg "$1" $#; cert=$2; shift ;;
      --proxy-remote) need_arg "$1" $#; remote=$2; shift ;;
      --proxy-user) need_arg "$1" $#; puser=$2; shift ;;
      --proxy-password) need_arg "$1" $#; ppassword=$2; shift ;;
      --tls-cert) need_arg "$1" $#; tls_cert=$2; shift ;;
      --tls-key) need_arg "$1" $#; tls_key=$2; shift ;;
      -h|--help) usage; exit 0 ;;
      *) die "start: unknown argument '$1' (see --help)" ;;
    esac
    shift
  done

  [[ -z $tls_cert && -z $tls_key || -n $tls_cert && -n $tls_key ]] || die "--tls-cert and --tls-key go together"
  if [[ -n $addr ]]; then
    [[ $addr =~ ^(.*):([0-9]+)$ ]] || die "--addr '$addr' is not HOST:PORT"
    [[ -z $port || $port == "${BASH_REMATCH[2]}" ]] || die "--port $port disagrees with --addr $addr"
    port=${BASH_REMATCH[2]}
  else
    [[ -n $port ]] || die "start needs --port PORT (or --addr HOST:PORT)"
    addr=127.0.0.1:$port
  fi
  if [[ ! $port =~ ^[0-9]{1,5}$ ]] || ((port < 1 || port > 65535)); then
    die "bad port '$port'"
  fi

  case "$auth" in
    none)
      [[ -z $user && -z $password ]] || die "--user/--password need --auth htpasswd" ;;
    htpasswd)
      [[ -n $user && -n $password ]] || die "--auth htpasswd needs --user U and --password P"
      [[ $user != *:* ]] || die "--user must not contain ':'" ;;
    token)
      [[ -n $realm && -n $service && -n $issuer && -n $cert ]] \
        || die "--auth token needs --token-realm, --token-service, --token-issuer and --token-cert"
      [[ -r $cert ]] || die "--token-cert '$cert' is not a readable file"
      cert=$(realpath -- "$cert") ;;
    *) die "--auth must be none, htpasswd or token (got '$auth')" ;;
  esac
  if [[ $auth != token && -n $realm$service$issuer$cert ]]; then
    die "--token-* options need --auth token"
  fi
  if [[ -z $remote && -n $puser$ppassword ]]; then
    die "--proxy-user/--proxy-password need --proxy-remote"
  fi
  [[ -z $remote || $remote =~ ^https?:// ]] || die "--proxy-remote '$remote' must be an http(s):// URL"

  for c in docker-registry curl jq setsid; do
    command -v "$c" >/dev/null 2>&1 || die "'$c' not found (run cluster/deps.sh)"
  done
  if [[ $auth == htpasswd ]]; then
    command -v htpasswd >/dev/null 2>&1 || die "'htpasswd' not found (run cluster/deps.sh)"
  fi

  mkdir -p -- "$dir"
  dir=$(cd -- "$dir" && pwd -P)
  local pid
  if pid=$(running_pid "$dir"); then
    die "a registry is already running for $dir (pid $pid)"
  fi
  mkdir -p -- "$dir/data"
  local secret
  secret=$(head -c 24 /dev/urandom | od -An -tx1 -v | tr -d ' \n')

  {
    echo "version: 0.1"
    echo "log:"
    echo "  level: info"
    echo "  formatter: text"
    echo "  accesslog:"
    echo "    disabled: false"
    echo "storage:"
    echo "  filesystem:"
    echo "    rootdirectory: $(yaml_str "$dir/data")"
    echo "  delete:"
    echo "    enabled: true"
    echo "http:"
    echo "  addr: $(yaml_str "$addr")"
    # A fixed per-DIR secret (uploads are signed with it) avoids a startup warning.
    echo "  secret: $(yaml_str "$secret")"
    if [[ -n $tls_cert ]]; then
      echo "  tls:"
      echo "    certificate: $(yaml_str "$tls_cert")"
      echo "    key: $(yaml_str "$tls_key")"
    fi
    case "$auth" in
      htpasswd)
        echo "auth:"
        echo "  htpasswd:"
        echo "    realm: $(yaml_str "ferry-registry")"
        echo "    path: $(yaml_str "$dir/htpasswd")" ;;
      token)
        echo "auth:"
        echo "  token:"
        echo "    realm: $(yaml_str "$realm")"
        echo "    service: $(yaml_str "$service")"
        echo "    issuer: $(yaml_str "$issuer")"
        echo "    rootcertbundle: $(yaml_str "$cert")" ;;
    esac
    if [[ -n $remote ]]; then
      echo "proxy:"
      echo "  remoteurl: $(yaml_str "$remote")"
      [[ -z $puser ]] || echo "  username: $(yaml_str "$puser")"
      [[ -z $ppassword ]] || echo "  password: $(yaml_str "$ppassword")"
    fi
  } >"$dir/config.yml"

  if [[ $auth == htpasswd ]]; then
    (umask 077 && htpasswd -nbB "$user" "$password" >"$dir/htpasswd")
  else
    rm -f -- "$dir/htpasswd"
  fi

  local url code
  url=$(probe_url "$dir")
  code=$(http_code "$url/v2/")
  [[ $code == 000 ]] || die "something already answers on $url (HTTP $code); pick another port"

  # Detached: own session, no inherited stdio (a caller's $(...) must not wait for it).
  setsid docker-registry serve "$dir/config.yml" >>"$dir/registry.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$dir/registry.pid"

  local deadline=$((SECONDS + START_TIMEOUT))
  while :; do
    code=$(http_code "$url/v2/")
    [[ $code == 200 || $code == 401 ]] && break
    if ! pid_alive "$pid"; then
      tail -n 20 -- "$dir/registry.log" >&2 || true
      rm -f -- "$dir/registry.pid"
      die "docker-registry exited during startup (log: $dir/registry.log)"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 20 -- "$dir/registry.log" >&2 || true
      kill -TERM "$pid" 2>/dev/null || true
      rm -f -- "$dir/registry.pid"
      die "registry at $url not ready after ${START_TIMEOUT} s (last HTTP $code; log: $dir/registry.log)"
    fi
    sleep 0.1
  done
  echo "$url"
}

cmd_stop() {
  [[ $# -eq 1 ]] || die "usage: $PROG stop DIR"
  local dir=$1 pid
  [[ -d $dir ]] || return 0
  if ! pid=$(running_pid "$dir"); then
    rm -f -- "$dir/registry.pid"
    return 0
  fi
  stop_pid "$pid" "$STOP_TIMEOUT" registry
  rm -f -- "$dir/registry.pid"
}

cmd_status() {
  [[ $# -eq 1 ]] || die "usage: $PROG status DIR"
  local pid
  pid=$(running_pid "$1") || { echo "not running"; return 1; }
  echo "running pid $pid $(probe_url "$1")"
}

cmd_blob_gets() {
  local bytes=0 dir="" digest="" a
  for a in "$@"; do
    case "$a" in
      --bytes) bytes=1 ;;
      -*) die "blob-gets: unknown option '$a' (see --help)" ;;
      *)
        if [[ -z $dir ]]; then dir=$a
        elif [[ -z $digest ]]; then digest=$a
        else die "usage: $PROG blob-gets DIR [--bytes] [DIGEST]"
        fi ;;
    esac
  done
  [[ -n $dir ]] || die "usage: $PROG blob-gets DIR [--bytes] [DIGEST]"
  local log=$dir/registry.log
  [[ -f $log ]] || die "no access log at $log"
  if [[ -n $digest && ! $digest =~ ^sha256:[a-f0-9]{64}$ ]]; then
    die "DIGEST must be sha256:<64 hex>, got '$digest'"
  fi
  # distribution 2.8.2 writes an Apache combined-format access log line per request
  # (besides its logrus "response completed" lines), e.g.
  # 127.0.0.1 - - [29/Nov/2026:02:23:56 +0000] "GET /v2/a/b/blobs/sha256:ab.. HTTP/1.1" 200 1234 "" "curl/7.88.1"
  # The byte count is what was actually written: an aborted download still logs 200.
  sed -nE 's@.*"GET /v2/[^ "]+/blobs/(sha256:[a-f0-9]{64}) HTTP/[0-9.]+" (200|206) ([0-9]+|-) .*@\1 \3@p' "$log" \
    | awk -v want="$digest" -v bytes="$bytes" '
        want == "" || $1 == want { n[$1]++; b[$1] += ($2 == "-" ? 0 : $2) }
        END {
          if (want != "") {
            if (bytes) printf "%d %.0f\n", n[want], b[want]; else print n[want] + 0
            exit
          }
          # %.0f: mawk prints sums past 2^31 as 3.56e+09 and clamps %d there.
          for (d in n) if (bytes) printf "%d %.0f %s\n", n[d], b[d], d; else print n[d], d
        }' \
    | if [[ -n $digest ]]; then cat; else sort -k"$((2 + bytes))"; fi
}

(($#)) || die "missing command: start, stop, status or blob-gets (see --help)"
sub=$1
shift
case "$sub" in
  start) cmd_start "$@" ;;
  stop) cmd_stop "$@" ;;
  status) cmd_status "$@" ;;
  blob-gets) cmd_blob_gets "$@" ;;
  -h|--help|help) usage ;;
  *) die "unknown command '$sub' (start, stop, status, blob-gets; see --help)" ;;
esac
