#!/usr/bin/env bash
# Real clients: spaCy 3.8's, thinc's and preshed's wheels from PyPI, compiled
# against cymem 2.0.16, run on this package without a rebuild.
#
# In a fresh virtualenv (target/venv-clients, remade every run): install
# spaCy 3.8.x from PyPI (its wheels pull thinc, preshed and PyPI's cymem),
# replace cymem with `pip install ./python`, import the compiled clients with
# RuntimeWarnings as errors (Cython warns when an object size grew), then run
# preshed's own tests (shipped in its wheel) and spaCy's own tests for
# tokenizer, doc, vocab_vectors, matcher and parser (folders of the installed
# spacy/tests). Fails on any failure or error, or if fewer tests pass than
# with PyPI's cymem on this machine (EXPECT_* below).
#
# CLIENTS_BASELINE=1 first runs the same tests on PyPI's cymem and prints
# those counts (to re-measure EXPECT_*; about twice the time).
# Usage: bash python/clients.sh   (from anywhere; needs network for PyPI)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
venv="$root/target/venv-clients"
logs="$root/target/clients"

# Measured with PyPI's cymem 2.0.16 (spaCy 3.8.18, thinc 8.3.14, preshed
# 3.0.15, Python 3.11): preshed 32 passed; spaCy 989 passed, 421 skipped.
EXPECT_PRESHED_PASSED=32
EXPECT_SPACY_PASSED=989

start=$SECONDS
rm -rf "$venv" "$logs"
mkdir -p "$logs"
"${PYTHON:-python3}" -m venv "$venv"
py="$venv/bin/python"
"$py" -m pip install --quiet --upgrade pip
"$py" -m pip install --quiet "spacy>=3.8,<3.9" pytest hypothesis mock
site="$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
"$py" -m pip list 2>/dev/null | grep -iE '^(spacy|thinc|preshed|cymem) '

# Runs a pytest suite from a neutral directory (the checkout must not shadow
# the installed cymem); prints and records its summary line.
run_suite() {
    local name="$1"
    shift
    (cd "$logs" && "$py" -m pytest -q -p no:cacheprovider "$@" > "$logs/$name.log" 2>&1) || true
    tail -n 1 "$logs/$name.log"
}

# count WORD NAME: the number before WORD in NAME's pytest summary (0 if absent).
count() {
    local n
    n="$(tail -n 1 "$logs/$2.log" | grep -oE "[0-9]+ $1" | grep -oE '^[0-9]+' || true)"
    echo "${n:-0}"
}

spacy_tests=()
for folder in tokenizer doc vocab_vectors matcher parser; do
    spacy_tests+=("$site/spacy/tests/$folder")
done

if [[ "${CLIENTS_BASELINE:-0}" == 1 ]]; then
    echo "== baseline: PyPI's cymem"
    "$py" -c 'import cymem.about as a; print("cymem", a.__version__)'
    run_suite baseline-preshed "$site/preshed/tests"
    run_suite baseline-spacy "${spacy_tests[@]}"
fi

echo "== replace cymem: pip install ./python"
"$py" -m pip install --quiet "$here"
"$py" -c '
import cymem.about as a, cymem.cymem as m
assert a.__version__.endswith("+rust"), a.__version__
assert hasattr(m, "Addresses"), "not this package"
print("cymem", a.__version__, m.__file__)'
(cd "$logs" && "$py" -W error::RuntimeWarning -c "import spacy, preshed.maps, thinc.backends.numpy_ops")
echo "imports: spacy, preshed.maps, thinc.backends.numpy_ops (RuntimeWarning = error): ok"

echo "== preshed's tests"
run_suite preshed "$site/preshed/tests"
echo "== spaCy's tests: tokenizer doc vocab_vectors matcher parser"
run_suite spacy "${spacy_tests[@]}"

status=0
check() {
    local name="$1" expect="$2"
    local passed failed errors
    passed="$(count passed "$name")"
    failed="$(count failed "$name")"
    errors="$(count error "$name")"
    echo "$name: $passed passed (expected >= $expect), $failed failed, $errors errors"
    if ((failed != 0 || errors != 0 || passed < expect)); then
        echo "FAIL: $name (log: $logs/$name.log)"
        grep -E '^(FAILED|ERROR)' "$logs/$name.log" | head -20 || true
        status=1
    fi
}
check preshed "$EXPECT_PRESHED_PASSED"
check spacy "$EXPECT_SPACY_PASSED"
echo "clients: $((SECONDS - start)) s"
exit "$status"
