"""The event table as Arrow (issue 21, point 1): every consumer reads the same values as
polars.read_ndjson, numeric buffers are shared with pyarrow, and the parallel read is the serial one."""
import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import churn

pa = pytest.importorskip("pyarrow")
pl = pytest.importorskip("polars")

STRINGS = churn.events.STRING_COLUMNS


@pytest.fixture(scope="module")
def sim_log(tmp_path_factory):
    path = tmp_path_factory.mktemp("sim") / "log.json"
    churn.simulate(path, users=40, days=20, seed=3)
    return path


def _expected(path):
    """polars.read_ndjson's reading of a log, with churn's types: strings, int64 ms, float64."""
    df = pl.read_ndjson(path)
    out = {}
    for name in churn.events.COLUMNS:
        if name not in df.columns:
            out[name] = [None] * df.height
            continue
        col = df[name]
        if name in STRINGS:
            out[name] = col.cast(pl.Utf8).to_list()
        elif name == "length":
            out[name] = col.cast(pl.Float64).to_list()
        else:  # floats written as integers ("1540919166796.0") are read as the integer
            out[name] = col.cast(pl.Float64).cast(pl.Int64).to_list()
    return out


def _values(df):
    """The columns of a polars DataFrame read from churn, with the types of _expected."""
    out = {}
    for name in churn.events.COLUMNS:
        col = df[name]
        if name in STRINGS:
            out[name] = col.cast(pl.Utf8).to_list()
        elif name in churn.events.TIMESTAMP_COLUMNS:
            out[name] = col.dt.epoch("ms").to_list()
        else:
            out[name] = col.to_list()
    return out


def _sample_files(sparkify_sample):
    return sorted(sparkify_sample.glob("*.json"))


def _logs(sim_log, sparkify_sample):
    return [sim_log] + _sample_files(sparkify_sample)[:6]


def test_schema_is_what_a_user_expects(sim_log):
    t = churn.read_events(sim_log).to_arrow()
    assert t.schema.names == list(churn.events.COLUMNS)
    assert t.schema.field("ts").type == pa.timestamp("ms", tz="UTC")
    assert not t.schema.field("ts").nullable
    assert t.schema.field("registration").type == pa.timestamp("ms", tz="UTC")
    for name in ("sessionId", "status", "itemInSession"):
        assert t.schema.field(name).type == pa.int64()
    assert t.schema.field("length").type == pa.float64()
    for name in STRINGS:
        assert t.schema.field(name).type == pa.dictionary(pa.int32(), pa.utf8()), name
    t.validate(full=True)
    assert pa.schema(churn.read_events(sim_log)) == t.schema  # __arrow_c_schema__


def test_pyarrow_and_polars_read_what_polars_read_ndjson_reads(sim_log, sparkify_sample):
    for path in _logs(sim_log, sparkify_sample):
        table = churn.read_events(path)
        expected = _expected(path)
        assert _values(pl.from_arrow(pa.table(table))) == expected, path
        assert _values(pl.DataFrame(table)) == expected, path  # polars takes the stream itself
        reader = pa.RecordBatchReader.from_stream(table)
        assert _values(pl.from_arrow(reader.read_all())) == expected, path


def test_nulls_are_nulls_and_empty_strings_are_values(sparkify_sample):
    path = next(p for p in _sample_files(sparkify_sample) if '"userId":""' in p.read_text())
    t = churn.read_events(path).to_arrow()
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    anonymous = [i for i, r in enumerate(rows) if r["userId"] == ""]
    assert anonymous
    user = t.column("userId").to_pylist()
    first = t.column("firstName").to_pylist()
    for i in anonymous:
        assert user[i] == "" and first[i] is None and rows[i]["firstName"] is None
    assert t.column("length").null_count == sum(r["length"] is None for r in rows) > 0
    assert t.column("artist").null_count == sum(r["artist"] is None for r in rows)
    assert t.column("ts").null_count == 0


def test_pandas_with_arrow_dtypes(sim_log):
    pd = pytest.importorskip("pandas")
    df = churn.read_events(sim_log).to_arrow().to_pandas(types_mapper=pd.ArrowDtype)
    expected = _expected(sim_log)
    assert len(df) == len(expected["ts"])
    assert [None if pd.isna(v) else v for v in df["song"].tolist()] == expected["song"]
    assert [None if pd.isna(v) else v for v in df["sessionId"].tolist()] == expected["sessionId"]
    assert [v.value // 10**6 for v in df["ts"]] == expected["ts"]
    assert str(df["ts"].dtype) == "timestamp[ms, tz=UTC][pyarrow]"


def test_duckdb_reads_the_table(sim_log):
    duckdb = pytest.importorskip("duckdb")
    table = churn.read_events(sim_log)
    con = duckdb.connect()
    con.register("events", table.to_arrow())
    expected = _expected(sim_log)
    got = con.execute("select count(*), count(song), count(distinct userId), sum(length), max(sessionId), "
                  "epoch_ms(max(ts)) from events").fetchone()
    songs = [s for s in expected["song"] if s is not None]
    lengths = [x for x in expected["length"] if x is not None]
    assert got[0] == len(expected["ts"]) and got[1] == len(songs)
    assert got[2] == len(set(u for u in expected["userId"] if u is not None))
    assert got[3] == pytest.approx(sum(lengths))
    assert got[4] == max(s for s in expected["sessionId"] if s is not None)
    assert got[5] == max(expected["ts"])
    rows = con.execute("select page, count(*) n from events group by page order by n desc, page").fetchall()
    assert rows == sorted(pl.read_ndjson(sim_log).group_by("page").len().rows(), key=lambda r: (-r[1], r[0]))
    # Whole columns, row by row, as polars.read_ndjson reads them.
    result = con.sql("select * from events")
    fetch = getattr(result, "to_arrow_table", None) or result.arrow  # DuckDB 2 / 1
    assert _values(pl.from_arrow(fetch())) == expected
    # The stream itself, as a record batch reader.
    con.register("stream", pa.RecordBatchReader.from_stream(table))
    assert con.execute("select count(*), count(artist) from stream").fetchone() == (
        len(table), sum(a is not None for a in expected["artist"]))


def test_numeric_buffers_are_shared_with_pyarrow_not_copied(sim_log):
    table = churn.read_events(sim_log)
    arrow = table.to_arrow()
    for name in ("ts", "sessionId", "status", "itemInSession", "registration", "length"):
        chunks = arrow.column(name).chunks
        assert len(chunks) == 1
        assert chunks[0].buffers()[1].address == table.codes(name).ctypes.data, name
    codes = arrow.column("song").chunks[0].indices.buffers()[1].address
    assert codes == table.codes("song").ctypes.data
    # The buffers outlive the table object: the export holds them.
    expected = arrow.column("sessionId").to_pylist()
    del table
    import gc

    gc.collect()
    assert arrow.column("sessionId").to_pylist() == expected


def test_numpy_views_are_read_only(sim_log):
    table = churn.read_events(sim_log)
    with pytest.raises(ValueError):
        table["ts"][0] = 1
    with pytest.raises(ValueError):
        table.codes("userId")[0] = 1


def test_parallel_read_is_the_serial_read(sim_log, tmp_path):
    # Pieces are at least 4 MiB: a log of a few MiB gives several pieces on several threads.
    big = tmp_path / "big.json"
    data = sim_log.read_bytes()
    big.write_bytes(data * max(1, (9 << 20) // len(data) + 1))
    one = churn.read_events(big, threads=1)
    for threads in (2, 3):
        many = churn.read_events(big, threads=threads)
        assert len(many) == len(one)
        for name in churn.events.COLUMNS:
            np.testing.assert_array_equal(many.codes(name), one.codes(name), err_msg=name)
            if name in STRINGS:
                assert many.categories(name) == one.categories(name)
        assert many.report.to_dict() == one.report.to_dict()


def test_a_bad_line_in_a_later_piece_names_its_line_in_the_whole_file(sim_log, tmp_path):
    lines = sim_log.read_bytes().splitlines(keepends=True)
    lines = lines * max(1, (9 << 20) // sum(map(len, lines)) + 1)
    bad_at = len(lines) * 3 // 4  # in the last pieces
    lines.insert(bad_at, b'{"ts": 1, "page": "Home", "itemInSession": 1.5}\n')
    lines.insert(bad_at + 10, b"not json\n")
    path = tmp_path / "bad.json"
    path.write_bytes(b"".join(lines))
    for threads in (1, 2):
        with pytest.raises(churn.ParseError) as info:
            churn.read_events(path, threads=threads)
        assert (info.value.line, info.value.field, info.value.file) == (bad_at + 1, "itemInSession", str(path))
        lenient = churn.read_events(path, strict=False, threads=threads)
        assert [line for line, _ in lenient.report.examples] == [bad_at + 1, bad_at + 11]
        assert lenient.report.bad_lines == 2 and len(lenient) == len(lines) - 2


def test_standard_input_reads_as_the_file(sim_log):
    code = ("import churn, sys\n"
            "t = churn.read_events('-', threads=2)\n"
            "print(len(t), t.report.source, t.to_arrow().column('song').null_count)\n")
    with open(sim_log, "rb") as f:
        done = subprocess.run([sys.executable, "-c", code], stdin=f, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    file_table = churn.read_events(sim_log)
    assert done.stdout.split() == [str(len(file_table)), "<stdin>",
                                   str(file_table.to_arrow().column("song").null_count)]


def test_a_fifo_gives_the_same_arrow_table(sim_log, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    data = sim_log.read_bytes()
    writer = threading.Thread(target=lambda: open(fifo, "wb").write(data))
    writer.start()
    got = churn.read_events(fifo, threads=2).to_arrow()
    writer.join(10)
    assert got.equals(churn.read_events(sim_log).to_arrow())


def test_several_files_read_as_one_table(sparkify_sample):
    files = _sample_files(sparkify_sample)[:4]
    both = churn.read_events(files, threads=2)
    assert len(both.report.files) == 4
    assert both["ts"].tolist() == [t for f in files for t in churn.read_events(f)["ts"].tolist()]
    with pytest.raises(churn.ParameterError):
        churn.read_events([])


def test_unknown_texts_are_kept(tmp_path):
    path = tmp_path / "odd.json"
    path.write_text('{"ts": 1, "page": "Home", "auth": "Banned", "method": "POST", "level": "gold"}\n'
                    '{"ts": 2, "page": "Home", "auth": "Logged In", "userId": ""}\n')
    t = churn.read_events(path)
    assert t["auth"].tolist() == ["Banned", "Logged In"]
    assert t["method"].tolist() == ["POST", None]
    assert t["level"].tolist() == ["gold", None]
    assert t["userId"].tolist() == [None, ""]
    assert t.codes("auth").tolist() == [len(churn._churn.auth_names), 0]
    assert pa.table(t).column("auth").to_pylist() == ["Banned", "Logged In"]


def test_a_folder_reads_as_its_event_files_in_name_order(sim_log, tmp_path):
    """As for churn.scan and user_features: a folder stands for its *.json/.jsonl/.ndjson(.gz) files."""
    import gzip

    lines = open(sim_log, "rb").read().splitlines(keepends=True)
    half = len(lines) // 2
    (tmp_path / "logs" / "b").mkdir(parents=True)
    (tmp_path / "logs" / "a.json").write_bytes(b"".join(lines[:half]))
    with gzip.open(tmp_path / "logs" / "b" / "c.json.gz", "wb") as f:
        f.write(b"".join(lines[half:]))
    (tmp_path / "logs" / "notes.txt").write_text("not an event file")
    whole = churn.read_events(sim_log)
    folder = churn.read_events(tmp_path / "logs")
    assert len(folder) == len(whole) and folder.report.events == whole.report.events
    assert np.array_equal(folder.column("ts"), whole.column("ts"))
    for name in ("userId", "page", "song"):
        assert folder.to_arrow().column(name).to_pylist() == whole.to_arrow().column(name).to_pylist()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(churn.ChurnIOError, match="holds no event files"):
        churn.read_events(empty)
