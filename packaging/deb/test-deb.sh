#!/usr/bin/env bash
# test-deb.sh DEB - install the package into a fresh Debian 12 root and use it as an operator would.
#
# The root comes from debootstrap (its tarball cached in .build/debootstrap-bookworm.tgz), the
# package goes in with apt-get (which installs its Depends), then, inside the chroot:
# `ferry --version`, `ferry leader --help`, and a leader started with the ferry-leader unit's
# ExecStart line (without systemd) as the ferry user, from the packaged /etc/ferry/leader.toml,
# which must answer on its port. Last, lintian must report no error. Needs root.
set -euo pipefail
shopt -s inherit_errexit

die() { echo "test-deb.sh: $*" >&2; exit 1; }
deb=${1:?usage: test-deb.sh DEB}
[[ -f $deb ]] || die "$deb not found (make deb)"
((EUID == 0)) || die "needs root (debootstrap, chroot)"
start=$SECONDS

mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=.build/debootstrap-bookworm.tgz
root=$(mktemp -d /tmp/ferry-deb-root.XXXXXX)
chmod 0755 "$root" # the root of the chroot: the ferry user must traverse it
port=${FERRY_DEB_TEST_PORT:-15050}
cleanup() {
  if [[ -n ${leader_pid:-} ]]; then kill "$leader_pid" 2>/dev/null || true; wait "$leader_pid" 2>/dev/null || true; fi
  for mount in opt/swift proc dev/pts dev sys; do umount -l "$root/$mount" 2>/dev/null || true; done
  rm -rf --one-file-system "$root"
}
trap cleanup EXIT

if [[ ! -f $cache ]]; then
  echo "test-deb.sh: caching a Debian 12 root in $cache"
  tmp=$(mktemp -d /tmp/ferry-debootstrap.XXXXXX)
  debootstrap --variant=minbase --include=adduser,ca-certificates,curl --make-tarball="$PWD/$cache.part" bookworm "$tmp" "$mirror"
  rm -rf "$tmp"
  mv "$cache.part" "$cache"
fi
debootstrap --variant=minbase --include=adduser,ca-certificates,curl --unpack-tarball="$PWD/$cache" bookworm "$root" "$mirror" >/dev/null
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
mount -t sysfs sys "$root/sys"
cp /etc/resolv.conf "$root/etc/resolv.conf"
if [[ -n ${FERRY_DEB_SWIFT_RUNTIME:-} ]]; then
  # A package of a debug binary (FERRY_DEB_BINARY, checking the scripts): lend it the toolchain's runtime.
  mkdir -p "$root/opt/swift" && mount --bind -o ro /opt/swift "$root/opt/swift"
fi
echo "deb $mirror bookworm main" > "$root/etc/apt/sources.list"

cp "$deb" "$root/tmp/ferry.deb"
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"; }
in_root apt-get update -qq
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends /tmp/ferry.deb >/dev/null

echo "== ferry --version"; in_root ferry --version
echo "== ferry leader --help"; in_root ferry leader --help > "$root/tmp/leader-help.txt"; head -3 "$root/tmp/leader-help.txt"
in_root getent passwd ferry >/dev/null || die "postinst made no ferry user"
owner=$(in_root stat -c "%a %U" /var/lib/ferry); [[ $owner == "700 ferry" ]] || die "/var/lib/ferry is $owner, not 700 ferry"
[[ -f $root/usr/share/man/man1/ferry.1.gz && -f $root/usr/share/bash-completion/completions/ferry ]] || die "man page or completion missing"

# The unit's ExecStart line, as systemd would run it (as User=ferry), on a free port.
exec_start=$(sed -n 's/^ExecStart=//p' "$root/lib/systemd/system/ferry-leader.service")
echo "== $exec_start --listen 127.0.0.1:$port"
chroot --userspec=ferry:ferry "$root" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/var/lib/ferry \
  $exec_start --listen "127.0.0.1:$port" > "$root/tmp/leader.log" 2>&1 &
leader_pid=$!
for _ in $(seq 1 300); do
  if curl -skf "https://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
    answered=1; break
  fi
  kill -0 "$leader_pid" 2>/dev/null || break
  sleep 0.2
done
[[ ${answered:-0} == 1 ]] || { cat "$root/tmp/leader.log" >&2; die "the packaged leader did not answer on 127.0.0.1:$port"; }
echo "the packaged leader answers on 127.0.0.1:$port (data in /var/lib/ferry/leader)"
[[ -f $root/var/lib/ferry/leader/ca.pem ]] || die "no CA in the packaged data directory"
kill -TERM "$leader_pid"; wait "$leader_pid" || die "the leader did not stop cleanly on SIGTERM"
leader_pid=

echo "== lintian"
lintian --fail-on error --suppress-tags-from-file /dev/null "$deb" || die "lintian reports errors"
echo "test-deb.sh: passed in $((SECONDS - start)) s"
