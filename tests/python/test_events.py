import gzip
import json
import pickle

import numpy as np
import pytest

import churn


def test_version_and_package():
    assert churn.__version__.count(".") == 2
    from churn import _churn

    assert _churn.__version__ == churn.__version__


def test_read_events_quirks(test_data):
    table = churn.read_events(test_data / "events" / "quirks.jsonl")
    assert len(table) == 3
    assert table.report.events == 3 and table.report.blank_lines == 2 and table.report.bad_lines == 0
    assert list(table["userId"]) == ["30", "", "9"]
    assert list(table["page"]) == ["NextSong", "Home", "Mystery Page"]
    assert table["ts"].dtype == np.int64
    assert table["registration"][1] == churn.events.MISSING_INT
    assert table["registration"][2] == 1538173362000
    assert np.isnan(table["length"][1]) and table["length"][0] == pytest.approx(277.89016)
    assert list(table["auth"]) == ["Logged In", "Logged Out", None]  # absent: null, not ""
    assert list(table["gender"]) == ["M", None, None] and table.codes("gender").tolist() == [0, -1, -1]
    assert table.codes("page")[0] == churn._churn.page_names.index("NextSong")


def test_read_events_gzip_equals_plain(test_data):
    plain = churn.read_events(test_data / "events" / "quirks.jsonl")
    gz = churn.read_events(test_data / "events" / "quirks.jsonl.gz")
    for name in plain.columns:
        a, b = plain[name], gz[name]
        if a.dtype == np.float64:
            np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
            np.testing.assert_array_equal(a[~np.isnan(a)], b[~np.isnan(b)])
        else:
            assert list(a) == list(b), name


def test_to_pandas(test_data):
    pd = pytest.importorskip("pandas")
    df = churn.read_events(test_data / "events" / "quirks.jsonl").to_pandas()
    assert list(df.columns) == list(churn.events.COLUMNS)
    assert df["registration"].isna().tolist() == [False, True, False]
    assert df["page"].tolist() == ["NextSong", "Home", "Mystery Page"]
    assert isinstance(df["userId"].dtype, pd.CategoricalDtype)


def test_strict_error_names_file_line_field(test_data):
    path = test_data / "events" / "errors.jsonl"
    with pytest.raises(churn.ParseError) as info:
        churn.read_events(path)
    err = info.value
    assert err.file == str(path) and err.line == 2 and err.field == ""
    assert "at line 2" in str(err)
    assert isinstance(err, ValueError) and isinstance(err, churn.ChurnError)


def test_wrong_type_names_the_field(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"ts": 1, "page": "Home"}\n{"ts": 2, "page": "Home", "sessionId": "abc"}\n')
    with pytest.raises(churn.ParseError) as info:
        churn.read_events(path)
    assert (info.value.line, info.value.field) == (2, "sessionId")
    assert info.value.reason == "expected an integer, got a string"


def test_lenient_counts_and_reports(test_data):
    table = churn.read_events(test_data / "events" / "errors.jsonl", strict=False)
    assert len(table) == 2
    report = table.report
    assert report.bad_lines == 7 and sum(report.bad_by_reason.values()) == 7
    assert [line for line, _ in report.examples] == [2, 3, 4, 5, 6, 7, 8]
    assert "7 bad" in str(report)


def test_missing_file_is_oserror():
    with pytest.raises(churn.ChurnIOError) as info:
        churn.read_events("/nonexistent/file.json")
    assert "/nonexistent/file.json" in str(info.value)
    assert isinstance(info.value, OSError)


def test_scan_real_sample(sparkify_sample):
    totals = {"events": 0, "anonymous_events": 0, "bad": 0}
    users = set()
    for path in sorted(sparkify_sample.glob("*.json")):
        summary = churn.scan(path)
        totals["events"] += summary.events
        totals["anonymous_events"] += summary.anonymous_events
        totals["bad"] += summary.report.bad_lines
        table = churn.read_events(path)
        assert len(table) == summary.events
        users.update(u for u in table["userId"] if u)
        # Cross-check the reader against Python's json module, field by field for one column.
        with open(path, encoding="utf-8") as f:
            expected = [json.loads(line)["ts"] for line in f if line.strip()]
        assert table["ts"].tolist() == expected
    assert totals == {"events": 8056, "anonymous_events": 286, "bad": 0}
    assert len(users) == 97


def test_scan_counts_churned_users(tmp_path):
    lines = [
        {"ts": 1, "userId": "1", "sessionId": 1, "page": "NextSong", "auth": "Logged In", "level": "paid"},
        {"ts": 2, "userId": "1", "sessionId": 1, "page": "Cancel", "auth": "Logged In", "level": "paid"},
        {"ts": 3, "userId": "1", "sessionId": 1, "page": "Cancellation Confirmation", "auth": "Cancelled"},
        {"ts": 4, "userId": "2", "sessionId": 7, "page": "Home", "auth": "Logged In"},
        {"ts": 5, "userId": "", "sessionId": 9, "page": "Home", "auth": "Logged Out"},
    ]
    path = tmp_path / "events.json.gz"
    with gzip.open(path, "wt") as f:
        f.write("\n".join(json.dumps(x) for x in lines))
    s = churn.scan(path)
    assert (s.events, s.users, s.churned_users, s.sessions, s.anonymous_events) == (5, 2, 1, 2, 1)
    assert s.pages["Cancellation Confirmation"] == 1 and s.auths["Cancelled"] == 1
    assert (s.first_ts, s.last_ts) == (1, 5)


def test_scan_returns_the_bound_summary_read_only_with_a_dict(tmp_path):
    one = tmp_path / "a.json"
    two = tmp_path / "b.json"
    one.write_text('{"ts": 1, "userId": "1", "sessionId": 1, "page": "Home", "auth": "Logged In", "level": "free"}\n'
                   'not json\n')
    two.write_text('{"ts": 9, "userId": "2", "sessionId": 4, "page": "NextSong", "auth": "Logged In"}\n')
    s = churn.scan([one, two], strict=False, threads=1)
    assert isinstance(s, churn.ScanSummary) and isinstance(s, churn._churn._ScanSummary)
    assert (s.events, s.users, s.sessions, s.first_ts, s.last_ts) == (2, 2, 2, 1, 9)
    assert s.path == f"{one}, {two}" and [f.path for f in s.files] == [str(one), str(two)]
    assert s.report.bad_lines == 1 and s.files[0].report.bad_lines == 1 and s.files[1].files == []
    with pytest.raises(AttributeError):
        s.events = 5
    d = s.to_dict()
    assert d == {"events": 2, "anonymous_events": 0, "users": 2, "churned_users": 0, "sessions": 2, "first_ts": 1,
                 "last_ts": 9, "pages": {"Home": 1, "NextSong": 1}, "auths": {"Logged In": 2},
                 "levels": {"free": 1, "": 1}, "report": s.report.to_dict(), "path": s.path,
                 "files": [s.files[0].to_dict(), s.files[1].to_dict()]}
    assert d["files"][0]["events"] == 1 and d["files"][0]["report"]["bad_lines"] == 1
    assert "events=2" in repr(s) and "users" in str(s)
    back = pickle.loads(pickle.dumps(s))  # picklable, as the dataclass it replaced was
    assert type(back) is churn.ScanSummary and type(back.files[0]) is churn.ScanSummary
    assert back.to_dict() == d and str(back) == str(s)
    empty = tmp_path / "empty.json"
    empty.write_text("")
    e = churn.scan(empty)
    assert (e.events, e.first_ts, e.last_ts, e.first_time, e.files) == (0, None, None, None, [])


def test_cli_scan(test_data, capsys):
    from churn.cli import main

    assert main(["scan", str(test_data / "events" / "quirks.jsonl")]) == 0
    out = capsys.readouterr().out
    assert "events" in out and "Mystery Page" in out
    assert main(["scan", str(test_data / "events" / "errors.jsonl")]) == 2
    assert "line 2" in capsys.readouterr().err
