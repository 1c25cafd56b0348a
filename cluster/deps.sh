#!/usr/bin/env bash
# deps.sh - make sure the programs the Ferry cluster scripts and tests need are installed.
# Idempotent: a fast no-op when everything is present.
set -euo pipefail
shopt -s inherit_errexit

readonly PROG="${0##*/}"

usage() {
  cat <<USAGE
Usage: $PROG [--check] [--dev] [--package]

Checks for docker-registry, skopeo, dockerd, the PostgreSQL server (initdb, pg_ctl), containerd and ctr, busybox (busybox-static), htpasswd, systemd-analyze,
jq, openssl, curl, ip, tc, zstd, the sqlite3 and libcurl development headers and
ca-certificates. If anything is missing, runs 'apt-get update' once and installs
the Debian packages (via sudo when not root).

  --check   only report what is missing; exit 1 if anything is, install nothing
  --dev     also require shellcheck (to lint these scripts)
  --package also require dpkg-dev, debootstrap, lintian and patchelf (make deb, make deb-test)
  -h, --help  show this help
USAGE
}

die() { echo "$PROG: $*" >&2; exit 1; }

check_only=0
dev=0
package=0
while (($#)); do
  case "$1" in
    --check) check_only=1 ;;
    --dev) dev=1 ;;
    --package) package=1 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done

readonly PACKAGES=(docker-registry skopeo docker.io containerd busybox-static apache2-utils jq openssl curl
  iproute2 procps libsqlite3-dev libcurl4-openssl-dev ca-certificates time rsync bc zstd systemd postgresql)

# Prints one line per missing item.
missing_items() {
  local cmd
  for cmd in docker-registry skopeo dockerd containerd ctr busybox htpasswd jq openssl curl ip tc rsync zstd pkill; do
    # ip/tc/dockerd live in /usr/sbin, which may not be on a non-root PATH.
    if ! command -v "$cmd" >/dev/null 2>&1 && [[ ! -x /usr/sbin/$cmd && ! -x /sbin/$cmd ]]; then
      echo "command $cmd"
    fi
  done
  # gen-image.sh needs a *static* busybox (Debian busybox-static) to run inside images.
  if [[ ! -x /bin/busybox ]] && ! dpkg -s busybox-static >/dev/null 2>&1; then
    echo "package busybox-static"
  fi
  [[ -f /usr/include/sqlite3.h ]] || echo "header sqlite3.h (libsqlite3-dev)"
  if [[ ! -f /usr/include/x86_64-linux-gnu/curl/curl.h && ! -f /usr/include/curl/curl.h ]] \
     && ! dpkg -s libcurl4-openssl-dev >/dev/null 2>&1; then
    echo "header curl/curl.h (libcurl4-openssl-dev)"
  fi
  [[ -f /etc/ssl/certs/ca-certificates.crt ]] || echo "package ca-certificates"
  # ProxyTests+Postgres start their own PostgreSQL server (initdb, pg_ctl) for two proxy replicas.
  compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null || echo "command pg_ctl (postgresql)"
  [[ -x /usr/bin/time ]] || echo "package time"
  command -v bc >/dev/null 2>&1 || echo "package bc"
  # The unit tests run systemd-analyze verify on packaging/systemd/*.service.
  [[ -x /usr/bin/systemd-analyze || -x /bin/systemd-analyze ]] || echo "command systemd-analyze (systemd)"
  if ((dev)) && ! command -v shellcheck >/dev/null 2>&1; then
    echo "command shellcheck"
  fi
  if ((package)); then
    for cmd in dpkg-shlibdeps debootstrap lintian strip patchelf; do
      command -v "$cmd" >/dev/null 2>&1 || [[ -x /usr/sbin/$cmd ]] || echo "command $cmd"
    done
  fi
}

mapfile -t missing < <(missing_items)
if ((${#missing[@]} == 0)); then
  exit 0
fi

joined=$(printf '%s, ' "${missing[@]}")
echo "$PROG: missing: ${joined%, }" >&2
if ((check_only)); then
  exit 1
fi

sudo_cmd=()
if ((EUID != 0)); then
  command -v sudo >/dev/null 2>&1 || die "not root and sudo is not available; install: ${PACKAGES[*]}"
  sudo_cmd=(sudo)
fi
command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install manually: ${PACKAGES[*]}"

pkgs=("${PACKAGES[@]}")
if ((dev)); then
  pkgs+=(shellcheck)
fi
if ((package)); then
  pkgs+=(dpkg-dev debootstrap lintian binutils patchelf)
fi

"${sudo_cmd[@]}" apt-get update
"${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y --no-install-recommends "${pkgs[@]}"

mapfile -t missing < <(missing_items)
if ((${#missing[@]})); then
  die "still missing after install: ${missing[*]}"
fi
