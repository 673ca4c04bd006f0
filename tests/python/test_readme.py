"""Every command and code snippet under the README's "Using it", run in order on a fresh simulated log in
a temporary folder, each checked to exit 0 with the output its comment promises.

The commands are read from README.md itself, so a README change that breaks one fails here; a new
command without a check below fails too (add what it promises to CHECKS).
"""
from __future__ import annotations

import csv
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Callable, Dict, List, Sequence, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def using_it() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("\n## Using it\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def blocks(section: str) -> List[Tuple[str, str]]:
    """(language, code) of each fenced block, in order."""
    return [(m.group(1), m.group(2)) for m in re.finditer(r"```(\w+)\n(.*?)```", section, re.S)]


def commands(code: str) -> List[List[str]]:
    """The shell lines as argument lists, comments dropped, `.venv/bin/X` and `python` mapped to this
    interpreter's environment (the README's .venv), scripts to the repository's files."""
    out = []
    for line in code.splitlines():
        line = line.split("  #", 1)[0].strip()
        if not line:
            continue
        argv = shlex.split(line)
        if argv[0].startswith(".venv/bin/"):
            argv[0] = str(BIN / argv[0][len(".venv/bin/"):])
        elif argv[0] == "python":
            argv[0] = sys.executable
        argv = [str(ROOT / a) if a.startswith("examples/") else a for a in argv]
        out.append(argv)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(argv: List[str], cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONWARNINGS="error::DeprecationWarning:churn")
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


# ---- what each command promises ----------------------------------------------------------------------
def check_simulate(done, cwd: Path, argv: Sequence[str] = ()) -> None:
    out = argv[list(argv).index("--out") + 1] if "--out" in argv else "events.json.gz"
    assert (cwd / out).is_file()
    assert re.search(re.escape(out) + r": [\d,]+ events, [\d,]+ users, [\d,]+ churned", done.stdout), done.stdout
    assert ".partial" not in done.stdout and not list(cwd.glob(".*partial*")), "no temporary names left"


def check_scan(done, cwd: Path, argv: Sequence[str] = ()) -> None:
    out = done.stdout
    for word in ("events", "users", "sessions", "bad lines", "time range", "NextSong"):  # pages, dates
        assert word in out, (word, out)
    assert re.search(r"time range\s+\d{4}-\d\d-\d\d", out)
    assert re.search(r"bad lines\s+0\b", out)


def check_features(done, cwd: Path, argv: Sequence[str] = ()) -> None:
    with open(cwd / "features.csv", newline="") as f:
        rows = list(csv.reader(f))
    if "--every-days" in argv:  # snapshots: one row per user and cutoff
        assert rows[0][:2] == ["user_id", "cutoff"] and rows[0][-1] == "churned"
        keys = [(r[0], r[1]) for r in rows[1:]]
        assert len(keys) == len(set(keys)) > 50 and len({c for _, c in keys}) > 1
        assert f"wrote {len(keys)} rows" in done.stderr
        return
    assert rows[0][0] == "user_id" and rows[0][-1] == "churned"
    ids = [r[0] for r in rows[1:]]
    assert len(ids) == len(set(ids)) > 50, "one row per user"
    assert f"wrote {len(ids)} users" in done.stderr


def check_evaluate(done, cwd: Path, argv: Sequence[str] = ()) -> None:
    for name in ("random_forest", "logistic_regression", "majority"):
        assert name in done.stdout
    assert "cross-validating random_forest (5 folds)" in done.stderr


def check_train(done, cwd: Path, argv: Sequence[str] = (), model: str = "model.json") -> None:
    assert "withheld test set" in done.stdout and "random_forest" in done.stdout
    assert (cwd / model).is_file() and not list(cwd.glob(".*partial*"))
    assert "the table holds the users active before the cutoff" in done.stderr
    import churn

    meta = churn.load_model(cwd / model).metadata
    assert meta["cv"]["n_splits"] == 5 and meta["data"]["rows_test"] > 0
    # "leaf size chosen by CV"
    assert "forest settings chosen by cross-validation: min_samples_leaf=" in done.stdout
    assert meta["params"]["min_samples_leaf"] == meta["forest_search"]["chosen"]["min_samples_leaf"]


def check_report(done, cwd: Path, argv: Sequence[str] = ()) -> None:
    path = cwd / "model-report.html"
    assert done.stdout.strip() == "model-report.html" and path.is_file()
    html = path.read_text(encoding="utf-8")
    assert html.count("<svg") >= 4, "with charts"
    assert "name='viewport'" in html, "readable on a phone"
    assert not re.search(r"(src|href)=['\"]?https?:", html), "self-contained"
    assert "Of every 100 customers who will leave" in html
    assert "1970-" not in html and "cutoff_ms" not in html and not re.search(r"\b1\d{12}\b", html), "dates as dates"


def check_predict(done, cwd: Path, argv: Sequence[str] = ()) -> None:
    with open(cwd / "scores.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0][:5] == ["rank", "user_id", "churn_probability", "verdict", "about_to_churn"], rows[0]
    assert len(rows) > 50 and all(0 <= float(r[2]) <= 1 for r in rows[1:])
    assert any(h.startswith("reason_") for h in rows[0]), "with reasons"


def check_build_model(done, cwd: Path, argv: Sequence[str] = ()) -> None:
    check_train(done, cwd)


CHECKS: Dict[str, Callable] = {
    "simulate": check_simulate, "scan": check_scan, "features": check_features, "evaluate": check_evaluate,
    "train": check_train, "report": check_report, "build_model.py": check_build_model, "predict": check_predict,
}


def serve_and_stop(argv: List[str], cwd: Path) -> None:
    """run.py serves until stopped: start it (CHURN_WEB_PORT picks a free port without changing the
    command), check it answers, stop it."""
    port = free_port()
    env = dict(os.environ, CHURN_WEB_PORT=str(port), CHURN_WEB_HOST="127.0.0.1")
    log = cwd / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                        assert r.status == 200
                        break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise AssertionError("the web demo did not start:\n" + log.read_text())
                    time.sleep(0.3)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/model", timeout=10) as r:
                assert r.status == 200 and b"What the model does" in r.read()
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    assert "churn web demo: model" in log.read_text()


def compile_and_run(code: str, cwd: Path) -> str:
    compiler = shutil.which("g++") or shutil.which("c++")
    if compiler is None:
        pytest.skip("no C++ compiler to build the README's C++ snippet")
    (cwd / "snippet.cpp").write_text(code)
    build = subprocess.run([compiler, "-std=c++17", "-O0", "-I", str(ROOT / "include"), "snippet.cpp", "-o", "snippet",
                            "-lsimdjson", "-lz", "-pthread"], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr
    done = subprocess.run([str(cwd / "snippet")], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.slow
def test_every_command_and_snippet_of_using_it(tmp_path):
    sections = blocks(using_it())
    langs = [lang for lang, _ in sections]
    assert langs[0] == "sh" and "python" in langs and "cpp" in langs
    ran = []
    for lang, code in sections:
        if lang == "sh":
            for argv in commands(code):
                name = Path(argv[0]).name if Path(argv[0]).name not in ("python", Path(sys.executable).name) \
                    else Path(argv[1]).name
                if name == "run.py":
                    serve_and_stop(argv, tmp_path)
                    ran.append(name)
                    continue
                key = argv[1] if name == "churn" else name
                assert key in CHECKS, f"README command {' '.join(argv)!r} has no check in test_readme.py"
                done = run(argv, tmp_path)
                assert done.returncode == 0, f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}"
                CHECKS[key](done, tmp_path, argv)
                ran.append(key)
        elif lang == "python" and "churn.dask" in code:
            try:
                import dask.distributed  # noqa: F401 - the dask extra is optional
            except ImportError:
                continue
            done = run([sys.executable, "-c", code], tmp_path, timeout=300)
            assert done.returncode == 0, done.stderr
            import churn

            expected = len(churn.user_features(tmp_path / "events.json.gz"))
            assert done.stdout.strip().splitlines()[-1] == f"{expected} users"
            ran.append("dask")
        elif lang == "python":
            done = run([sys.executable, "-c", code], tmp_path, timeout=300)
            assert done.returncode == 0, done.stderr
            lines = done.stdout.splitlines()
            assert re.fullmatch(r"\d+ events", lines[0]) and int(lines[0].split()[0]) > 10_000
            assert "sessions" in done.stdout and "time range" in done.stdout
            # churn.score's rows: user, probability and reasons (the snippet prints the first five)
            scored = [i for i, line in enumerate(lines) if re.match(r"\S+ \d+% \[", line)]
            assert 1 <= len(scored) <= 5 and scored == list(range(scored[0], len(lines)))
            assert 0.0 <= float(lines[scored[0] - 1]) <= 1.0  # explain()'s probability, printed before
            assert "Warning" not in done.stderr, done.stderr
            ran.append("python")
        elif lang == "cpp":
            out = compile_and_run(code, tmp_path)
            assert re.fullmatch(r"\d+ songs\n", out) and int(out.split()[0]) > 10_000
            ran.append("cpp")
    assert ran[:3] == ["simulate", "simulate", "scan"] and "predict" in ran and "run.py" in ran and "python" in ran and "cpp" in ran
