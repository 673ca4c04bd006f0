#!/usr/bin/env bash
# Style checks: ruff over the Python code ([tool.ruff] in pyproject.toml) and clang-format over the C++
# (.clang-format). Exits non-zero when either finds something; prints what to run to fix it.
# Usage: scripts/lint.sh [--fix]   (--fix applies ruff's safe fixes and clang-format in place)
# Needs: ruff (the dev extra, in .venv) and clang-format (Debian's clang-format, scripts/setup.sh test).
set -uo pipefail
cd "$(dirname "$0")/.."
fix=0
[ "${1:-}" = "--fix" ] && fix=1

RUFF="${RUFF:-}"
if [ -z "$RUFF" ]; then
  if [ -x .venv/bin/ruff ]; then RUFF=.venv/bin/ruff; else RUFF=ruff; fi
fi
CLANG_FORMAT="${CLANG_FORMAT:-clang-format}"
status=0

echo "lint: ruff ($("$RUFF" --version 2>/dev/null || echo missing))"
if ! command -v "$RUFF" >/dev/null 2>&1; then
  echo "lint: ruff is missing: .venv/bin/pip install ruff (the dev extra)" >&2
  status=1
elif ((fix)); then
  "$RUFF" check --fix . || status=1
else
  "$RUFF" check . || { status=1; echo "lint: fix with scripts/lint.sh --fix, or by hand" >&2; }
fi

echo "lint: clang-format ($("$CLANG_FORMAT" --version 2>/dev/null || echo missing))"
if ! command -v "$CLANG_FORMAT" >/dev/null 2>&1; then
  echo "lint: clang-format is missing: apt-get install clang-format" >&2
  status=1
else
  mapfile -t cpp < <(git ls-files -- 'include/*.hpp' 'python/src/*.cpp' 'python/src/*.hpp' 'tests/cpp/*.cpp' 'bench/*.cpp')
  if ((fix)); then
    "$CLANG_FORMAT" -i "${cpp[@]}"
  else
    bad=()
    for f in "${cpp[@]}"; do
      "$CLANG_FORMAT" --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
    done
    if ((${#bad[@]})); then
      printf 'lint: clang-format would change %d of %d files:\n' "${#bad[@]}" "${#cpp[@]}" >&2
      printf '  %s\n' "${bad[@]}" >&2
      echo "lint: fix with scripts/lint.sh --fix (or clang-format -i FILE)" >&2
      status=1
    else
      echo "lint: clang-format: ${#cpp[@]} files formatted"
    fi
  fi
fi
exit $status
