#!/usr/bin/env bash
# Instructions per C API call sequence, counted by callgrind (deterministic,
# unlike wall time on a shared machine). The static library is built as
# python/setup.py builds it (fat LTO, one codegen unit) and linked into a
# shared object, as it is in the Python extension (so thread-locals cost what
# they cost there: a call to __tls_get_addr).
#   libc-pair: 10^5 x (calloc(1, 32); free(p)), for scale
#   pair: 10^5 x (cymem_alloc(pool, 1, 32, NULL); cymem_free(pool, p))
#   fill: 10^5 x cymem_alloc(pool, 1, 32, NULL), then cymem_pool_destroy
# Each figure is (run with 10^5 ops - run with 0 ops) / 10^5.
# Usage: bash python/bench/callgrind_capi.sh   (needs valgrind, cc)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="$root/target/callgrind-capi"
mkdir -p "$out"
cd "$root"
CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 CARGO_PROFILE_RELEASE_DEBUG="${CALLGRIND_DEBUG:-false}" \
    cargo rustc -q --release --lib --features capi --crate-type staticlib --target-dir target/python
cc -shared -o "$out/libcymem_bench.so" -Wl,--whole-archive target/python/release/libcymem.a \
    -Wl,--no-whole-archive -lpthread -ldl -lm
cat > "$out/ops.c" <<'EOC'
#include "cymem.h"
#include <stdlib.h>
#include <string.h>
static inline void escape(void *p) { __asm__ volatile("" : : "g"(p) : "memory"); }
int main(int argc, char **argv) {
    long n = atol(argv[2]);
    cymem_pool *pool = cymem_pool_new();
    if (strcmp(argv[1], "libc-pair") == 0) {
        for (long i = 0; i < n; i++) {
            void *p = calloc(1, 32);
            escape(p);
            free(p);
        }
    } else if (strcmp(argv[1], "pair") == 0) {
        for (long i = 0; i < n; i++) {
            void *p = cymem_alloc(pool, 1, 32, NULL);
            escape(p);
            cymem_free(pool, p);
        }
    } else {
        for (long i = 0; i < n; i++) escape(cymem_alloc(pool, 1, 32, NULL));
    }
    cymem_pool_destroy(pool);
    return 0;
}
EOC
cc -O2 -I include "$out/ops.c" -L"$out" -lcymem_bench -Wl,-rpath,"$out" -o "$out/ops"
instructions() {
    valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.$1.$2" "$out/ops" "$1" "$2" 2>&1 |
        sed -n 's/.*refs: *//p' | tr -d ,
}
for workload in libc-pair pair fill; do
    zero="$(instructions "$workload" 0)"
    full="$(instructions "$workload" 100000)"
    echo "$workload: $(((full - zero) / 100000)) instructions per op"
done
