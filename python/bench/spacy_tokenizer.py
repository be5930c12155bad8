"""spaCy's tokenizer on PyPI's cymem and on this package, in the same run.

    python3 python/bench/spacy_tokenizer.py [--samples 7] [--texts 20000]

Sets up two virtualenvs under target/ with spaCy 3.8 from PyPI (its wheels
pull PyPI's cymem); in the second, `pip install ./python` replaces cymem.
Each sample is a fresh process: spacy.blank("en") tokenizes a generated
corpus (the same, seeded, in every sample) through nlp.pipe, and reports
tokens per second and its peak RSS (ru_maxrss, which includes Python and
spaCy themselves). Samples alternate between the two, and the medians are
printed as a Markdown table. Not a test: nothing is asserted.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(HERE)
ROOT = os.path.dirname(PYTHON_DIR)
VENVS = {
    "PyPI cymem 2.0.16": os.path.join(ROOT, "target", "venv-spacy-pypi"),
    "this package": os.path.join(ROOT, "target", "venv-spacy-ours"),
}

# One sample, run in a fresh interpreter: argv = [texts, seed].
SAMPLE = r'''
import json, random, resource, sys, time
import spacy, cymem.about

n_texts, seed = int(sys.argv[1]), int(sys.argv[2])
rng = random.Random(seed)
letters = "abcdefghijklmnopqrstuvwxyz"
words = ["".join(rng.choice(letters) for _ in range(rng.randint(1, 12))) for _ in range(20000)]
extras = ["U.S.", "don't", "e-mail", "3.14", "$40", "(see", "below)", "http://example.com/a?b=1",
          ":-)", "co-operate", "I'm", "N.Y.C.", "10km", "--", "...", "#tag", "@user"]
def sentence():
    toks = [rng.choice(words) if rng.random() < 0.9 else rng.choice(extras)
            for _ in range(rng.randint(5, 40))]
    toks[0] = toks[0].capitalize()
    return " ".join(toks) + rng.choice([".", "!", "?", ","])
texts = [" ".join(sentence() for _ in range(rng.randint(1, 4))) for _ in range(n_texts)]

nlp = spacy.blank("en")
start = time.perf_counter()
tokens = sum(len(doc) for doc in nlp.pipe(texts, batch_size=1000))
seconds = time.perf_counter() - start
print(json.dumps({"tokens": tokens, "seconds": seconds, "cymem": cymem.about.__version__,
                  "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
'''


def python_of(venv):
    return os.path.join(venv, "bin", "python")


def run(*command):
    print("+ " + " ".join(command), file=sys.stderr)
    subprocess.check_call(command)


def setup():
    for name, venv in VENVS.items():
        if not os.path.exists(python_of(venv)):
            run(sys.executable, "-m", "venv", venv)
        run(python_of(venv), "-m", "pip", "install", "--quiet", "spacy>=3.8,<3.9")
    ours = python_of(VENVS["this package"])
    run(python_of(VENVS["PyPI cymem 2.0.16"]), "-m", "pip", "install", "--quiet",
        "--force-reinstall", "--no-deps", "cymem==2.0.16")
    run(ours, "-m", "pip", "install", "--quiet", "--force-reinstall", "--no-deps", PYTHON_DIR)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-setup", action="store_true")
    parser.add_argument("--samples", type=int, default=7)
    parser.add_argument("--texts", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    if not args.no_setup:
        setup()
    results = {name: [] for name in VENVS}
    for _ in range(args.samples):
        for name, venv in VENVS.items():
            out = subprocess.check_output(
                [python_of(venv), "-c", SAMPLE, str(args.texts), str(args.seed)],
                cwd=os.path.join(ROOT, "target"))
            results[name].append(json.loads(out))
    tokens = {r["tokens"] for rs in results.values() for r in rs}
    assert len(tokens) == 1, "both tokenize the same corpus into the same tokens"
    print("spaCy %s tokenizer (spacy.blank('en'), nlp.pipe, batch 1000): %d texts, %d tokens; "
          "%s, Python %s, %d cores; median of %d samples, each a fresh process, alternating"
          % (subprocess.check_output([python_of(VENVS["this package"]), "-c",
                                      "import spacy; print(spacy.__version__)"], text=True).strip(),
             args.texts, tokens.pop(), platform.machine(), platform.python_version(),
             os.cpu_count(), args.samples))
    print("| cymem | tokens/s | vs PyPI | peak RSS, MiB | vs PyPI |")
    print("|---|---|---|---|---|")
    base = None
    for name, rs in results.items():
        rate = statistics.median(r["tokens"] / r["seconds"] for r in rs)
        rss = statistics.median(r["maxrss_kb"] for r in rs) / 1024
        base = base or (rate, rss)
        print("| %s (%s) | %.0f | %.2fx | %.1f | %.2fx |"
              % (name, rs[0]["cymem"], rate, rate / base[0], rss, rss / base[1]))


if __name__ == "__main__":
    main()
