#!/usr/bin/env bash
# Installs what churn needs, idempotently: Debian packages (only the missing ones), a virtual
# environment in .venv with the Python dependencies, and the project itself (rebuilt only when its
# sources changed). Usage: scripts/setup.sh [demo|test|bench]   (default: test)
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-test}"

apt_packages=(g++ libeigen3-dev nlohmann-json3-dev doctest-dev libbenchmark-dev libsimdjson-dev zlib1g-dev
              libjs-bootstrap5 libjs-chart.js)
extras="web"
case "$profile" in
  demo) ;;
  test) apt_packages+=(clang clang-format libclang-rt-14-dev chromium chromium-driver); extras="dev,web,dask,spark" ;;
  bench) apt_packages+=(clang clang-format chromium chromium-driver r-cran-ranger wrk hyperfine default-jre-headless)
         extras="dev,web,dask,spark,bench" ;;
  *) echo "usage: $0 [demo|test|bench]" >&2; exit 64 ;;
esac
# Spark needs a Java runtime; one may already be on the machine.
if [[ "$extras" == *spark* ]] && ! command -v java >/dev/null 2>&1; then apt_packages+=(default-jre-headless); fi

missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
# Build tools first, so the project builds without isolation (faster, and incremental in build/).
# Without isolation, dependencies published only as sdists (pyspark) build with this venv's tools
# too, so setuptools and wheel must be here as well.
stamp_tools=.venv/.churn-tools
if [ ! -f "$stamp_tools" ]; then
  .venv/bin/python -m pip install -q "scikit-build-core>=0.8" "pybind11>=2.11" "cmake>=3.16" ninja setuptools wheel
  touch "$stamp_tools"
fi

# Reinstall the project only when a tracked source or the extras changed.
hash=$( { echo "$extras"; git ls-files -s -- CMakeLists.txt cmake include python pyproject.toml 2>/dev/null;
          git diff -- CMakeLists.txt cmake include python pyproject.toml 2>/dev/null; } | sha1sum | cut -d' ' -f1)
stamp=.venv/.churn-installed
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$hash" ]; then
  echo "setup: building and installing churn[$extras] into .venv"
  .venv/bin/python -m pip install -q --no-build-isolation ".[$extras]"
  echo "$hash" > "$stamp"
fi
echo "setup: ready ($profile)"
