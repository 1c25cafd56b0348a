#!/usr/bin/env bash
# push-image.sh - push a docker-save archive to a plain-HTTP registry with skopeo.
set -euo pipefail
shopt -s inherit_errexit

readonly PROG="${0##*/}"

usage() {
  cat <<USAGE
Usage: $PROG ARCHIVE HOST:PORT/REPO:TAG [--oci] [--creds USER:PASS]

Pushes a docker-archive (e.g. from gen-image.sh) with 'skopeo copy' over plain
HTTP. Layers are gzip-compressed by skopeo. Quiet unless it fails; prints the
pushed manifest digest (sha256:...) on stdout.

  --oci               push an OCI manifest (skopeo --format oci) instead of
                      Docker schema 2
  --creds USER:PASS   credentials for the destination registry
  -h, --help          show this help

Example:
  $PROG /tmp/a.tar 127.0.0.1:5000/ferry/a:1 --creds ferry:secret
USAGE
}

die() { echo "$PROG: $*" >&2; exit 1; }

oci=0 creds="" positional=()
while (($#)); do
  case "$1" in
    --oci) oci=1 ;;
    --creds)
      (($# >= 2)) || die "--creds needs USER:PASS (see --help)"
      creds=$2
      shift ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) positional+=("$1") ;;
  esac
  shift
done

((${#positional[@]} == 2)) || die "need ARCHIVE and HOST:PORT/REPO:TAG (see --help)"
archive=${positional[0]} dest=${positional[1]}
[[ -f $archive && -r $archive ]] || die "archive '$archive' is not a readable file"
readonly dest_re='^[A-Za-z0-9.-]+(:[0-9]+)?/[a-z0-9]+([._-]+[a-z0-9]+)*(/[a-z0-9]+([._-]+[a-z0-9]+)*)*:[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$'
[[ $dest =~ $dest_re ]] || die "destination '$dest' is not HOST:PORT/REPO:TAG"
[[ -z $creds || $creds == ?*:* ]] || die "--creds must be USER:PASS"
command -v skopeo >/dev/null 2>&1 || die "'skopeo' not found (run cluster/deps.sh)"

work=$(mktemp -d "${TMPDIR:-/tmp}/push-image.XXXXXX")
trap 'rm -rf -- "$work"' EXIT

global=()
# Without a signature policy skopeo refuses to copy; Debian ships an accept-all one.
if [[ ! -f /etc/containers/policy.json && ! -f ${XDG_CONFIG_HOME:-$HOME/.config}/containers/policy.json ]]; then
  global+=(--insecure-policy)
fi
opts=(--quiet --dest-tls-verify=false --digestfile "$work/digest")
if ((oci)); then opts+=(--format oci); fi
if [[ -n $creds ]]; then opts+=(--dest-creds "$creds"); fi

if ! skopeo "${global[@]}" copy "${opts[@]}" "docker-archive:$archive" "docker://$dest" \
     >"$work/log" 2>&1; then
  cat -- "$work/log" >&2
  die "skopeo copy of $archive to $dest failed"
fi
digest=$(<"$work/digest")
[[ $digest =~ ^sha256:[a-f0-9]{64}$ ]] || die "skopeo wrote no valid digest (got '$digest')"
echo "$digest"
