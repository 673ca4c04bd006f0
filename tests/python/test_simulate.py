"""The simulator from Python: files, determinism, calibration tolerances, CLI, errors."""
import calendar
import datetime
import gzip
import json
import pickle
from collections import Counter

import numpy as np
import pytest

import churn
from churn import cli
from churn.simulation import CONFIG_NAMES

# Real mini data set (225 users, 60 days from 2018-10-01), per 1,000 NextSong events.
REAL_RATES = {
    "Thumbs Up": 55.0, "Add to Playlist": 28.6, "Add Friend": 18.7, "Roll Advert": 17.2,
    "Logout": 14.1, "Thumbs Down": 11.2, "Downgrade": 9.0, "Upgrade": 2.2, "Cancel": 0.23,
}
KEY_ORDER = ["ts", "userId", "sessionId", "page", "auth", "method", "status", "level", "itemInSession",
             "location", "userAgent", "lastName", "firstName", "registration", "gender",
             "artist", "song", "length"]


@pytest.fixture(scope="module")
def mini_log(tmp_path_factory):
    """The mini-sized run (225 users, 60 days, seed 0) of eventsim's behaviour, whose calibration this is,
    gzipped, parsed with the json module."""
    path = tmp_path_factory.mktemp("sim") / "mini.json.gz"
    summary = churn.simulate(path, behaviour="eventsim")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    return summary, rows


def test_summary_matches_the_file(mini_log):
    summary, rows = mini_log
    assert summary.events == len(rows)
    users = {r["userId"] for r in rows if r["userId"]}
    assert summary.users == len(users)
    churned = {r["userId"] for r in rows if r["page"] == "Cancellation Confirmation"}
    assert summary.churned == len(churned)
    assert summary.anonymous_events == sum(1 for r in rows if r["userId"] == "")
    assert summary.first_ts == rows[0]["ts"] and summary.last_ts == rows[-1]["ts"]
    assert summary.bytes < summary.text_bytes
    assert str(summary).startswith(str(summary.path))


def test_mini_run_within_the_calibration_tolerances(mini_log):
    summary, rows = mini_log
    pages = Counter(r["page"] for r in rows)
    songs = pages["NextSong"]
    assert 0.15 <= summary.churn_rate <= 0.30
    assert 0.01 <= summary.anonymous_events / summary.events <= 0.06
    for page, real in REAL_RATES.items():
        rate = 1000 * pages[page] / songs
        assert 0.7 * real <= rate <= 1.3 * real, (page, rate, real)
    paid = sum(1 for r in rows if r["page"] == "NextSong" and r["level"] == "paid") / songs
    assert 0.7 <= paid <= 0.9
    assert 200 <= summary.users <= 250 and 200_000 <= summary.events <= 400_000


def test_form_of_the_rows(mini_log):
    _, rows = mini_log
    ts = [r["ts"] for r in rows]
    assert ts == sorted(ts)
    for r in rows[:20000]:
        shown = r["auth"] in ("Logged In", "Cancelled")
        expected = KEY_ORDER[:9] + (KEY_ORDER[9:15] if shown else []) + (KEY_ORDER[15:] if r["page"] == "NextSong" else [])
        assert list(r) == expected
        assert (r["userId"] != "") == shown
    agents = {r["userAgent"] for r in rows if r["userId"]}
    assert any(a.startswith('"') for a in agents)  # quoted as in the real data
    per_user = {}
    for r in rows:
        if r["userId"]:
            per_user.setdefault(r["userId"], set()).add((r["location"], r["userAgent"], r["registration"]))
    assert all(len(v) == 1 for v in per_user.values())


def test_structural_rules(mini_log):
    _, rows = mini_log
    last = {}
    by_session = {}
    for r in rows:
        s = by_session.get(r["sessionId"])
        if s is not None and r["status"] == 307:
            assert r["ts"] - s["ts"] == 1000
        by_session[r["sessionId"]] = r
        uid = r["userId"]
        if not uid:
            continue
        prev = last.get(uid)
        if prev is not None:
            assert prev["page"] != "Cancellation Confirmation"
            if prev["page"] == "Cancel":
                assert r["page"] == "Cancellation Confirmation"
            if r["level"] != prev["level"]:
                assert prev["page"] in ("Submit Upgrade", "Submit Downgrade")
        last[uid] = r
    assert all(r["page"] != "Cancel" for r in last.values())


def test_same_seed_same_bytes_whatever_the_threads(tmp_path):
    a, b, c = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    churn.simulate(a, users=60, days=7, seed=3, threads=1)
    churn.simulate(b, users=60, days=7, seed=3, threads=2)
    churn.simulate(c, users=60, days=7, seed=4, threads=2)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_the_summary_is_the_bound_struct_read_only_with_a_dict(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    sa = churn.simulate(a, users=30, days=3, seed=5, threads=1)
    sb = churn.simulate(b, users=30, days=3, seed=5, threads=2)
    assert isinstance(sa, churn.SimulationSummary) and isinstance(sa, churn._churn._SimulationSummary)
    with pytest.raises(AttributeError):
        sa.events = 1
    d = sa.to_dict()
    assert d == {"events": sa.events, "sessions": sa.sessions, "users": sa.users, "churned": sa.churned,
                 "anonymous_events": sa.anonymous_events, "registrations": sa.registrations,
                 "text_bytes": sa.text_bytes, "bytes": sa.bytes, "first_ts": sa.first_ts, "last_ts": sa.last_ts,
                 "path": str(a)}
    # Equal by value, as the dataclass was: the same log under another path is not equal.
    assert sa != sb and {**sb.to_dict(), "path": str(a)} == d
    assert churn.SimulationSummary(sb, str(a)) == sa and "events=" in repr(sa)
    back = pickle.loads(pickle.dumps(sa))  # picklable, as the dataclass it replaced was
    assert type(back) is churn.SimulationSummary and back == sa and str(back) == str(sa)


def test_the_reader_reads_it_strictly(tmp_path):
    path = tmp_path / "log.json"
    summary = churn.simulate(path, users=80, days=10, seed=1)
    report = churn.scan(path)
    assert report.events == summary.events


def test_start_date_and_days(tmp_path):
    path = tmp_path / "log.json"
    s = churn.simulate(path, users=30, days=3, start="2020-02-28")
    assert 1582848000000 <= s.first_ts and s.last_ts < 1582848000000 + 3 * 86400000 + 3600000
    t = churn.simulate(tmp_path / "d.json", users=30, days=3, start=datetime.date(2020, 2, 28))
    assert (t.events, t.first_ts) == (s.events, s.first_ts)


def test_config_mix_and_statistics():
    assert len(CONFIG_NAMES) == 26 and CONFIG_NAMES[0] == "Accordion"
    happy = [0.0] * 26
    happy[CONFIG_NAMES.index("Xylophone")] = 1.0
    unhappy = [0.0] * 26
    unhappy[CONFIG_NAMES.index("Oboe")] = 1.0
    h = churn.simulation_statistics(users=300, days=30, config_mix=happy, behaviour="eventsim")
    u = churn.simulation_statistics(users=300, days=30, config_mix=unhappy, behaviour="eventsim")
    assert u["churned"] > 2 * h["churned"]
    assert sum(h["pages"].values()) == h["events"]
    assert churn.simulation_statistics(users=100, days=20, cancel_multiplier=0.0)["churned"] == 0


def test_progress_callback(tmp_path):
    seen = []
    churn.simulate(tmp_path / "p.json", users=20, days=2, progress=lambda e, f: seen.append((e, f)))
    assert len(seen) == 8  # one call per simulated 6 hours
    assert seen[-1][1] == pytest.approx(1.0)
    assert [f for _, f in seen] == sorted(f for _, f in seen)


@pytest.mark.parametrize("kwargs, name", [
    ({"days": 0}, "days"),
    ({"days": -3}, "days"),
    ({"users": -1}, "users"),
    ({"start": "2018-02-30"}, "start"),
    ({"config_mix": [1.0] * 3}, "config_mix"),
    ({"gzip_level": 10}, "gzip_level"),
    ({"beta_scale": 0.0}, "beta_scale"),
    ({"beta_sigma": -1.0}, "beta_sigma"),
    ({"behaviour": "sparkify"}, "behaviour"),
    ({"engagement": {"memory_days": 0}}, "engagement.memory_days"),
    ({"engagement": {"no_such": 1}}, "engagement"),
])
def test_bad_arguments_name_the_parameter(tmp_path, kwargs, name):
    with pytest.raises(churn.ParameterError, match=f"parameter '{name}'"):
        churn.simulate(tmp_path / "x.json", **{"users": 5, **kwargs})
    assert not (tmp_path / "x.json").exists()


def test_unwritable_path(tmp_path):
    with pytest.raises(churn.ChurnIOError, match="cannot create"):
        churn.simulate(tmp_path / "no-such-dir" / "x.json", users=5, days=1)


def test_cli(tmp_path, capsys):
    out = tmp_path / "cli.json.gz"
    assert cli.main(["simulate", "--users", "40", "--days", "5", "--seed", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "events" in printed and printed.startswith(f"{out}: ")  # the final path, not the partial file's
    with gzip.open(out, "rt") as f:
        assert all(json.loads(line)["ts"] > 0 for line in f)
    assert cli.main(["simulate", "--users", "40", "--days", "0", "--out", str(out), "--quiet"]) == 2
    assert "parameter 'days'" in capsys.readouterr().err


def test_progress_bar_falls_back_to_plain_text_without_rich(tmp_path, monkeypatch, capsys):
    import sys

    for name in [m for m in sys.modules if m == "rich" or m.startswith("rich.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "rich", None)  # import rich now raises ImportError
    churn.simulate(tmp_path / "p.json", users=20, days=2, progress=True)
    err = capsys.readouterr().err
    assert "100.0 %" in err and "events" in err


try:
    from hypothesis import given, settings, strategies as st
except ImportError:  # pragma: no cover
    given = None

if given is not None:

    @settings(max_examples=15, deadline=None)
    @given(users=st.integers(0, 40), days=st.integers(1, 6), seed=st.integers(0, 2**64 - 1),
           threads=st.integers(1, 3), start=st.dates(min_value=datetime.date(1990, 1, 1), max_value=datetime.date(2030, 12, 31)))
    def test_any_small_run_keeps_the_rules(tmp_path_factory, users, days, seed, threads, start):
        path = tmp_path_factory.mktemp("h") / "h.json"
        s = churn.simulate(path, users=users, days=days, seed=seed, threads=threads, start=start)
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        assert len(rows) == s.events
        start_ms = calendar.timegm(start.timetuple()) * 1000
        last = {}
        for r in rows:
            assert r["ts"] >= start_ms
            uid = r["userId"]
            if uid:
                prev = last.get(uid)
                if prev is not None:
                    assert prev["page"] != "Cancellation Confirmation"
                    assert prev["page"] != "Cancel" or r["page"] == "Cancellation Confirmation"
                    assert r["level"] == prev["level"] or prev["page"] in ("Submit Upgrade", "Submit Downgrade")
                    assert (r["location"], r["userAgent"]) == (prev["location"], prev["userAgent"])
                last[uid] = r
        # Only the confirmation of a Cancel made just before the end may fall after it.
        end_ms = start_ms + days * 86_400_000
        assert all(r["ts"] < end_ms or r["page"] == "Cancellation Confirmation" for r in rows)


def test_compiled_in_eventsim_data_is_up_to_date(tmp_path):
    """The committed header is what tools/gen_eventsim_data.py makes from eventsim's files (CI has them)."""
    import subprocess
    import sys

    import os
    from pathlib import Path

    # Not imported from conftest: tests/web has a conftest module of its own in the same session.
    ROOT = Path(__file__).resolve().parents[2]
    SHARED_DATA = Path(os.environ.get("CHURN_SHARED_DATA", ROOT.parent / "shared" / "data"))

    eventsim = SHARED_DATA / "eventsim"
    if not (eventsim / "configs").is_dir():
        pytest.skip(f"eventsim files not found at {eventsim} (set CHURN_SHARED_DATA)")
    out = tmp_path / "eventsim_data.hpp"
    subprocess.run([sys.executable, str(ROOT / "tools" / "gen_eventsim_data.py"), "--eventsim", str(eventsim),
                    "--out", str(out)], check=True, capture_output=True)
    assert out.read_bytes() == (ROOT / "include" / "churn" / "detail" / "eventsim_data.hpp").read_bytes()


def test_stub_matches_the_binding():
    """python/churn/_churn.pyi declares the simulate bindings with the binding's parameter names."""
    import ast
    import re
    from pathlib import Path

    from churn import _churn

    stub = ast.parse((Path(churn.__file__).parent / "_churn.pyi").read_text())
    declared = {f.name: f for f in stub.body if isinstance(f, ast.FunctionDef)}
    for name in ("simulate_config_names", "default_config_mix", "_simulate_file", "_simulate_counts",
                 "_simulate_oracle"):
        assert name in declared, name
        signature = getattr(_churn, name).__doc__.splitlines()[0]  # "name(a: int = 1, ...) -> ..."
        bound = re.findall(r"(\w+):", signature.split("->")[0])
        assert [a.arg for a in declared[name].args.args] == bound, name
        assert ast.get_docstring(declared[name]), name


def test_behaviours_engagement_is_the_default_and_eventsim_differs(tmp_path):
    a, b, c = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    churn.simulate(a, users=60, days=10, seed=3)
    churn.simulate(b, users=60, days=10, seed=3, behaviour="engagement", threads=1)
    churn.simulate(c, users=60, days=10, seed=3, behaviour="eventsim")
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()
    d = tmp_path / "d.json"  # overrides as a dict or as EngagementParams
    params = churn.simulation.EngagementParams()
    params.cancel_per_day = 0.0
    assert churn.simulate(d, users=200, days=30, engagement=params).churned == 0
    assert churn.simulate(d, users=200, days=30, engagement={"cancel_per_day": 0.0}).churned == 0
    assert churn.simulation.engagement_defaults()["cancel_elasticity"] == 3.5
    assert set(churn.simulation.engagement_defaults()) == set(churn.simulation.ENGAGEMENT_FIELDS)


def test_cli_behaviour(tmp_path):
    out, ref = tmp_path / "e.json", tmp_path / "r.json"
    assert cli.main(["simulate", "--users", "30", "--days", "5", "--behaviour", "eventsim", "--out", str(out),
                     "--quiet"]) == 0
    churn.simulate(ref, users=30, days=5, behaviour="eventsim")
    assert out.read_bytes() == ref.read_bytes()
    with pytest.raises(SystemExit):
        cli.main(["simulate", "--behaviour", "nope", "--out", str(out)])


def test_oracle_rows_are_the_window_tables_and_it_ranks_churners_first(tmp_path):
    log = tmp_path / "o.json"
    churn.simulate(log, users=300, days=60, seed=2)
    table = churn.user_features(log, label="window")
    ceiling = churn.simulation.oracle(users=300, days=60, seed=2, cutoff=table.cutoff_ms, draws=100)
    assert ceiling.cutoff_ms == table.cutoff_ms and ceiling.draws == 100 and len(ceiling) == len(table)
    by_id = ceiling.as_dict()
    assert set(by_id) == set(table.user_ids)
    p = np.array([by_id[u] for u in table.user_ids])
    y = np.asarray(table.y)
    assert ((p >= 0) & (p <= 1)).all()
    assert churn.metrics.roc_auc_score(y, p) > 0.7
    assert abs(p.sum() - y.sum()) <= 3 * np.sqrt(y.sum()) + 2  # calibrated in the mean
    # the default cutoff is the window labels' default; a date works too
    again = churn.simulation.oracle(users=300, days=60, seed=2, cutoff=table.cutoff.date(), draws=100)
    assert np.array_equal(again.probability, ceiling.probability)
    assert churn.simulation.oracle(users=300, days=60, seed=2, draws=100).cutoff_ms == table.cutoff_ms
    with pytest.raises(churn.ParameterError, match="cutoff"):
        churn.simulation.oracle(users=20, days=20, cutoff="2018-10-05")
