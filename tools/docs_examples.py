#!/usr/bin/env python3
"""Rewrites the examples in the docs from what the code really answers (so they cannot drift):
docs/web.md's JSON API example is the web app's answer, with the demo model, to the request its API
page shows first (churn_web.api_page.api_examples).

    .venv/bin/python tools/docs_examples.py [--model examples/webserver/model/churn_model.json]

The model is the demo's (bash scripts/demo.sh builds it). tests/web/test_first_hour.py checks that the
example stays a request the app accepts, answered in the same shape, and (with the demo model present)
the very same answer.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples" / "webserver"))

START, END = "<!-- api-example:start -->", "<!-- api-example:end -->"


def api_block(model: Path) -> str:
    from churn_web import create_app
    from churn_web.api_page import api_examples, shown_answer

    app = create_app({"MODEL_PATH": str(model), "TESTING": True})
    example = next(e for e in api_examples(app) if e.id == "predict")
    answer = json.dumps(shown_answer(example.answer), indent=1, ensure_ascii=False)
    return (f"{START}\n```sh\n{example.curl('localhost:3001')}\n```\n```json\n{answer}\n```\n{END}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=str(ROOT / "examples" / "webserver" / "model" / "churn_model.json"))
    p.add_argument("--doc", default=str(ROOT / "docs" / "web.md"))
    args = p.parse_args(argv)
    if not Path(args.model).is_file():
        print(f"docs_examples.py: no model at {args.model}; run `bash scripts/demo.sh` (it builds the demo "
              "model) or pass --model", file=sys.stderr)
        return 2
    doc = Path(args.doc)
    text = doc.read_text(encoding="utf-8")
    if START not in text or END not in text:
        print(f"docs_examples.py: {doc} has no {START} ... {END} block", file=sys.stderr)
        return 2
    new = re.sub(re.escape(START) + r".*?" + re.escape(END), lambda _: api_block(Path(args.model)), text, flags=re.S)
    doc.write_text(new, encoding="utf-8")
    print(f"docs_examples.py: rewrote the API example in {doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
