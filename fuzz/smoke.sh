#!/usr/bin/env bash
# Fuzz smoke run: builds every target once, then runs each for SECS seconds
# (default 60) with debug assertions on. Exits non-zero if any target finds
# a crash (the reproducer is left in fuzz/artifacts/<target>/).
#
# Usage: fuzz/smoke.sh [SECS]     (needs nightly and cargo-fuzz)
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-60}"

cargo +nightly fuzz build --debug-assertions

failed=()
for target in $(cargo +nightly fuzz list); do
    # The corpus grows in fuzz/corpus/<target> (gitignored); the tiny
    # committed seeds, if any, are read as a second corpus.
    corpora=("corpus/$target")
    mkdir -p "corpus/$target"
    if [ -d "seeds/$target" ]; then
        corpora+=("seeds/$target")
    fi
    printf '\n=== fuzz %s for %ss\n' "$target" "$secs"
    if ! cargo +nightly fuzz run --debug-assertions "$target" "${corpora[@]}" -- \
        -max_total_time="$secs" -rss_limit_mb=4096 -print_final_stats=1; then
        failed+=("$target")
    fi
done

if [ "${#failed[@]}" -ne 0 ]; then
    printf '\nfuzz targets that crashed: %s\n' "${failed[*]}" >&2
    exit 1
fi
printf '\nall fuzz targets ran %ss without a crash\n' "$secs"
