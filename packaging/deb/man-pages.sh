#!/usr/bin/env bash
# man-pages.sh BINARY OUTDIR - man pages for every ferry subcommand, made by swift-argument-parser's
# generate-manual tool (the tool its GenerateManual plugin runs) on the built binary.
#
# The plugin itself (`swift package generate-manual`) rebuilds the whole package in its own
# configuration first; running its tool on the binary `make deb` already built avoids that second
# release build. The tool builds offline from the dependency's checkout in .build/checkouts.
set -euo pipefail

bin=$1 out=$2
SWIFT=${SWIFT:-swift}
checkout=.build/checkouts/swift-argument-parser
[[ -d $checkout ]] || { echo "man-pages.sh: $checkout missing (run swift package resolve)" >&2; exit 1; }
tools=.build/argument-parser-tools
"$SWIFT" build --package-path "$checkout" --scratch-path "$tools" -c release --product generate-manual >&2
rm -rf "$out" && mkdir -p "$out"
"$tools/release/generate-manual" "$bin" --output-directory "$out" --multi-page \
  --section 1 --authors "Ferry maintainers" >&2
ls "$out"/*.1 >/dev/null
