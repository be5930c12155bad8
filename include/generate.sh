#!/usr/bin/env bash
# Regenerates include/cymem.h from src/capi/mod.rs with cbindgen, then turns the
# Rust docs into C docs: drops the `# Examples` sections (Rust doctests, run
# by `cargo test --features capi`), unwraps [`links`] and spells statuses
# the C way. With --check, fails if the checked-in header differs.
set -euo pipefail
cd "$(dirname "$0")/.."

generated="$(mktemp)"
trap 'rm -f "$generated"' EXIT
cbindgen --quiet --config cbindgen.toml --output "$generated" src/capi/mod.rs
python3 - "$generated" <<'PY'
import re, sys

path = sys.argv[1]
out, skipping = [], False
for line in open(path).read().split("\n"):
    body = line.strip()
    if body == "* # Examples":
        skipping = True
        if out and out[-1].strip() == "*":
            out.pop()  # the blank comment line before the section
        continue
    if skipping and body != "*/":
        continue
    skipping = False
    line = re.sub(r"\[`([^`]+)`\](\([^)]*\))?", r"`\1`", line)
    line = re.sub(
        r"CymemStatus::(\w+)",
        lambda m: "CYMEM_STATUS_" + re.sub(r"(?<!^)(?=[A-Z])", "_", m.group(1)).upper(),
        line,
    )
    line = line.replace("CymemStatus", "cymem_status").replace("CymemHandle", "cymem_handle")
    line = line.replace("CymemMallocFn", "cymem_malloc_fn").replace("CymemFreeFn", "cymem_free_fn")
    out.append(line)
open(path, "w").write("\n".join(out))
PY

if [[ "${1:-}" == "--check" ]]; then
    if ! diff -u include/cymem.h "$generated"; then
        echo "include/cymem.h is stale: run 'bash include/generate.sh' and commit it" >&2
        exit 1
    fi
    echo "include/cymem.h is up to date"
else
    cp "$generated" include/cymem.h
    echo "wrote include/cymem.h"
fi
