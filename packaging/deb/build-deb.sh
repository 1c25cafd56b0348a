#!/usr/bin/env bash
# build-deb.sh - build .build/ferry_<version>_<arch>.deb from the release binary.
#
# Usage: packaging/deb/build-deb.sh   (from the repository root; `make deb` runs it)
# Needs: swift, dpkg-dev (dpkg-shlibdeps, dpkg-deb), binutils (strip), gzip.
# The release build (--static-swift-stdlib) is redone only when a source is newer than the binary.
set -euo pipefail
shopt -s inherit_errexit

die() { echo "build-deb.sh: $*" >&2; exit 1; }
[[ -f Package.swift ]] || die "run from the repository root"

SWIFT=${SWIFT:-swift}
bin=.build/release/ferry
shlibdeps_flags=()
if [[ -n ${FERRY_DEB_BINARY:-} ]]; then
  # Checking these scripts only: package another binary (e.g. .build/debug/ferry, which needs the
  # toolchain's Swift runtime; test-deb.sh then needs FERRY_DEB_SWIFT_RUNTIME=1). Not for shipping.
  bin=$FERRY_DEB_BINARY
  shlibdeps_flags=(--ignore-missing-info)
elif [[ ! -x $bin ]] || [[ -n $(find Sources Package.swift -newer "$bin" -print -quit) ]]; then
  "$SWIFT" build -c release --static-swift-stdlib --product ferry
fi
[[ -x $bin ]] || die "no $bin after the release build"

version=$("$bin" --version)
maintainer=${DEB_MAINTAINER:-Ferry maintainers <ferry-maintainers@example.org>}
arch=$(dpkg --print-architecture)
deb=.build/ferry_${version}_${arch}.deb
root=.build/deb/root
rm -rf .build/deb
mkdir -p "$root/DEBIAN"

# The binary, stripped (the Swift runtime is linked in statically).
install -D -m 0755 "$bin" "$root/usr/bin/ferry"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root/usr/bin/ferry"
# The toolchain's RUNPATH is useless once the runtime is static (and a lintian error); a debug
# binary being checked keeps it, since it needs the toolchain's runtime.
[[ -n ${FERRY_DEB_BINARY:-} ]] || patchelf --remove-rpath "$root/usr/bin/ferry"
# Lintian overrides, each with its reason (packaging/deb/lintian-overrides).
install -D -m 0644 packaging/deb/lintian-overrides "$root/usr/share/lintian/overrides/ferry"

# Units.
for unit in packaging/systemd/*.service; do
  install -D -m 0644 "$unit" "$root/lib/systemd/system/${unit##*/}"
done

# Commented default configurations, from the binary's own defaults (--print-config), so that
# they never drift from the code: the data directory is set, everything else commented.
comment_config() { # ROLE DATA_DIR ARGS...  (the proxy's command is `ferry proxy serve`)
  local role=$1 data=$2; shift 2
  local -a command=("$role")
  [[ $role == proxy ]] && command=(proxy serve)
  local name="${command[*]}"
  printf '%s\n' \
    "# /etc/ferry/$role.toml: settings of \`ferry ${command[*]}\` (the ferry-$role service)." \
    "# Every key is a long option of \`ferry ${command[*]} --help\` without its dashes. Options on the" \
    "# command line and FERRY_* variables override this file. The commented values are the defaults;" \
    "# \`ferry ${command[*]} --config /etc/ferry/$role.toml --print-config\` shows the effective settings." \
    "# See /usr/share/doc/ferry and man ferry-${name// /-}."
  "$bin" "${command[@]}" --data-dir "$data" "$@" --print-config | sed -E \
    -e "s|^data-dir = .*|data-dir = \"$data\"|" \
    -e '/^(data-dir|#)/!s/^/# /'
}
install -d -m 0755 "$root/etc/ferry"
comment_config leader /var/lib/ferry/leader > "$root/etc/ferry/leader.toml"
{
  comment_config follower /var/lib/ferry/follower --leader https://LEADER:5050
} | sed -e 's|^# leader = .*|# Required: the leader'"'"'s URL.\n# leader = "https://LEADER:5050"|' \
        -e 's|^# join-token-file: not set|# Until the node has joined: a file (mode 0600, owner ferry) with a join token from `ferry token create`.\n# join-token-file = "/etc/ferry/join-token"|' \
  > "$root/etc/ferry/follower.toml"
comment_config proxy /var/lib/ferry/proxy > "$root/etc/ferry/proxy.toml"
chmod 0644 "$root"/etc/ferry/*.toml
(cd "$root" && find etc -type f | sort | sed 's|^|/|') > "$root/DEBIAN/conffiles"

# Man pages (ArgumentParser's manual generator, run offline on the built binary).
mandir=.build/deb/man
if packaging/deb/man-pages.sh "$bin" "$mandir"; then
  for page in "$mandir"/*.1; do
    install -D -m 0644 "$page" "$root/usr/share/man/man1/${page##*/}"
    gzip -9n "$root/usr/share/man/man1/${page##*/}"
  done
else
  die "man pages could not be generated (see above)"
fi

# Shell completions.
install -d "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions"
"$bin" --generate-completion-script bash > "$root/usr/share/bash-completion/completions/ferry"
"$bin" --generate-completion-script zsh > "$root/usr/share/zsh/vendor-completions/_ferry"
chmod 0644 "$root/usr/share/bash-completion/completions/ferry" "$root/usr/share/zsh/vendor-completions/_ferry"

# Documentation.
doc=$root/usr/share/doc/ferry
install -D -m 0644 packaging/deb/copyright "$doc/copyright"
{
  echo "ferry ($version) unstable; urgency=medium"
  echo
  echo "  * Release $version."
  echo
  echo " -- $maintainer  $(date -R -u -d @"${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}")"
} | gzip -9n > "$doc/changelog.gz"   # a native package (no Debian revision): changelog.gz
chmod 0644 "$doc/changelog.gz"

# Maintainer scripts.
install -m 0755 packaging/deb/postinst packaging/deb/postrm "$root/DEBIAN/"

# Depends: the shared libraries the binary needs, as dpkg-shlibdeps computes them.
work=.build/deb/shlibdeps
mkdir -p "$work/debian"
printf 'Source: ferry\n\nPackage: ferry\nArchitecture: any\n' > "$work/debian/control"
depends=$(cd "$work" && dpkg-shlibdeps "${shlibdeps_flags[@]}" -O -e"$OLDPWD/$root/usr/bin/ferry" | sed -n 's/^shlibs:Depends=//p')
[[ -n $depends ]] || die "dpkg-shlibdeps found no dependencies"

size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: ferry
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $size
Depends: adduser, $depends
Recommends: docker.io | docker-ce
Section: admin
Priority: optional
Description: container image distribution for on-prem clusters
 Ferry fetches each layer of a vendor's images from upstream once, on a
 leader, and spreads it to the cluster's nodes over a TLS mesh, where
 followers verify the images and load them into Docker.
CONTROL

(cd "$root" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum) > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums" "$root/DEBIAN/control" "$root/DEBIAN/conffiles"
find "$root" -type d -exec chmod 0755 {} +
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
