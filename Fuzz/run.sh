#!/usr/bin/env bash
# Builds the fuzz targets (Fuzz/Package.swift) and runs each with libFuzzer for a bounded time;
# see docs/fuzzing.md. Exits non-zero if any target crashed, hung or ran out of memory.
#
#   FUZZ_SECONDS   seconds per target (default 60)
#   FUZZ_TARGETS   space-separated subset (default: every target in Fuzz/Targets)
#   FUZZ_SCRATCH   SwiftPM scratch path (default .build-fuzz, gitignored)
#   FUZZ_OUT       working corpora, logs and crash files (default $FUZZ_SCRATCH/findings)
#   FUZZ_FLAGS     extra libFuzzer flags (e.g. -max_len=8192)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
scratch=${FUZZ_SCRATCH:-.build-fuzz}
out=${FUZZ_OUT:-$scratch/findings}
targets=${FUZZ_TARGETS:-$(ls Fuzz/Targets)}
swift=${SWIFT:-swift}

# Every Swift module of the fuzz executables is compiled with coverage instrumentation and ASan:
# the harnesses, the project's targets they use (through the root package's library products)
# and the Swift code of swift-crypto and NIOCore. The flags reach dependencies only from the
# command line, never from a manifest, so this is the build to use.
build=($swift build --package-path Fuzz --scratch-path "$scratch" -c release -Xswiftc -sanitize=fuzzer,address)

echo "==> building fuzz targets (scratch $scratch)"
# ld.gold warns once per executable about an ASan symbol it cannot export; nothing to act on.
"${build[@]}" 2>&1 | grep -v "__asan_extra_spill_area" || true
bin=$("${build[@]}" --show-bin-path)
for target in $targets; do
    [[ -x "$bin/fuzz-$target" ]] || { echo "error: no fuzz target '$target' (is it in Fuzz/Package.swift?)" >&2; exit 2; }
done

# Let ASan and libFuzzer report a trap themselves: the Swift runtime's backtracer would catch it
# first and trip over ASan's shadow memory.
export SWIFT_BACKTRACE=enable=no
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}

failed=0
summary=()
for target in $targets; do
    work="$out/$target"
    mkdir -p "$work/corpus" "$work/crashes"
    echo "==> fuzz-$target for ${seconds}s"
    status=0
    # The first directory receives new inputs; the seeds in Fuzz/corpus are only read.
    # shellcheck disable=SC2086
    "$bin/fuzz-$target" "$work/corpus" "Fuzz/corpus/$target" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$work/crashes/" ${FUZZ_FLAGS:-} >"$work/log" 2>&1 || status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
    coverage=$(grep -oE 'cov: [0-9]+' "$work/log" | tail -1 | cut -d' ' -f2)
    if [[ $status -eq 0 ]]; then
        result="ok"
    else
        failed=1
        artifact=$(grep -oE "Test unit written to .*" "$work/log" | tail -1 | sed 's/Test unit written to //')
        result="FAILED (exit $status) ${artifact:-see $work/log}"
        grep -E "invariant violated|Fatal error|runtime failure|ERROR: libFuzzer|ERROR: AddressSanitizer" "$work/log" | head -3 | sed 's/^/    /'
    fi
    summary+=("$(printf '%-20s %12s runs  cov %6s  %s' "$target" "${runs:-?}" "${coverage:-?}" "$result")")
done

echo
echo "==> fuzz summary (${seconds}s per target; logs, corpora and crashes in $out)"
printf '%s\n' "${summary[@]}"
if [[ $failed -ne 0 ]]; then
    echo "Reproduce a crash with: SWIFT_BACKTRACE=enable=no $bin/fuzz-<target> <crash file>"
fi
exit $failed
