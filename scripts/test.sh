#!/usr/bin/env bash
# Sets everything up and runs every test: style (ruff, clang-format), C++ (ctest), Python (pytest). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
export PATH="$PWD/.venv/bin:$PATH"
jobs=$(nproc)

echo "== Style (ruff, clang-format: scripts/lint.sh)"
scripts/lint.sh

echo "== C++ tests"
cmake -S . -B build/tests -G Ninja -DCMAKE_BUILD_TYPE=Release -DCHURN_BUILD_TESTS=ON -DCHURN_BUILD_PYTHON=OFF >/dev/null
cmake --build build/tests -j "$jobs"
ctest --test-dir build/tests --output-on-failure -j "$jobs"

echo "== C++ example, built against the installed package (find_package)"
cmake --install build/tests --prefix build/prefix >/dev/null
cmake -S examples/cpp -B build/example -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$PWD/build/prefix" >/dev/null
cmake --build build/example
build/example/churn_pipeline

scripts/hardening.sh  # C++ and Python tests under ASan+UBSan, fuzz targets (docs/reliability.md)

echo "== Python tests"
# Run against the installed package (not the source tree), as a user would.
# Two sessions: tests/python and tests/web each have a conftest module of their own.
(cd tests && ../.venv/bin/python -m pytest -q -p no:cacheprovider python)
(cd tests && ../.venv/bin/python -m pytest -q -p no:cacheprovider web)
