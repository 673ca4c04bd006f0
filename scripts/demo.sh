#!/usr/bin/env bash
# Sets everything up and runs the demo: simulates a Sparkify-like log (built-in data), builds a model
# from it if there is none yet, and serves the web demo on port 3001. Idempotent: a second run only
# starts the server. Environment: CHURN_DEMO_USERS (default 1000), PORT (default 3001).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh demo
export PATH="$PWD/.venv/bin:$PATH"
users="${CHURN_DEMO_USERS:-1000}"
data=demo-data/events-${users}-engagement.json.gz  # the behaviour in the name: older eventsim logs are not reused
model=examples/webserver/model/churn_model.json
mkdir -p demo-data "$(dirname "$model")"
# churn simulate and build_model.py write under a hidden name and rename when done: an interrupted
# run leaves nothing under the real names, so the `[ -f ]` checks below never see half a file.
if [ ! -f "$data" ]; then
  echo "demo: simulating $users users over 60 days into $data"
  churn simulate --users "$users" --days 60 --seed 0 --behaviour engagement --out "$data"
fi
# A model built before recency_defaults existed fills a stopped customer's blank fields with the
# median customer's (docs/model-metadata.md): rebuild it once.
if [ ! -f "$model" ] || [ "$data" -nt "$model" ] || ! grep -q '"recency_defaults"' "$model"; then
  echo "demo: building the model"
  python examples/webserver/build_model.py "$data" "$model"
fi
echo "demo: serving on http://localhost:${PORT:-3001}/ (Ctrl-C stops)"
exec python examples/webserver/run.py --model "$model" --port "${PORT:-3001}"
