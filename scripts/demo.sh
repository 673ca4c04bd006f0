#!/usr/bin/env bash
# Sets everything up and runs the demo on built-in data. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh demo
export PATH="$PWD/.venv/bin:$PATH"
mkdir -p demo-data
if churn simulate --help >/dev/null 2>&1; then
  [ -f demo-data/events.json.gz ] || churn simulate --users 225 --days 60 --seed 0 --out demo-data/events.json.gz
  churn scan demo-data/events.json.gz
else
  churn scan tests/data/events/quirks.jsonl
fi
