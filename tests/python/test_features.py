"""Python API of the per-user features: churn.user_features, FeatureTable, FeatureAccumulator."""
import datetime as dt
import glob
import json
import os
import pickle
import random
import re

import numpy as np
import pytest

import churn

SAMPLE = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data", "sparkify",
                                       "udacity-dend-log_data", "2018", "11", "*.json")))
needs_sample = pytest.mark.skipif(not SAMPLE, reason="the real sample in ../shared/data is not available")

CUTOFF = dt.date(2018, 11, 15)
T = (CUTOFF - dt.date(1970, 1, 1)).days * 86_400_000
DAY = 86_400_000
MIN = 60_000


def ev(user, ts, page, session=1, level="free", artist=None, length=None, auth="Logged In", **extra):
    e = {"ts": ts, "userId": user, "sessionId": session, "page": page, "auth": auth,
         "method": "PUT" if page == "NextSong" else "GET", "status": 200, "level": level, "itemInSession": 0,
         "location": "Austin-Round Rock, TX", "userAgent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/31.0",
         "lastName": "L", "firstName": "F", "registration": T - 50 * DAY, "gender": "M",
         "artist": artist, "song": "s" if artist else None, "length": length}
    if not user:
        for k in ("location", "userAgent", "lastName", "firstName", "registration", "gender"):
            e[k] = None
    e.update(extra)
    return e


def fixture_events():
    return [
        ev("1", T - 3 * DAY, "NextSong", artist="A", length=180.0),
        ev("1", T - 3 * DAY + 3 * MIN, "NextSong", artist="B", length=200.0),
        ev("1", T - 3 * DAY + 4 * MIN, "Thumbs Up"),
        ev("1", T - 3 * DAY + 5 * MIN, "Roll Advert"),
        ev("1", T - 1 * DAY, "NextSong", session=2, artist="A", length=100.0),
        ev("1", T + 1 * DAY, "Cancel", session=3),
        ev("1", T + 1 * DAY + 1000, "Cancellation Confirmation", session=3, auth="Cancelled"),
        ev("2", T - 2 * DAY, "Home", session=4, level="paid", gender="F"),
        ev("2", T + 2 * DAY, "Home", session=5, level="paid", gender="F"),
        ev("", T - 2 * DAY, "Home", session=6, auth="Logged Out"),
        ev("", T - 2 * DAY, "Home", session=7, auth="Guest"),
    ]


def write_jsonl(path, events):
    with open(path, "w") as f:
        for e in events:
            f.write(json.dumps(e) + "\n")
    return str(path)


@pytest.fixture
def fixture_file(tmp_path):
    return write_jsonl(tmp_path / "events.json", fixture_events())


def test_table_shape_labels_and_hand_computed_values(fixture_file):
    t = churn.user_features(fixture_file, cutoff=CUTOFF, horizon_days=7)
    assert isinstance(t.X, np.ndarray) and t.X.dtype == np.float64
    assert t.X.shape == (2, len(t.feature_names))
    assert t.user_ids == ["1", "2"]
    assert t.y.tolist() == [1, 0]
    assert len(t.descriptions) == len(t.units) == len(t.kinds) == len(t.feature_names)
    c = t.column
    assert c("events").tolist() == [5, 1]
    assert c("songs").tolist() == [3, 0]
    assert c("sessions").tolist() == [2, 1]
    assert c("active_days").tolist() == [2, 1]
    assert c("listening_hours")[0] == pytest.approx(480 / 3600)
    assert c("distinct_artists")[0] == 2
    assert c("thumbs_up_per_song")[0] == pytest.approx(1 / 3)
    assert c("roll_adverts").tolist() == [1, 0]
    assert c("tenure_days").tolist() == [50, 50]
    assert c("days_since_last_event").tolist() == [1, 2]
    assert c("mean_session_minutes")[0] == pytest.approx(2.5)  # 5 minutes and 0
    assert c("level_paid").tolist() == [0, 1]
    assert t.categories["gender"][int(c("gender")[0])] == "M"
    assert t.categories["gender"][int(c("gender")[1])] == "F"
    assert t.categories["platform"][int(c("platform")[0])] == "linux"
    assert t.categories["state"][int(c("state")[0])] == "TX"
    r = t.report
    assert (r.anonymous_events, r.guest_events, r.logged_out_events) == (2, 1, 1)
    assert r.cancellation_events == 2
    assert t.cutoff == dt.datetime(2018, 11, 15, tzinfo=dt.timezone.utc)
    assert "2 users seen" in str(r)


def test_cutoff_forms_are_equivalent(fixture_file):
    ref = churn.user_features(fixture_file, cutoff=CUTOFF, horizon_days=7)
    for cutoff in ("2018-11-15", T, dt.datetime(2018, 11, 15), np.datetime64("2018-11-15"),
                   dt.datetime(2018, 11, 15, tzinfo=dt.timezone.utc)):
        t = churn.user_features(fixture_file, cutoff=cutoff, horizon_days=7)
        assert t.cutoff_ms == T
        np.testing.assert_array_equal(t.X, ref.X)


def test_history_mode_and_leak(fixture_file):
    h = churn.user_features(fixture_file, label="history")
    assert h.label == "history" and h.cutoff is None
    assert h.y.tolist() == [1, 0]
    # The churner's log stops at the cancellation: last seen two days "before" it; the stayer's
    # reference is the log end.
    assert h.column("days_since_last_event")[0] == pytest.approx(2 + 1000 / DAY)


def test_to_pandas(fixture_file):
    pd = pytest.importorskip("pandas")
    t = churn.user_features(fixture_file, cutoff=CUTOFF, horizon_days=7)
    df = t.to_pandas()
    assert list(df.index) == ["1", "2"] and df.index.name == "user_id"
    assert list(df.columns) == t.feature_names + ["churned"]
    assert df["churned"].tolist() == [1, 0]
    decoded = t.to_pandas(decode=True)
    assert isinstance(decoded["state"].dtype, pd.CategoricalDtype)
    assert decoded["state"].tolist() == ["TX", "TX"]
    info = t.feature_info()
    assert info[t.feature_names.index("state")]["categories"][:2] == ["unknown", "other"]


def test_table_is_the_bound_struct_with_views_of_its_memory(fixture_file):
    t = churn.user_features(fixture_file, cutoff=CUTOFF, horizon_days=7)
    assert isinstance(t, churn._churn._FeatureTable) and isinstance(t.report, churn.FeatureReport)
    X, y, cutoffs = t.X, t.y, t.cutoffs
    for a in (X, y, cutoffs):  # views of the table's memory, not copies
        assert a.base is t and not a.flags["OWNDATA"]
    assert np.shares_memory(X, t.X) and X.flags["F_CONTIGUOUS"] and X.dtype == np.float64
    assert y.dtype == np.int32 and cutoffs.dtype == np.int64 and (cutoffs == t.cutoff_ms).all()
    expected = X.copy()
    del t
    import gc
    gc.collect()
    np.testing.assert_array_equal(X, expected)  # the view keeps the table alive
    t = churn.user_features(fixture_file, cutoff=CUTOFF, horizon_days=7)
    for name in ("X", "y", "user_ids", "report", "label", "cutoff_ms", "cutoffs"):
        with pytest.raises(AttributeError):
            setattr(t, name, None)
    assert [f.name for f in t.features] == t.feature_names
    assert [f.to_dict() for f in t.features] == t.feature_info()
    assert t.categories == {f.name: f.categories for f in t.features if f.kind == "categorical"}
    assert str(t.report) == t.report.summary and t.report.cutoff_ms == t.cutoff_ms
    history = churn.user_features(fixture_file, label="history")
    assert history.cutoffs is None and history.cutoff_ms is None and history.label == "history"


def test_tables_pickle_whole(tmp_path, fixture_file):
    bad = tmp_path / "bad.json"
    bad.write_text(open(fixture_file).read() + "{not json\n")
    for t in (churn.user_features(bad, strict=False, cutoff=CUTOFF, horizon_days=7),
              churn.user_features(fixture_file, label="history", session_gap_minutes=10),
              churn.user_features(fixture_file, cutoffs=[CUTOFF - dt.timedelta(days=1), CUTOFF], horizon_days=7)):
        back = pickle.loads(pickle.dumps(t))
        assert type(back) is churn.FeatureTable and repr(back) == repr(t)
        np.testing.assert_array_equal(back.X, t.X)
        np.testing.assert_array_equal(back.y, t.y)
        assert back.X.flags["F_CONTIGUOUS"] and back.user_ids == t.user_ids
        assert (back.cutoffs is None) == (t.cutoffs is None)
        if t.cutoffs is not None:
            np.testing.assert_array_equal(back.cutoffs, t.cutoffs)
        assert back.feature_info() == t.feature_info() and back.categories == t.categories
        assert (back.label, back.cutoff_ms, back.horizon_days, back.session_gap_minutes) == \
            (t.label, t.cutoff_ms, t.horizon_days, t.session_gap_minutes)
        assert back.report.summary == t.report.summary and back.report.read == t.report.read
        assert back.report.snapshot_rows == t.report.snapshot_rows


def test_read_reports_are_one_bound_class(fixture_file):
    t = churn.user_features(fixture_file, cutoff=CUTOFF, horizon_days=7)
    acc = churn.FeatureAccumulator()
    from_files = acc.add_files(fixture_file)
    events = churn.read_events(fixture_file).report
    for r in (t.report.read, from_files, events, churn.scan(fixture_file).report):
        assert type(r) is churn.ReadReport
        assert r.events == r["events"] == len(fixture_events()) and r.bad_lines == 0
        assert r == r.to_dict() and str(r) == r.summary and "examples" in r.keys()
    assert from_files == events == t.report.read
    assert acc.finalize(cutoff=CUTOFF, horizon_days=7).report.read is None
    assert acc.finalize(cutoff=CUTOFF, horizon_days=7, read=from_files).report.read == from_files


def test_errors_are_clear(tmp_path, fixture_file):
    with pytest.raises(churn.ParameterError, match="label"):
        churn.user_features(fixture_file, label="future")
    with pytest.raises(churn.ParameterError, match="UTC midnight"):
        churn.user_features(fixture_file, cutoff=T + 3600_000)
    with pytest.raises(churn.ParameterError, match="cutoff"):
        churn.user_features(fixture_file, cutoff="last tuesday")
    with pytest.raises(churn.ParameterError, match="horizon_days"):
        churn.user_features(fixture_file, horizon_days=-1)
    with pytest.raises(churn.ParameterError):
        churn.user_features([])
    with pytest.raises(churn.ChurnIOError):
        churn.user_features(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text(open(fixture_file).read() + "{not json\n")
    with pytest.raises(churn.ParseError) as info:
        churn.user_features(bad)
    assert info.value.line == len(fixture_events()) + 1
    lenient = churn.user_features(bad, strict=False, cutoff=CUTOFF, horizon_days=7)
    assert lenient.report.read["bad_lines"] == 1
    with pytest.raises(churn.DataError):
        churn.FeatureAccumulator.from_bytes(b"nonsense")


def test_accumulator_pickle_merge_and_finalize(tmp_path):
    events = fixture_events()
    lines = [json.dumps(e) for e in events]
    whole = churn.FeatureAccumulator()
    whole.add_jsonl("\n".join(lines))
    a, b = churn.FeatureAccumulator(), churn.FeatureAccumulator()
    a.add_jsonl("\n".join(lines[::2]))
    b.add_jsonl("\n".join(lines[1::2]))
    merged = pickle.loads(pickle.dumps(a)).merge(pickle.loads(pickle.dumps(b)))
    assert merged.to_bytes() == whole.to_bytes()
    assert churn.FeatureAccumulator().first_ts is None and churn.FeatureAccumulator().last_ts is None
    times = [e["ts"] for e in events]
    assert (merged.first_ts, merged.last_ts) == (whole.first_ts, whole.last_ts) == (min(times), max(times))
    t1 = merged.finalize(cutoff=CUTOFF, horizon_days=7)
    t2 = whole.finalize(cutoff=CUTOFF, horizon_days=7)
    np.testing.assert_array_equal(t1.X, t2.X)
    assert churn.merge_accumulators([a, b]).to_bytes() == whole.to_bytes()
    with pytest.raises(churn.ParameterError):
        churn.FeatureAccumulator(session_gap_minutes=10).merge(a)
    # The gap is the accumulator's (aggregation options), whatever labelling finalises it.
    gap10 = churn.FeatureAccumulator(session_gap_minutes=10)
    gap10.add_jsonl("\n".join(lines))
    for t in (gap10.finalize(cutoff=CUTOFF, horizon_days=7), gap10.finalize(label="history")):
        assert t.session_gap_minutes == 10
    assert whole.finalize(label="history").session_gap_minutes == 30


@needs_sample
def test_sample_threads_and_lists_agree(tmp_path):
    one = churn.user_features(SAMPLE, cutoff="2018-11-20", horizon_days=7, threads=1)
    assert one.report.events == 8056 and len(one) > 50
    for threads in (2, 3):
        t = churn.user_features(SAMPLE, cutoff="2018-11-20", horizon_days=7, threads=threads)
        np.testing.assert_array_equal(t.X, one.X)
        assert t.user_ids == one.user_ids
    acc = churn.FeatureAccumulator()
    for path in reversed(SAMPLE):
        acc.add_files(path)
    np.testing.assert_array_equal(acc.finalize(cutoff="2018-11-20", horizon_days=7).X, one.X)


@needs_sample
def test_sample_against_pandas_oracle():
    """Counts recomputed with pandas from the raw JSON match the C++ table."""
    pd = pytest.importorskip("pandas")
    df = pd.concat([pd.read_json(p, lines=True) for p in SAMPLE], ignore_index=True)
    cutoff = pd.Timestamp("2018-11-20", tz="UTC").value // 1_000_000
    df = df[(df.userId.astype(str) != "") & (df.ts < cutoff)].copy()
    df["userId"] = df.userId.astype(str)
    t = churn.user_features(SAMPLE, cutoff="2018-11-20", horizon_days=7)
    g = df.groupby("userId")
    expected = pd.DataFrame({
        "events": g.size(),
        "songs": g.page.apply(lambda s: (s == "NextSong").sum()),
        "thumbs_up": g.page.apply(lambda s: (s == "Thumbs Up").sum()),
        "listening_hours": g.length.sum() / 3600,
        "active_days": g.ts.apply(lambda s: (s // DAY).nunique()),
        "distinct_artists": g.artist.nunique(),
        "paid_share": g["level"].apply(lambda s: (s == "paid").mean()),
    })
    got = t.to_pandas().loc[expected.index, expected.columns]
    pd.testing.assert_frame_equal(got.astype(float), expected.astype(float), check_names=False, rtol=1e-9)


def test_cli_features_writes_csv(tmp_path, fixture_file, capsys):
    import csv

    from churn.cli import main

    out = tmp_path / "features.csv"
    assert main(["features", fixture_file, "--out", str(out), "--cutoff", "2018-11-15", "--horizon-days", "7",
                 "--decode"]) == 0
    rows = list(csv.DictReader(open(out)))
    t = churn.user_features(fixture_file, cutoff=CUTOFF, horizon_days=7)
    assert [r["user_id"] for r in rows] == t.user_ids
    assert [int(r["churned"]) for r in rows] == t.y.tolist()
    assert float(rows[0]["listening_hours"]) == pytest.approx(t.column("listening_hours")[0])
    assert rows[0]["state"] == "TX"
    err = capsys.readouterr().err
    assert "wrote 2 users" in err and "without a user id" in err
    assert main(["features", str(tmp_path / "missing.json"), "--out", str(out)]) == 2


def _reference_csv(table, decode: bool) -> str:
    """write_csv's output as it was first written: csv.writer, one f"{v:.10g}" per cell (the reference the
    faster writer must reproduce byte for byte)."""
    import csv
    import io

    from churn.csvsafe import neutralise

    cat_cols = {i: table.categories[n] for i, n in enumerate(table.feature_names) if n in table.categories}
    dates = {c: churn._churn._format_utc(c) for c in table.report.snapshot_cutoffs}
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(["user_id", *(["cutoff"] if table.is_snapshots else []), *table.feature_names, "churned"])
    for i, uid in enumerate(table.user_ids):
        cells = [neutralise(cat_cols[j][int(v)]) if decode and j in cat_cols else f"{v:.10g}"
                 for j, v in enumerate(table.X[i])]
        key = [neutralise(uid), dates[int(table.cutoffs[i])]] if table.is_snapshots else [neutralise(uid)]
        w.writerow([*key, *cells, int(table.y[i])])
    return buf.getvalue()


def test_write_csv_is_the_cell_by_cell_csv(tmp_path):
    from churn.features import write_csv

    # User ids that csv.writer must quote (comma, quote, line ends) or neutralise, beside plain ones.
    odd = ['a,b', 'say "hi"', "line\nbreak", "cr\rid", "=1+1", "plain"]
    lines = []
    for day in range(40):
        for k, uid in enumerate(odd):
            ts = 1538352000000 + day * 86_400_000 + k * 60_000
            lines.append(json.dumps({"ts": ts, "userId": uid, "sessionId": day * 10 + k, "page": "NextSong",
                                     "artist": f"A{day % 7}", "song": "s", "length": 200.5 + k, "level": "paid",
                                     "registration": 1538000000000, "gender": "F", "location": "Austin, TX",
                                     "userAgent": "Mozilla/5.0 (Windows NT 6.1)"}))
        if day == 30:
            lines.append(json.dumps({"ts": 1538352000000 + day * 86_400_000 + 3_600_000, "userId": "a,b",
                                     "sessionId": 999, "page": "Cancellation Confirmation", "level": "paid",
                                     "registration": 1538000000000}))
    path = tmp_path / "odd.json"
    path.write_text("\n".join(lines) + "\n")
    tables = [churn.user_features(path, every_days=7, horizon_days=14),
              churn.user_features(path, label="history"), churn.user_features(path, horizon_days=7)]
    assert tables[0].is_snapshots and len(tables[0]) > len(odd)
    for table in tables:
        for decode in (False, True):
            out = tmp_path / "t.csv"
            write_csv(table, out, decode=decode)
            with open(out, newline="") as f:
                assert f.read() == _reference_csv(table, decode)
    # Every number, specials and rounding ties at the tenth digit included: a table of the same shape with
    # other values (through its pickled state, the one way to put chosen numbers into a table).
    table = tables[2]
    state = table.__getstate__()
    rng = np.random.default_rng(0)
    X = np.asarray(state[1]).copy()
    cells = np.concatenate([
        [np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 5e-324, 1e-300, 1e300, 1.7976931348623157e308, 1e-5, 1e-4,
         123456789012.5, 0.1 + 0.2, 3.0, 9999999999.5, 99999999995.0, 1e16, 1 / 3],
        rng.integers(1, 10**11, 200) / 2 * 10.0 ** rng.integers(-15, 6, 200),  # ties: 10 digits + a half
        rng.normal(0, 1e6, 200), [round(v, int(d)) for v, d in zip(rng.random(200), rng.integers(0, 12, 200))],
        rng.integers(0, 2**64, 2000, dtype=np.uint64).view(np.float64)])  # any bit pattern
    X = np.resize(cells, (max(X.shape[0], len(cells) // X.shape[1] + 1), X.shape[1]))
    n = X.shape[0]
    other = churn.FeatureTable.__new__(churn.FeatureTable)
    other.__setstate__((state[0], np.asfortranarray(X), [i % 2 for i in range(n)], [f"u{i}" for i in range(n)],
                        [state[4][0]] * n, *state[5:]))
    write_csv(other, tmp_path / "numbers.csv")
    with open(tmp_path / "numbers.csv", newline="") as f:
        assert f.read() == _reference_csv(other, False)


def test_cli_features_imports_no_numpy(tmp_path, fixture_file):
    """`churn features` (files in, CSV out) runs on the compiled core alone: no numpy, nothing heavy at
    start-up; its CSV is write_csv's."""
    import subprocess
    import sys

    out = tmp_path / "cli.csv"
    code = ("import sys; from churn.cli import main; rc = main(sys.argv[1:]); "
            "heavy = sorted(m for m in ('numpy', 'pandas', 'sklearn', 'rich', 'csv') if m in sys.modules); "
            "print(rc, heavy)")
    for extra in (["--quiet"], [], ["--decode", "--quiet"]):
        done = subprocess.run([sys.executable, "-c", code, "features", fixture_file, "--out", str(out), "--cutoff",
                               "2018-11-15", "--horizon-days", "7", *extra], capture_output=True, text=True,
                              timeout=120)
        assert done.stdout.split("\n")[0] == "0 []", done.stdout + done.stderr
        from churn.features import write_csv

        write_csv(churn.user_features(fixture_file, cutoff=CUTOFF, horizon_days=7), tmp_path / "ref.csv",
                  decode="--decode" in extra)
        assert out.read_bytes() == (tmp_path / "ref.csv").read_bytes()
        assert ("wrote 2 users" in done.stderr) == (extra == [])
    # Errors are as before: the message and exit code 2, still without numpy.
    done = subprocess.run([sys.executable, "-c", code, "features", str(tmp_path / "missing.json"), "--out",
                           str(out)], capture_output=True, text=True, timeout=120)
    assert done.stdout.split("\n")[0] == "2 []" and "churn features: error: " in done.stderr, done.stderr
    assert "missing.json" in done.stderr


def test_write_csv_errors_name_the_file(tmp_path, fixture_file):
    from churn.features import write_csv

    table = churn.user_features(fixture_file, cutoff=CUTOFF, horizon_days=7)
    with pytest.raises(churn.ChurnIOError, match=f"cannot write '{tmp_path}': Is a directory"):
        write_csv(table, tmp_path)
    with pytest.raises(churn.ChurnIOError, match="cannot write '.*no-such-dir/x.csv': No such file or directory"):
        write_csv(table, tmp_path / "no-such-dir" / "x.csv")
    if os.path.exists("/dev/full"):  # a full disk was an OSError from deep inside the csv module
        with pytest.raises(churn.ChurnIOError, match="cannot write '/dev/full': No space left on device"):
            write_csv(table, "/dev/full")


hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402


@st.composite
def logs(draw):
    n = draw(st.integers(1, 40))
    events = []
    for _ in range(n):
        user = draw(st.sampled_from(["1", "2", "3", ""]))
        page = draw(st.sampled_from(["NextSong", "Home", "Thumbs Up", "Roll Advert", "Submit Upgrade", "Cancel",
                                     "Cancellation Confirmation", "Error"]))
        ts = T + draw(st.integers(-20 * DAY, 10 * DAY))
        session = draw(st.integers(1, 4))
        level = draw(st.sampled_from(["free", "paid"]))
        artist = draw(st.sampled_from(["A", "B", "C"])) if page == "NextSong" else None
        events.append(ev(user, ts, page, session=session, level=level, artist=artist,
                         length=123.25 if artist else None))
    return events


@settings(max_examples=60, deadline=None)
@given(logs(), st.data())
def test_hypothesis_any_split_merges_into_the_whole(events, data):
    lines = [json.dumps(e) for e in events]
    whole = churn.FeatureAccumulator()
    whole.add_jsonl("\n".join(lines))
    order = data.draw(st.permutations(range(len(lines))))
    k = data.draw(st.integers(1, 4))
    chunks = [[lines[i] for i in order[j::k]] for j in range(k)]
    parts = []
    for chunk in chunks:
        acc = churn.FeatureAccumulator()
        if chunk:
            acc.add_jsonl("\n".join(chunk))
        parts.append(pickle.loads(pickle.dumps(acc)))
    random.Random(len(lines)).shuffle(parts)
    merged = churn.merge_accumulators(parts)
    assert merged.to_bytes() == whole.to_bytes()


# ---- max_users: a resource limit for untrusted logs ----------------------------------------------
def minimal_lines(ids, ts=T - DAY):
    """One minimal event line per id, the shape a hostile upload repeats millions of times."""
    return "".join(json.dumps({"ts": ts, "page": "Home", "userId": u, "sessionId": 1}) + "\n" for u in ids)


def limit_reason(n):
    return f"more than {n} distinct users in the input (the limit max_users); raise the limit or split the log by user"


def test_max_users_stops_at_the_first_user_beyond_it_and_names_the_line(tmp_path):
    log = tmp_path / "many.json"
    log.write_text(minimal_lines([str(100 + i) for i in range(10) for _ in range(2)]))
    with pytest.raises(churn.DataError) as info:
        churn.user_features(log, max_users=4, threads=1)
    e = info.value
    assert (e.file, e.line, e.reason) == (str(log), 9, limit_reason(4))  # users 100..103 take lines 1-8
    assert str(e) == f"data error in {log} at line 9: {limit_reason(4)}"
    for threads in (1, 2, 3):
        # Below the number of users every thread count fails (in a thread or in the merge of them) ...
        with pytest.raises(churn.DataError, match=re.escape(limit_reason(9))):
            churn.user_features(log, label="history", threads=threads, max_users=9)
        # ... at it, the table is the one without a limit.
        limited = churn.user_features(log, label="history", threads=threads, max_users=10)
        assert limited.user_ids == churn.user_features(log, label="history").user_ids
        assert len(limited) == 10


def test_accumulator_max_users_refuses_new_users_and_stays_usable(tmp_path):
    assert churn.FeatureAccumulator().max_users is None
    acc = churn.FeatureAccumulator(max_users=3)
    assert acc.max_users == 3
    acc.add_jsonl(minimal_lines(["a", "b", "a", "c"]))
    with pytest.raises(churn.DataError) as info:
        acc.add_jsonl(minimal_lines(["b", "d", "a"]), name="upload.json")
    assert (info.value.file, info.value.line, info.value.reason) == ("upload.json", 2, limit_reason(3))
    assert (acc.events, acc.users) == (5, 3)  # "b" on line 1 came in; "d" and what follows did not
    log = tmp_path / "more.json"
    log.write_text(minimal_lines(["c", "e"]))
    with pytest.raises(churn.DataError) as info:
        churn.FeatureAccumulator(max_users=1).add_files(log, threads=1)
    assert (info.value.file, info.value.line, info.value.reason) == (str(log), 2, limit_reason(1))
    # add_files reads into a part of its own and merges it whole: beyond the limit only together, the
    # merge refuses it (no line: the users were counted, not read) and nothing of the file comes in.
    with pytest.raises(churn.DataError, match=re.escape(limit_reason(3))) as info:
        acc.add_files(log, threads=1)
    assert getattr(info.value, "line", None) is None  # a LimitError (issue 15): .line is None
    assert (acc.events, acc.users) == (5, 3)
    # Known users and anonymous events still come in; finalize works.
    acc.add_jsonl(minimal_lines(["a", ""]))
    assert (acc.events, acc.users) == (7, 3)
    assert acc.finalize(label="history").user_ids == ["a", "b", "c"]
    # merge: refused as a whole when the union is beyond the limit.
    other = churn.FeatureAccumulator()
    other.add_jsonl(minimal_lines(["a", "x"]))
    before = acc.to_bytes()
    with pytest.raises(churn.DataError, match=re.escape(limit_reason(3))):
        acc.merge(other)
    assert acc.to_bytes() == before
    # The limit is not part of the aggregate: pickling keeps the users, not the limit.
    back = pickle.loads(pickle.dumps(acc))
    assert back.max_users is None and back.to_bytes() == before
    back.merge(other)
    assert back.users == 4


@pytest.mark.parametrize("bad", [0, -1, 2.5, "10", True])
def test_max_users_must_be_none_or_a_positive_integer(fixture_file, bad):
    with pytest.raises(churn.ParameterError, match="max_users"):
        churn.FeatureAccumulator(max_users=bad)
    with pytest.raises(churn.ParameterError, match="max_users"):
        churn.user_features(fixture_file, max_users=bad)


def test_absurd_timestamps_in_a_file_name_their_line(tmp_path):
    log = tmp_path / "far.json"
    log.write_text(minimal_lines(["1"]) + minimal_lines(["2"], ts=1 << 60))
    with pytest.raises(churn.DataError, match="outside the years 1 to 9999") as info:
        churn.user_features(log)
    assert (info.value.file, info.value.line) == (str(log), 2)
