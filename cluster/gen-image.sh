#!/usr/bin/env bash
# gen-image.sh - write a deterministic `docker save`-style image archive for tests.
set -euo pipefail
shopt -s inherit_errexit

readonly PROG="${0##*/}"
readonly EPOCH="1970-01-01T00:00:00Z"
# ustar stores sizes in 11 octal digits: a member must stay below 8 GiB.
readonly MAX_LAYER_SIZE=$((8 * 1024 * 1024 * 1024 - 64 * 1024))
readonly TAR_OPTS=(--sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=ustar)

usage() {
  cat <<USAGE
Usage: $PROG --out FILE.tar --tag REPO:TAG [--arch ARCH] [--variant V] [--busybox]
                   [--layer SEED:SIZE]... [--cmd 'SHELL COMMAND']

Writes a docker-save style archive (manifest.json, <sha256>.json config, one
uncompressed <diffid>/layer.tar per layer). The same arguments always produce
byte-identical layers, config and archive.

  --out FILE          archive to write (replaced atomically)
  --tag REPO:TAG      RepoTags entry, e.g. ferry/test:1
  --arch ARCH         config architecture (default amd64): amd64, arm64, arm, ...
  --variant V         config variant, e.g. v8 or v7 (default: none)
  --busybox           first layer: /bin/busybox (static, from busybox-static) with
                      /bin/sh, echo, cat, ls, sha256sum symlinks
  --layer SEED:SIZE   a layer with one file /data/SEED.bin of SIZE bytes of
                      pseudo-random data derived from SEED (repeatable, in order).
                      SIZE: 512, 64K, 4M, 1G, 64KiB, 4MiB, 1GiB (binary units)
  --cmd 'CMD'         Cmd is ["/bin/sh","-c",CMD]
                      (default: echo ferry-image REPO:TAG ok)
  -h, --help          show this help

At least one --layer or --busybox is required. Environment: BUSYBOX overrides the
busybox binary; temporary files go next to FILE.

Example:
  $PROG --out /tmp/a.tar --tag ferry/a:1 --busybox --layer base:4M --layer a:64K
USAGE
}

die() { echo "$PROG: $*" >&2; exit 1; }

need_arg() { (($2 >= 2)) || die "$1 needs a value (see --help)"; }

# parse_size SIZE -> bytes on stdout
parse_size() {
  local s=$1 num unit mult
  [[ $s =~ ^([0-9]{1,12})([A-Za-z]*)$ ]] || return 1
  num=$((10#${BASH_REMATCH[1]}))
  unit=${BASH_REMATCH[2],,}
  case "$unit" in
    ''|b) mult=1 ;;
    k|kb|kib) mult=1024 ;;
    m|mb|mib) mult=$((1024 * 1024)) ;;
    g|gb|gib) mult=$((1024 * 1024 * 1024)) ;;
    *) return 1 ;;
  esac
  echo $((num * mult))
}

out="" tag="" arch="amd64" variant="" busybox=0 cmd=""
layer_specs=()
while (($#)); do
  case "$1" in
    --out) need_arg "$1" $#; out=$2; shift ;;
    --tag) need_arg "$1" $#; tag=$2; shift ;;
    --arch) need_arg "$1" $#; arch=$2; shift ;;
    --variant) need_arg "$1" $#; variant=$2; shift ;;
    --busybox) busybox=1 ;;
    --layer) need_arg "$1" $#; layer_specs+=("$2"); shift ;;
    --cmd) need_arg "$1" $#; cmd=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done

[[ -n $out ]] || die "--out FILE.tar is required (see --help)"
[[ -n $tag ]] || die "--tag REPO:TAG is required (see --help)"
((busybox || ${#layer_specs[@]})) || die "need at least one --layer SEED:SIZE or --busybox"
# REPO[:TAG] with an optional registry host[:port]/ prefix; the tag is mandatory here.
readonly name_re='^([A-Za-z0-9.-]+(:[0-9]+)?/)?[a-z0-9]+([._-]+[a-z0-9]+)*(/[a-z0-9]+([._-]+[a-z0-9]+)*)*:[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$'
[[ $tag =~ $name_re ]] || die "--tag '$tag' is not a valid REPO:TAG"
[[ $arch =~ ^[a-z0-9_]+$ ]] || die "--arch '$arch' is not a valid architecture"
[[ -z $variant || $variant =~ ^[a-z0-9_]+$ ]] || die "--variant '$variant' is not valid"
[[ -z $cmd ]] && cmd="echo ferry-image $tag ok"

seeds=() sizes=()
for spec in "${layer_specs[@]}"; do
  [[ $spec == *:* ]] || die "--layer '$spec' is not SEED:SIZE"
  seed=${spec%%:*}
  [[ $seed =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,80}$ ]] \
    || die "--layer '$spec': SEED must be [A-Za-z0-9._-], at most 81 characters"
  size=$(parse_size "${spec#*:}") || die "--layer '$spec': bad SIZE (use e.g. 512, 64K, 4M, 1G, 4MiB)"
  ((size <= MAX_LAYER_SIZE)) || die "--layer '$spec': SIZE must be below 8 GiB"
  seeds+=("$seed")
  sizes+=("$size")
done

for c in openssl jq sha256sum tar od awk; do
  command -v "$c" >/dev/null 2>&1 || die "'$c' not found (run cluster/deps.sh)"
done
if ((busybox)); then
  bb=${BUSYBOX:-$(command -v busybox || true)}
  [[ -n $bb && -x $bb ]] || die "busybox not found (install busybox-static: cluster/deps.sh)"
  # The image has no libc: the binary must be static (Debian busybox-static, not busybox).
  if command -v ldd >/dev/null 2>&1 && ldd "$bb" 2>/dev/null | grep -q '=>'; then
    die "$bb is dynamically linked; install busybox-static (or set BUSYBOX=/path/to/static/busybox)"
  fi
fi

out_dir=$(dirname -- "$out")
[[ -d $out_dir ]] || die "directory '$out_dir' for --out does not exist"
work=$(mktemp -d "$out_dir/.gen-image.XXXXXX")
cleanup() { rm -rf -- "$work"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
umask 022
stage=$work/stage
mkdir "$stage"

# field VALUE WIDTH: VALUE padded with NULs to WIDTH bytes.
field() {
  printf '%s' "$1"
  head -c $(($2 - ${#1})) /dev/zero
}

# ustar_header NAME MODE SIZE TYPEFLAG [CHKSUM]: one 512-byte header as GNU tar
# --format=ustar --numeric-owner --mtime=@0 writes it; without CHKSUM the checksum
# field holds 8 spaces (as when computing it).
ustar_header() {
  field "$1" 100
  printf '%07o\0%07o\0%07o\0%011o\0%011o\0' "$2" 0 0 "$3" 0
  if (($# >= 5)); then printf '%06o\0 ' "$5"; else printf '        '; fi
  printf '%s' "$4"
  field "" 100                     # linkname
  printf 'ustar\0%s' 00            # magic "ustar\0", version "00"
  field "" 64                      # uname, gname
  printf '%07o\0%07o\0' 0 0        # devmajor, devminor
  field "" 167                     # prefix, padding
}

ustar_entry_header() {
  local sum
  sum=$(ustar_header "$@" | od -An -v -tu1 | awk '{for (i = 1; i <= NF; i++) s += $i} END {print s}')
  ustar_header "$@" "$sum"
}

# random_layer SEED SIZE: the layer tar (data/, data/SEED.bin) on stdout,
# streamed without a temporary copy of the data.
random_layer() {
  local seed=$1 size=$2 written
  ustar_entry_header "data/" $((8#755)) 0 5
  ustar_entry_header "data/$seed.bin" $((8#644)) "$size" 0
  # openssl gets SIGPIPE when head has enough; the caller checks the size.
  head -c "$size" < <(openssl enc -aes-256-ctr -pass "pass:$seed" -nosalt -pbkdf2 -iter 1 \
    </dev/zero 2>/dev/null)
  # pad the file to 512 bytes, two zero end blocks, then to GNU tar's 10240-byte record
  written=$((1024 + (size + 511) / 512 * 512 + 1024))
  head -c $(((size + 511) / 512 * 512 - size + 1024 + (10240 - written % 10240) % 10240)) /dev/zero
}

busybox_layer() {
  local root=$work/busybox-root app
  mkdir -p "$root/bin"
  cp -- "$bb" "$root/bin/busybox"
  chmod 0755 "$root/bin" "$root/bin/busybox"
  for app in sh echo cat ls sha256sum; do
    ln -s busybox "$root/bin/$app"
  done
  tar "${TAR_OPTS[@]}" -C "$root" -cf - bin
}

diff_ids=()
layer_paths=()
# add_layer FUNC ARGS...: run FUNC to produce a layer tar, store it as <diffid>/layer.tar.
add_layer() {
  local tmp=$work/layer.tmp hex
  "$@" | tee "$tmp" | sha256sum >"$work/layer.sha"
  hex=$(cut -d' ' -f1 "$work/layer.sha")
  if [[ -e $stage/$hex/layer.tar ]]; then
    rm -f -- "$tmp"
  else
    mkdir -p "$stage/$hex"
    mv -- "$tmp" "$stage/$hex/layer.tar"
  fi
  diff_ids+=("sha256:$hex")
  layer_paths+=("$hex/layer.tar")
}

if ((busybox)); then
  add_layer busybox_layer
fi
for i in "${!seeds[@]}"; do
  add_layer random_layer "${seeds[i]}" "${sizes[i]}"
  want=$((1024 + (sizes[i] + 511) / 512 * 512 + 1024))
  want=$((want + (10240 - want % 10240) % 10240))
  got=$(stat -c %s "$stage/${layer_paths[-1]}")
  ((got == want)) || die "layer ${seeds[i]}: wrote $got bytes, expected $want (openssl failed?)"
done

config=$(jq -cnj \
  --arg arch "$arch" --arg variant "$variant" --arg created "$EPOCH" --arg cmd "$cmd" \
  --args '{
    architecture: $arch,
    os: "linux"
  }
  + (if $variant == "" then {} else {variant: $variant} end)
  + {
    created: $created,
    config: {Cmd: ["/bin/sh", "-c", $cmd], Env: ["PATH=/bin"]},
    rootfs: {type: "layers", diff_ids: $ARGS.positional},
    history: [range(0; $ARGS.positional | length)
              | {created: $created, created_by: "ferry gen-image layer \(. + 1)"}]
  }' "${diff_ids[@]}")
config_hex=$(printf '%s' "$config" | sha256sum | cut -d' ' -f1)
printf '%s' "$config" >"$stage/$config_hex.json"

jq -cnj --arg config "$config_hex.json" --arg tag "$tag" \
  '[{Config: $config, RepoTags: [$tag], Layers: $ARGS.positional}]' \
  --args "${layer_paths[@]}" >"$stage/manifest.json"

mapfile -t members < <(cd "$stage" && ls -1)
tar "${TAR_OPTS[@]}" -C "$stage" -cf "$work/out.tar" -- "${members[@]}"
mv -- "$work/out.tar" "$out"
