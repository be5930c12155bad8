#!/usr/bin/env bash
# Builds the C API (cdylib + staticlib) and runs tests/c/sparse_matrix.c
# against it three ways:
#   (a) static library, under valgrind (leaks and memory errors fail the run);
#   (b) static library, built with -fsanitize=address,undefined (ASan with
#       LeakSanitizer; the Rust side is not instrumented, but ASan intercepts
#       its malloc/free, so leaks and C-side overruns are caught);
#   (c) shared library, found through an rpath.
# It also compiles include/cymem.h as C++ and links a C++ caller.
# Usage (from anywhere): bash tests/c/run.sh. Outputs go to $TARGET/c/.
set -euo pipefail
cd "$(dirname "$0")/../.."

TARGET="${CARGO_TARGET_DIR:-target}"
mkdir -p "$TARGET"
TARGET="$(cd "$TARGET" && pwd)"
LIBDIR="$TARGET/release"
OUT="$TARGET/c"
mkdir -p "$OUT"

run() {
    printf '+ %s\n' "$*"
    "$@"
}

# --print native-static-libs makes rustc (re)link and report what a static
# library needs; cargo replays it from cache when nothing changed, but if it
# is missing anyway, fall back to the list rustc gives on Linux.
printf '\n== build libcymem (cdylib + staticlib)\n'
log="$OUT/build.log"
printf '+ %s\n' "cargo rustc --release --lib --features capi --crate-type cdylib,staticlib -- --print native-static-libs"
cargo rustc --release --lib --features capi --crate-type cdylib,staticlib \
    -- --print native-static-libs 2>&1 | tee "$log"
NATIVE_LIBS="$(sed -n 's/.*native-static-libs: //p' "$log" | tail -n 1)"
if [[ -z "$NATIVE_LIBS" ]]; then
    NATIVE_LIBS="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"
    echo "(native-static-libs not printed; using the known list)"
fi
echo "native static libs: $NATIVE_LIBS"
test -f "$LIBDIR/libcymem.a"
test -f "$LIBDIR/libcymem.so"

CC="${CC:-cc}"
CXX="${CXX:-c++}"
CFLAGS=(-std=c11 -Wall -Wextra -Werror -pedantic -g -O1 -I include)
SRC=tests/c/sparse_matrix.c
# shellcheck disable=SC2206 # the list is space-separated linker flags
NATIVE=($NATIVE_LIBS)

printf '\n== the header as C++\n'
run "$CXX" -x c++ -std=c++11 -Wall -Wextra -Werror -pedantic -fsyntax-only include/cymem.h
cat > "$OUT/cxx_smoke.cpp" <<'EOF'
// Links a C++ caller against the C API: needs the header's extern "C".
#include "cymem.h"
int main() {
    cymem_pool *pool = cymem_pool_new();
    cymem_handle h;
    double *v = static_cast<double *>(cymem_alloc(pool, 4, sizeof(double), &h));
    bool ok = v != nullptr && v[3] == 0.0 && cymem_lookup(pool, h, nullptr) == v
              && cymem_last_error() == CYMEM_STATUS_OK && cymem_pool_len(pool) == 1;
    cymem_pool_destroy(pool);
    return ok ? 0 : 1;
}
EOF
run "$CXX" -std=c++11 -Wall -Wextra -Werror -pedantic -I include "$OUT/cxx_smoke.cpp" \
    "$LIBDIR/libcymem.a" -pthread "${NATIVE[@]}" -o "$OUT/cxx_smoke"
run "$OUT/cxx_smoke"
echo "C++: header compiles, a C++ caller links and runs"

printf '\n== (a) static library, under valgrind\n'
run "$CC" "${CFLAGS[@]}" "$SRC" "$LIBDIR/libcymem.a" -pthread "${NATIVE[@]}" -o "$OUT/sparse_matrix_static"
run valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect,possible \
    --error-exitcode=1 "$OUT/sparse_matrix_static"

printf '\n== (b) static library, AddressSanitizer + UndefinedBehaviorSanitizer\n'
run "$CC" "${CFLAGS[@]}" -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
    "$SRC" "$LIBDIR/libcymem.a" -pthread "${NATIVE[@]}" -o "$OUT/sparse_matrix_asan"
run env ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:allocator_may_return_null=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 "$OUT/sparse_matrix_asan"
echo "ASan/LSan/UBSan: no errors, no leaks"

printf '\n== (c) shared library\n'
run "$CC" "${CFLAGS[@]}" "$SRC" -L"$LIBDIR" -lcymem -Wl,-rpath,"$LIBDIR" -pthread -o "$OUT/sparse_matrix_shared"
if command -v ldd >/dev/null 2>&1; then
    printf '+ %s\n' "ldd $OUT/sparse_matrix_shared | grep libcymem"
    ldd "$OUT/sparse_matrix_shared" | grep libcymem
    # not grep -q: it would stop reading early, and pipefail would see ldd's SIGPIPE
    ldd "$OUT/sparse_matrix_shared" | grep -F "$LIBDIR/libcymem.so" >/dev/null
fi
run "$OUT/sparse_matrix_shared"

printf '\n== C API tests passed: static under valgrind, static under ASan+UBSan, shared\n'
