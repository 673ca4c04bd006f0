#!/usr/bin/env bash
# The hardening steps of the test command (docs/reliability.md):
#   1. the C++ tests under AddressSanitizer + UndefinedBehaviorSanitizer (build/asan, ctest);
#   2. the Python tests of the compiled module against an ASan+UBSan build of it (same build dir);
#   3. the libFuzzer targets (clang): replay of tests/fuzz/corpus/<target>, then a short fuzz run each.
# Any sanitizer report, test failure or fuzz crash fails the script. Called by scripts/test.sh after
# scripts/setup.sh; runs on its own too. Environment:
#   CHURN_FUZZ_SECONDS  seconds of fuzzing per target (default 30; 0 replays the corpora only)
#   CHURN_HARDEN_JOBS   parallel build and test jobs (default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs="${CHURN_HARDEN_JOBS:-2}"
fuzz_seconds="${CHURN_FUZZ_SECONDS:-30}"
python="$root/.venv/bin/python"
start=$SECONDS
step() { echo "== hardening: $* ($((SECONDS - start)) s)"; }

# -O1 keeps the sanitized build quick to compile and the tests quick to run; -g1 keeps line numbers
# in reports. The C++ tests and the Python module share one configure and one build.
step "ASan+UBSan build of the C++ tests and the Python module (build/asan)"
cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" \
  -DCHURN_SANITIZE=ON -DCHURN_BUILD_TESTS=ON -DCHURN_BUILD_PYTHON=ON -DCHURN_INSTALL=OFF \
  -DPython_EXECUTABLE="$python" -Dpybind11_DIR="$("$python" -m pybind11 --cmakedir)" >/dev/null
cmake --build build/asan -j "$jobs"

# halt_on_error: the first report fails the test; UBSan reports are fatal through -fno-sanitize-recover.
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
step "C++ tests under ASan+UBSan"
ctest --test-dir build/asan --output-on-failure -j "$jobs" -E '^cmake_consumers$'

step "Python tests against the ASan+UBSan module"
# The interpreter is not instrumented: the ASan runtime has to be loaded first, and libstdc++ with it
# (python does not link it, and ASan's __cxa_throw interceptor must find the real one at start-up,
# or the first C++ exception aborts). Python's own allocations look like leaks to LeakSanitizer,
# hence detect_leaks=0. --capture=sys: a sanitizer report (written to fd 2) stays visible.
preload="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libstdc++.so)"
(
  cd tests
  export PYTHONPATH="$root/build/asan/python:$root/python"
  LD_PRELOAD="$preload" "$python" -c 'import churn._churn as m, sys; sys.exit(0 if "/build/asan/" in m.__file__ else f"not the ASan module: {m.__file__}")'
  LD_PRELOAD="$preload" "$python" -m pytest -q -p no:cacheprovider --capture=sys -x \
    python/test_events.py python/test_features.py python/test_forest.py python/test_metrics.py \
    python/test_cv.py python/test_simulate.py python/test_hostile.py python/test_hostile_io.py
)

step "libFuzzer targets (build/fuzz)"
CXX=clang++ cmake -S tests/fuzz -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/fuzz -j "$jobs"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for target in build/fuzz/fuzz_*; do
  [ -x "$target" ] || continue
  name="${target##*/fuzz_}"
  corpus="tests/fuzz/corpus/$name"
  mkdir -p "$work/$name"
  dict=()
  [ -f "tests/fuzz/$name.dict" ] && dict=(-dict="tests/fuzz/$name.dict")
  step "fuzz_$name: replay of $corpus"
  if ! "$target" -runs=0 "$corpus" >"$work/$name.replay.log" 2>&1; then
    tail -n 60 "$work/$name.replay.log"
    echo "hardening: fuzz_$name fails on a corpus input of $corpus (see above)" >&2
    exit 1
  fi
  tail -n 1 "$work/$name.replay.log"
  if [ "$fuzz_seconds" -gt 0 ]; then
    step "fuzz_$name: ${fuzz_seconds} s"
    # New inputs go to a scratch directory: the committed corpus stays small and reviewed.
    if ! "$target" -max_total_time="$fuzz_seconds" -rss_limit_mb=2048 -timeout=20 -print_final_stats=1 \
        -artifact_prefix="$work/" "${dict[@]}" "$work/$name" "$corpus" >"$work/$name.log" 2>&1; then
      tail -n 60 "$work/$name.log"
      for crash in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
        [ -f "$crash" ] && { echo "fuzz input that failed (base64):"; base64 -w 0 "$crash"; echo; }
      done
      echo "hardening: fuzz_$name failed: add the input above to $corpus and fix the bug" >&2
      exit 1
    fi
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$work/$name.log" | tr '\n' ' '
    echo
  fi
done
step "done"
times  # CPU time of this shell and its children: the build's cost without the other load on the machine
