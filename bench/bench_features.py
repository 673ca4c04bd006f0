#!/usr/bin/env python3
"""Benchmarks of churn's per-user features (issue 4), written up in docs/benchmarks.md ("## Features").

    .venv/bin/python bench/bench_features.py throughput --bench-exe build/bench/bench/bench_features \
        --events /tmp/sim.json [--tools churn,churn-cli,pandas,polars,duckdb,spark] [--threads 1,2]
    .venv/bin/python bench/bench_features.py leakage --events /tmp/sim.json

throughput: events -> feature matrix, MB/s of the JSON file and peak resident memory, for churn (the
C++ core via bench_features, beside its reader alone; `churn-cli`: the whole `churn features LOG --out
X.csv` process, Python start-up included, as the peers are timed) and for the same features computed
from the same file with pandas (`pandas`: its default reader; `pandas-pyarrow`: engine="pyarrow"),
polars (`polars`: read once into memory, one lazy query; `polars-streaming`: scan_ndjson and the
streaming engine), DuckDB (`duckdb`: the aggregates in SQL, then derive() in pandas; `duckdb-sql`: DuckDB
alone, derive() in SQL too and COPY to CSV, no pandas or numpy in the process, the form a DuckDB user
writes) and Spark local mode. Each run is its own process, started the same way (a Python interpreter),
and writes the same table (55 features and the label per user) as CSV;
its peak memory is sampled (process tree, so Spark's JVM counts) with psutil. The other tools compute
the same aggregates per user (counts by page, songs, listening time, active days, distinct artists,
sessions with the 30-minute gap rule, session lengths and gaps, last-7/14-day activity, first
attributes, latest level, cancellation time); the cheap per-user arithmetic that turns them into rates,
trends and codes is shared Python (derive()). --check compares their output with churn's.

leakage: the evidence that `history` labelling leaks. A random forest (scikit-learn) is cross-validated
on history-mode and on window-mode tables of the same log; then the history-trained model is asked the
forward-looking question (who cancels in the 30 days after the cutoff) that the window model answers.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

DAY = 86_400_000
GAP = 30 * 60_000

PAGE_COUNTS = {  # feature name -> page
    "songs": "NextSong", "thumbs_up": "Thumbs Up", "thumbs_down": "Thumbs Down",
    "add_to_playlist": "Add to Playlist", "add_friend": "Add Friend", "errors": "Error", "help": "Help",
    "settings": "Settings", "save_settings": "Save Settings", "roll_adverts": "Roll Advert",
    "downgrade_visits": "Downgrade", "upgrade_visits": "Upgrade", "upgrades": "Submit Upgrade",
    "downgrades": "Submit Downgrade",
}
EXCLUDED = ("Cancel", "Cancellation Confirmation")

SCHEMA_FIELDS = [  # (name, duckdb type, spark type, polars type name)
    ("ts", "BIGINT", "long", "Int64"), ("userId", "VARCHAR", "string", "Utf8"),
    ("sessionId", "BIGINT", "long", "Int64"), ("page", "VARCHAR", "string", "Utf8"),
    ("auth", "VARCHAR", "string", "Utf8"), ("level", "VARCHAR", "string", "Utf8"),
    ("location", "VARCHAR", "string", "Utf8"), ("userAgent", "VARCHAR", "string", "Utf8"),
    ("registration", "DOUBLE", "double", "Float64"), ("gender", "VARCHAR", "string", "Utf8"),
    ("artist", "VARCHAR", "string", "Utf8"), ("length", "DOUBLE", "double", "Float64"),
]


# ---- the shared per-user arithmetic -----------------------------------------------------------------

def last_midnight_cutoff(last_ts: int, horizon_days: float) -> int:
    return ((last_ts - int(round(horizon_days * DAY))) // DAY) * DAY


def derive(base, cutoff: int, horizon_days: float = 30.0):
    """Per-user aggregates (a pandas DataFrame indexed by uid) -> churn's feature columns + churned."""
    import numpy as np
    import pandas as pd

    b = base.copy()
    b = b[~(b["cancel_ts"].notna() & (b["cancel_ts"] < cutoff))]
    f = pd.DataFrame(index=b.index)
    def ratio(a, d):
        return np.where(d > 0, a / np.where(d > 0, d, 1), 0.0)
    f["events"] = b.events
    f["songs"] = b.songs
    f["sessions"] = b.sessions
    f["active_days"] = b.active_days
    f["events_per_session"] = ratio(b.events, b.sessions)
    f["songs_per_session"] = ratio(b.songs, b.sessions)
    f["songs_per_active_day"] = ratio(b.songs, b.active_days)
    f["listening_hours"] = b.listen_s / 3600
    f["distinct_artists"] = b.distinct_artists
    f["distinct_artists_per_song"] = ratio(b.distinct_artists, b.songs)
    for k in ("thumbs_up", "thumbs_down", "add_to_playlist", "add_friend"):
        f[k] = b[k]
    for k in ("thumbs_up", "thumbs_down", "add_to_playlist", "add_friend"):
        f[k + "_per_song"] = ratio(b[k], b.songs)
    for k in ("thumbs_up", "thumbs_down", "add_to_playlist", "add_friend"):
        f[k + "_per_session"] = ratio(b[k], b.sessions)
    for k in ("errors", "help", "settings", "save_settings", "roll_adverts", "downgrade_visits", "upgrade_visits"):
        f[k] = b[k]
    f["roll_adverts_per_song"] = ratio(b.roll_adverts, b.songs)
    for k in ("errors", "help", "settings", "downgrade_visits", "upgrade_visits"):
        f[k + "_per_session"] = ratio(b[k], b.sessions)
    f["level_paid"] = (b.last_level == "paid").astype(float)
    f["upgrades"] = b.upgrades
    f["downgrades"] = b.downgrades
    f["paid_share"] = ratio(b.paid_events, b.events)
    start = np.where(b.registration.notna(), b.registration, b.first_ts)
    f["tenure_days"] = np.maximum(0, cutoff - start) / DAY
    f["observed_days"] = (cutoff - b.first_ts) / DAY
    f["days_since_last_event"] = (cutoff - b.last_ts) / DAY
    for k in ("events_last_7d", "events_last_14d", "songs_last_7d", "songs_last_14d"):
        f[k] = b[k]
    end_day = cutoff // DAY
    for n in (7, 14):
        days_before = (end_day - n) - b.first_day
        before = (b.events - b[f"events_last_{n}d"]) / np.where(days_before > 0, days_before, 1)
        f[f"trend_{n}d"] = np.where(days_before > 0, ratio(b[f"events_last_{n}d"] / n, before), 1.0)
    f["mean_session_minutes"] = b.mean_session_minutes
    f["max_session_minutes"] = b.max_session_minutes
    f["mean_session_gap_hours"] = np.where(b.sessions >= 2, b.mean_gap_hours,
                                           (cutoff - b.last_session_end) / 3_600_000)
    f["gender"] = [gender_code(v) for v in b.gender]
    f["platform"] = [platform_code(v) for v in b.user_agent]
    f["browser"] = [browser_code(v) for v in b.user_agent]
    f["state"] = [state_code(v) for v in b.location]
    horizon = int(round(horizon_days * DAY))
    f["churned"] = (b.cancel_ts.notna() & (b.cancel_ts < cutoff + horizon)).astype(int)
    return f.sort_index()


STATES = ["AK", "AL", "AR", "AZ", "CA", "CO", "CT", "DC", "DE", "FL", "GA", "HI", "IA", "ID", "IL", "IN", "KS", "KY",
          "LA", "MA", "MD", "ME", "MI", "MN", "MO", "MS", "MT", "NC", "ND", "NE", "NH", "NJ", "NM", "NV", "NY", "OH",
          "OK", "OR", "PA", "PR", "RI", "SC", "SD", "TN", "TX", "UT", "VA", "VT", "WA", "WI", "WV", "WY"]


def _empty(v):
    return v is None or (isinstance(v, float) and v != v) or v == ""


def gender_code(g):
    return 0 if _empty(g) else {"F": 2, "M": 3}.get(g, 1)


PLATFORMS = ((5, ("iPhone",)), (6, ("iPad",)), (7, ("Android",)), (2, ("Windows",)), (3, ("Macintosh", "Mac OS X")),
             (4, ("Linux", "X11")))
BROWSERS = ((6, ("Edge/", "Edg/")), (7, ("OPR/", "Opera")), (2, ("Chrome/", "CriOS/")), (3, ("Firefox/",)),
            (5, ("MSIE", "Trident/")), (4, ("Safari/",)))


def platform_code(ua):
    if _empty(ua):
        return 0
    for code, keys in PLATFORMS:
        if any(k in ua for k in keys):
            return code
    return 1


def browser_code(ua):
    if _empty(ua):
        return 0
    for code, keys in BROWSERS:
        if any(k in ua for k in keys):
            return code
    return 1


def state_code(loc):
    if _empty(loc):
        return 0
    if "," not in loc:
        return 1
    st = loc.rsplit(",", 1)[1].strip().split("-")[0].strip()
    return STATES.index(st) + 2 if st in STATES else 1


# ---- the same aggregates in SQL (DuckDB and Spark) ---------------------------------------------------

def aggregate_sql(cutoff: int) -> str:
    counts = ",\n      ".join(f"SUM(CASE WHEN page = '{p}' THEN 1 ELSE 0 END) AS {k}" for k, p in PAGE_COUNTS.items())
    return f"""
WITH ev AS (
  SELECT userId AS uid, ts, sessionId AS sid, page, level, length, artist, gender, userAgent, location, registration
  FROM events
  WHERE userId IS NOT NULL AND userId <> '' AND ts < {cutoff}
    AND page NOT IN ('Cancel', 'Cancellation Confirmation') AND (auth IS NULL OR auth <> 'Cancelled')),
marked AS (
  SELECT uid, sid, ts,
         CASE WHEN ts - LAG(ts) OVER (PARTITION BY uid, sid ORDER BY ts) > {GAP} THEN 1 ELSE 0 END AS brk
  FROM ev),
parts AS (
  SELECT uid, sid, ts, SUM(brk) OVER (PARTITION BY uid, sid ORDER BY ts ROWS UNBOUNDED PRECEDING) AS part FROM marked),
sess AS (SELECT uid, sid, part, MIN(ts) AS s_first, MAX(ts) AS s_last FROM parts GROUP BY uid, sid, part),
gaps AS (
  SELECT uid, s_first, s_last, s_first - LAG(s_last) OVER (PARTITION BY uid ORDER BY s_first, s_last) AS gap FROM sess),
sess_agg AS (
  SELECT uid, COUNT(*) AS sessions, AVG((s_last - s_first) / 60000.0) AS mean_session_minutes,
         MAX((s_last - s_first) / 60000.0) AS max_session_minutes,
         AVG(CASE WHEN gap IS NULL THEN NULL WHEN gap < 0 THEN 0 ELSE gap END) / 3600000.0 AS mean_gap_hours,
         MAX(s_last) AS last_session_end
  FROM gaps GROUP BY uid),
users AS (
  SELECT uid, COUNT(*) AS events,
      {counts},
      SUM(CASE WHEN level = 'paid' THEN 1 ELSE 0 END) AS paid_events,
      SUM(CASE WHEN page = 'NextSong' AND length > 0 THEN length ELSE 0 END) AS listen_s,
      COUNT(DISTINCT FLOOR(ts / {DAY})) AS active_days,
      COUNT(DISTINCT CASE WHEN page = 'NextSong' THEN artist END) AS distinct_artists,
      MIN(ts) AS first_ts, MAX(ts) AS last_ts, FLOOR(MIN(ts) / {DAY}) AS first_day,
      MAX_BY(level, ts) AS last_level, MIN_BY(gender, ts) AS gender, MIN_BY(userAgent, ts) AS user_agent,
      MIN_BY(location, ts) AS location, MIN(registration) AS registration,
      SUM(CASE WHEN ts >= {cutoff - 7 * DAY} THEN 1 ELSE 0 END) AS events_last_7d,
      SUM(CASE WHEN ts >= {cutoff - 14 * DAY} THEN 1 ELSE 0 END) AS events_last_14d,
      SUM(CASE WHEN ts >= {cutoff - 7 * DAY} AND page = 'NextSong' THEN 1 ELSE 0 END) AS songs_last_7d,
      SUM(CASE WHEN ts >= {cutoff - 14 * DAY} AND page = 'NextSong' THEN 1 ELSE 0 END) AS songs_last_14d
  FROM ev GROUP BY uid),
cancels AS (
  SELECT userId AS uid, MIN(ts) AS cancel_ts FROM events WHERE page = 'Cancellation Confirmation' GROUP BY userId)
SELECT users.*, sess_agg.sessions, sess_agg.mean_session_minutes, sess_agg.max_session_minutes,
       sess_agg.mean_gap_hours, sess_agg.last_session_end, cancels.cancel_ts
FROM users JOIN sess_agg ON users.uid = sess_agg.uid LEFT JOIN cancels ON users.uid = cancels.uid
"""


def last_ts_sql() -> str:
    return "SELECT MAX(ts) AS m FROM events"


def run_duckdb(path, horizon_days, threads):
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads TO {threads}")
    con.execute("SET enable_progress_bar = false")  # no bar drawn on a terminal either
    cols = ", ".join(f"'{n}': '{d}'" for n, d, _, _ in SCHEMA_FIELDS)
    con.execute(f"CREATE VIEW events AS SELECT * FROM read_json('{path}', format='newline_delimited', "
                f"columns={{{cols}}})")
    # A real user would load once and query twice; the view re-reads, so materialise.
    con.execute("CREATE TABLE ev_all AS SELECT * FROM events")
    con.execute("DROP VIEW events")
    con.execute("ALTER TABLE ev_all RENAME TO events")
    cutoff = last_midnight_cutoff(con.execute(last_ts_sql()).fetchone()[0], horizon_days)
    base = con.execute(aggregate_sql(cutoff)).df().set_index("uid")
    return derive(base, cutoff, horizon_days)


def derive_sql(cutoff: int, horizon_days: float) -> str:
    """derive() in SQL over the per-user aggregates of aggregate_sql (a view named base): the same columns
    in the same order, so that DuckDB alone (no pandas) computes and writes the whole table."""
    def ratio(a, d):
        return f"CASE WHEN {d} > 0 THEN ({a}) / ({d}) ELSE 0.0 END"
    horizon = int(round(horizon_days * DAY))
    end_day = cutoff // DAY
    states = ", ".join(f"'{s}'" for s in STATES)
    empty = "({v} IS NULL OR {v} = '')"
    ua = "user_agent"
    def contains(col, keys):
        return " OR ".join(f"contains({col}, '{k}')" for k in keys)
    platform = " ".join(f"WHEN {contains(ua, keys)} THEN {code}" for code, keys in PLATFORMS)
    browser = " ".join(f"WHEN {contains(ua, keys)} THEN {code}" for code, keys in BROWSERS)
    cols = [
        "uid AS user_id", "events", "songs", "sessions", "active_days",
        f"{ratio('events', 'sessions')} AS events_per_session", f"{ratio('songs', 'sessions')} AS songs_per_session",
        f"{ratio('songs', 'active_days')} AS songs_per_active_day", "listen_s / 3600 AS listening_hours",
        "distinct_artists", f"{ratio('distinct_artists', 'songs')} AS distinct_artists_per_song"]
    acts = ("thumbs_up", "thumbs_down", "add_to_playlist", "add_friend")
    cols += list(acts) + [f"{ratio(k, 'songs')} AS {k}_per_song" for k in acts]
    cols += [f"{ratio(k, 'sessions')} AS {k}_per_session" for k in acts]
    cols += ["errors", "help", "settings", "save_settings", "roll_adverts", "downgrade_visits", "upgrade_visits",
             f"{ratio('roll_adverts', 'songs')} AS roll_adverts_per_song"]
    cols += [f"{ratio(k, 'sessions')} AS {k}_per_session"
             for k in ("errors", "help", "settings", "downgrade_visits", "upgrade_visits")]
    cols += ["CASE WHEN last_level = 'paid' THEN 1.0 ELSE 0.0 END AS level_paid", "upgrades", "downgrades",
             f"{ratio('paid_events', 'events')} AS paid_share",
             f"GREATEST(0, {cutoff} - COALESCE(registration, first_ts)) / {DAY} AS tenure_days",
             f"({cutoff} - first_ts) / {DAY} AS observed_days", f"({cutoff} - last_ts) / {DAY} AS days_since_last_event",
             "events_last_7d", "events_last_14d", "songs_last_7d", "songs_last_14d"]
    for n in (7, 14):
        before = f"(({end_day - n}) - first_day)"
        recent = f"events_last_{n}d / {n}.0"
        past = f"(events - events_last_{n}d) / {before}"
        cols.append(f"CASE WHEN {before} > 0 THEN {ratio(recent, past)} ELSE 1.0 END AS trend_{n}d")
    cols += ["mean_session_minutes", "max_session_minutes",
             f"CASE WHEN sessions >= 2 THEN mean_gap_hours ELSE ({cutoff} - last_session_end) / 3600000.0 END "
             "AS mean_session_gap_hours",
             f"CASE WHEN {empty.format(v='gender')} THEN 0 WHEN gender = 'F' THEN 2 WHEN gender = 'M' THEN 3 ELSE 1 END "
             "AS gender",
             f"CASE WHEN {empty.format(v=ua)} THEN 0 {platform} ELSE 1 END AS platform",
             f"CASE WHEN {empty.format(v=ua)} THEN 0 {browser} ELSE 1 END AS browser",
             f"CASE WHEN {empty.format(v='location')} THEN 0 WHEN NOT contains(location, ',') THEN 1 "
             f"ELSE COALESCE(list_position([{states}], trim(split_part(trim(regexp_extract(location, ',([^,]*)$', 1)), "
             "'-', 1))) + 1, 1) END AS state",
             f"CASE WHEN cancel_ts IS NOT NULL AND cancel_ts < {cutoff + horizon} THEN 1 ELSE 0 END AS churned"]
    return (f"SELECT {', '.join(cols)} FROM base WHERE cancel_ts IS NULL OR cancel_ts >= {cutoff} ORDER BY uid")


def run_duckdb_sql(path, horizon_days, threads, out=None):
    """DuckDB alone, as a DuckDB user writes it: read_json, the aggregates and derive() in SQL, COPY to CSV
    (no pandas, no numpy in the process). With out=None (check) the table comes back as a DataFrame."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads TO {threads}")
    con.execute("SET enable_progress_bar = false")  # no bar drawn on a terminal either
    cols = ", ".join(f"'{n}': '{d}'" for n, d, _, _ in SCHEMA_FIELDS)
    con.execute(f"CREATE TABLE events AS SELECT * FROM read_json('{path}', format='newline_delimited', "
                f"columns={{{cols}}})")
    cutoff = last_midnight_cutoff(con.execute(last_ts_sql()).fetchone()[0], horizon_days)
    con.execute(f"CREATE VIEW base AS {aggregate_sql(cutoff)}")
    query = derive_sql(cutoff, horizon_days)
    if out is not None:
        con.execute(f"COPY ({query}) TO '{out}' (HEADER, DELIMITER ',')")
        return None
    return con.execute(query).df().set_index("user_id")


def run_spark(path, horizon_days, threads):
    from pyspark.sql import SparkSession
    from pyspark.sql.types import StructField, StructType
    import pyspark.sql.types as T

    types = {"long": T.LongType(), "string": T.StringType(), "double": T.DoubleType()}
    spark = (SparkSession.builder.master(f"local[{threads}]").appName("churn-bench")
             .config("spark.driver.memory", "6g").config("spark.ui.enabled", "false")
             .config("spark.sql.shuffle.partitions", str(max(4, 2 * threads))).getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    schema = StructType([StructField(n, types[s]) for n, _, s, _ in SCHEMA_FIELDS])
    df = spark.read.schema(schema).json(path).cache()
    df.createOrReplaceTempView("events")
    cutoff = last_midnight_cutoff(spark.sql(last_ts_sql()).collect()[0]["m"], horizon_days)
    base = spark.sql(aggregate_sql(cutoff)).toPandas().set_index("uid")
    spark.stop()
    return derive(base, cutoff, horizon_days)


def run_polars(path, horizon_days, threads, streaming=False):
    """polars reading the file once into memory (read_ndjson with the schema), then one lazy query on the
    frame; with streaming=True, the out-of-core form: scan_ndjson and the streaming engine (for logs
    larger than memory; it scans the file once per branch of the query)."""
    os.environ["POLARS_MAX_THREADS"] = str(threads)
    import polars as pl

    schema = {n: getattr(pl, p) for n, _, _, p in SCHEMA_FIELDS}
    lf = pl.scan_ndjson(path, schema=schema) if streaming else pl.read_ndjson(path, schema=schema).lazy()
    last = lf.select(pl.col("ts").max()).collect().item()
    cutoff = last_midnight_cutoff(last, horizon_days)
    users = pl.col("userId")
    cancels = (lf.filter(pl.col("page") == "Cancellation Confirmation").group_by("userId")
               .agg(pl.col("ts").min().alias("cancel_ts")))
    ev = lf.filter(users.is_not_null() & (users != "") & (pl.col("ts") < cutoff)
                   & ~pl.col("page").is_in(list(EXCLUDED)) & (pl.col("auth").fill_null("") != "Cancelled"))
    song = pl.col("page") == "NextSong"
    aggs = [pl.len().alias("events")]
    aggs += [(pl.col("page") == p).sum().alias(k) for k, p in PAGE_COUNTS.items()]
    aggs += [
        (pl.col("level") == "paid").sum().alias("paid_events"),
        pl.when(song & (pl.col("length") > 0)).then(pl.col("length")).otherwise(0.0).sum().alias("listen_s"),
        (pl.col("ts") // DAY).n_unique().alias("active_days"),
        pl.col("artist").filter(song & pl.col("artist").is_not_null()).n_unique().alias("distinct_artists"),
        pl.col("ts").min().alias("first_ts"), pl.col("ts").max().alias("last_ts"),
        (pl.col("ts").min() // DAY).alias("first_day"),
        pl.col("level").sort_by("ts").last().alias("last_level"),
        pl.col("gender").sort_by("ts").first().alias("gender"),
        pl.col("userAgent").sort_by("ts").first().alias("user_agent"),
        pl.col("location").sort_by("ts").first().alias("location"),
        pl.col("registration").min().alias("registration"),
        (pl.col("ts") >= cutoff - 7 * DAY).sum().alias("events_last_7d"),
        (pl.col("ts") >= cutoff - 14 * DAY).sum().alias("events_last_14d"),
        ((pl.col("ts") >= cutoff - 7 * DAY) & song).sum().alias("songs_last_7d"),
        ((pl.col("ts") >= cutoff - 14 * DAY) & song).sum().alias("songs_last_14d"),
    ]
    per_user = ev.group_by("userId").agg(aggs)
    parts = (ev.select("userId", "sessionId", "ts").sort(["userId", "sessionId", "ts"])
             .with_columns((pl.col("ts").diff().over(["userId", "sessionId"]).fill_null(0) > GAP)
                           .cast(pl.Int64).cum_sum().over(["userId", "sessionId"]).alias("part"))
             .group_by(["userId", "sessionId", "part"])
             .agg(pl.col("ts").min().alias("s_first"), pl.col("ts").max().alias("s_last"))
             .sort(["userId", "s_first", "s_last"])
             .with_columns((pl.col("s_first") - pl.col("s_last").shift(1).over("userId")).alias("gap")))
    sess = parts.group_by("userId").agg(
        pl.len().alias("sessions"),
        ((pl.col("s_last") - pl.col("s_first")) / 60000.0).mean().alias("mean_session_minutes"),
        ((pl.col("s_last") - pl.col("s_first")) / 60000.0).max().alias("max_session_minutes"),
        (pl.col("gap").clip(lower_bound=0).mean() / 3_600_000.0).alias("mean_gap_hours"),
        pl.col("s_last").max().alias("last_session_end"))
    out = per_user.join(sess, on="userId").join(cancels, on="userId", how="left")
    base = (out.collect(engine="streaming" if streaming else "auto").to_pandas().rename(columns={"userId": "uid"})
            .set_index("uid"))
    return derive(base, cutoff, horizon_days)


def run_pandas(path, horizon_days, threads, engine="ujson"):
    """pandas with its default JSON reader, or with engine="pyarrow" (pyarrow's multi-threaded reader)."""
    import numpy as np
    import pandas as pd

    if engine == "pyarrow":
        df = pd.read_json(path, lines=True, engine="pyarrow")
        df["registration"] = df["registration"].astype(float)
    else:
        df = pd.read_json(path, lines=True, dtype={"userId": str, "registration": float})
    df["userId"] = df["userId"].fillna("").astype(str)
    cutoff = last_midnight_cutoff(int(df.ts.max()), horizon_days)
    cancels = df[df.page == "Cancellation Confirmation"].groupby("userId").ts.min().rename("cancel_ts")
    ev = df[(df.userId != "") & (df.ts < cutoff) & ~df.page.isin(EXCLUDED) & (df.auth != "Cancelled")].copy()
    del df
    ev["day"] = ev.ts // DAY
    song = ev.page == "NextSong"
    for k, p in PAGE_COUNTS.items():
        ev[k] = (ev.page == p).astype(np.int64)
    ev["paid"] = (ev.level == "paid").astype(np.int64)
    ev["listen"] = np.where(song & (ev.length > 0), ev.length, 0.0)
    ev["artist_song"] = ev.artist.where(song)
    for n in (7, 14):
        recent = ev.ts >= cutoff - n * DAY
        ev[f"events_last_{n}d"] = recent.astype(np.int64)
        ev[f"songs_last_{n}d"] = (recent & song).astype(np.int64)
    g = ev.groupby("userId")
    sums = g[list(PAGE_COUNTS) + ["paid", "listen", "events_last_7d", "events_last_14d", "songs_last_7d",
                                   "songs_last_14d"]].sum().rename(columns={"paid": "paid_events", "listen": "listen_s"})
    base = sums.assign(
        events=g.size(), active_days=g.day.nunique(), distinct_artists=g.artist_song.nunique(),
        first_ts=g.ts.min(), last_ts=g.ts.max(), registration=g.registration.min())
    base["first_day"] = base.first_ts // DAY
    ordered = ev.sort_values(["userId", "ts"])
    og = ordered.groupby("userId")
    base["last_level"] = og["level"].last()
    first = ordered.drop_duplicates("userId", keep="first").set_index("userId")
    base["gender"], base["user_agent"], base["location"] = first.gender, first.userAgent, first.location
    s = ev[["userId", "sessionId", "ts"]].sort_values(["userId", "sessionId", "ts"])
    brk = (s.groupby(["userId", "sessionId"]).ts.diff() > GAP).astype(np.int64)
    s["part"] = brk.groupby([s.userId, s.sessionId]).cumsum()
    sess = s.groupby(["userId", "sessionId", "part"]).ts.agg(["min", "max"]).reset_index()
    sess = sess.sort_values(["userId", "min", "max"])
    sess["gap"] = (sess["min"] - sess.groupby("userId")["max"].shift(1)).clip(lower=0)
    sess["minutes"] = (sess["max"] - sess["min"]) / 60000.0
    sg = sess.groupby("userId")
    base["sessions"] = sg.size()
    base["mean_session_minutes"] = sg.minutes.mean()
    base["max_session_minutes"] = sg.minutes.max()
    base["mean_gap_hours"] = sg.gap.mean() / 3_600_000
    base["last_session_end"] = sg["max"].max()
    base = base.join(cancels, how="left")
    base.index.name = "uid"
    return derive(base, cutoff, horizon_days)


RUNNERS = {"pandas": run_pandas, "pandas-pyarrow": lambda p, h, t: run_pandas(p, h, t, engine="pyarrow"),
           "polars": run_polars, "polars-streaming": lambda p, h, t: run_polars(p, h, t, streaming=True),
           "duckdb": run_duckdb, "duckdb-sql": run_duckdb_sql, "spark": run_spark}


# ---- measurement --------------------------------------------------------------------------------------

def measure(cmd, env=None, cpu=None):
    """Runs cmd; returns (wall seconds, peak RSS of the process tree in MB, stdout). With a list `cpu`,
    appends the CPU seconds (user + system) of the process and its reaped children: on a shared machine
    the steadier figure."""
    import psutil
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    ps = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            rss = ps.memory_info().rss + sum(c.memory_info().rss for c in ps.children(recursive=True))
            peak = max(peak, rss)
        except psutil.Error:
            pass
        time.sleep(0.05)
    out, err = proc.communicate()
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if cpu is not None:
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-3000:]}")
    return seconds, peak / 2**20, out


def cmd_throughput(args):
    size = os.path.getsize(args.events)
    rows = []
    threads_list = [int(t) for t in args.threads.split(",")]
    for tool in args.tools.split(","):
        for threads in threads_list:
            if tool.split("=")[0] == "churn-cli":  # the whole process, as a user runs it: `churn features LOG --out X.csv`
                # churn-cli=PYTHON times the churn installed for another interpreter (e.g. a build before a change).
                python = tool.split("=", 1)[1] if "=" in tool else sys.executable
                out_csv = os.path.join(tempfile.gettempdir(), "bench_features_churn_cli.csv")
                cmd = [python, "-m", "churn", "features", args.events, "--out", out_csv, "--threads",
                       str(threads), "--quiet"]
                cpu = []
                seconds, peak = min(measure(cmd, cpu=cpu)[:2] for _ in range(args.repeats))
                name = "churn CLI (whole process)" if "=" not in tool else f"churn CLI ({python})"
                rows.append({"tool": name, "threads": threads, "seconds": seconds,
                             "wall": seconds, "cpu_s": min(cpu), "mb_s": size / 1e6 / seconds, "peak_mb": peak})
                print(json.dumps(rows[-1]), flush=True)
            elif tool == "churn":
                for mode in ("reader", "features"):
                    best = None
                    for _ in range(args.repeats):  # the machine is shared: keep the fastest run
                        seconds, peak, out = measure([args.bench_exe, mode, args.events, "--threads", str(threads)])
                        r = json.loads(out.strip().splitlines()[-1])
                        if best is None or r["seconds"] < best[2]["seconds"]:
                            best = (seconds, peak, r)
                    seconds, peak, r = best
                    rows.append({"tool": "churn " + ("reader alone" if mode == "reader" else "features"),
                                 "threads": threads, "seconds": r["seconds"], "wall": seconds,
                                 "mb_s": size / 1e6 / r["seconds"], "peak_mb": max(peak, r["peak_rss_mb"])})
                    print(json.dumps(rows[-1]), flush=True)
            else:
                out_csv = os.path.join(tempfile.gettempdir(), f"bench_features_{tool}.csv")
                cpu = []
                seconds, peak = min(measure([sys.executable, __file__, "_run", tool, args.events, str(threads),
                                             out_csv], cpu=cpu)[:2] for _ in range(args.repeats))
                rows.append({"tool": tool, "threads": threads, "seconds": seconds, "wall": seconds,
                             "cpu_s": min(cpu), "mb_s": size / 1e6 / seconds, "peak_mb": peak})
                print(json.dumps(rows[-1]), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"file": args.events, "bytes": size, "rows": rows}, f, indent=1)
    # Peers are timed as whole processes: compare them with churn's whole process when it was run.
    ref_tool = "churn CLI (whole process)" if any(r["tool"] == "churn CLI (whole process)" for r in rows) \
        else "churn features"
    churn_rows = {r["threads"]: r for r in rows if r["tool"] == ref_tool}
    print(f"\n{args.events}: {size / 1e6:,.0f} MB\n")
    print(f"| tool | threads | seconds | CPU s | MB/s | peak memory (MB) | {ref_tool} is faster by (wall / CPU) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        ref = churn_rows.get(r["threads"])
        speedup = ""
        if ref and not r["tool"].startswith("churn"):
            speedup = f"{r['seconds'] / ref['seconds']:.1f}x"
            if "cpu_s" in r and "cpu_s" in ref:
                speedup += f" / {r['cpu_s'] / ref['cpu_s']:.1f}x"
        cpu = f"{r['cpu_s']:.2f}" if "cpu_s" in r else ""
        print(f"| {r['tool']} | {r['threads']} | {r['seconds']:.2f} | {cpu} | {r['mb_s']:.1f} | {r['peak_mb']:,.0f} | "
              f"{speedup} |")


def cmd_run(args):
    if args.tool == "duckdb-sql":  # writes its own CSV, without pandas
        run_duckdb_sql(args.events, 30.0, args.threads, out=args.out)
        return
    table = RUNNERS[args.tool](args.events, 30.0, args.threads)
    table.to_csv(args.out)


def cmd_check(args):
    """Compares every tool's table with churn's (the same events, the same default cutoff)."""
    import numpy as np
    import pandas as pd

    ref = pd.read_csv(args.churn_csv, index_col=0, dtype={0: str})
    ref.index = ref.index.astype(str)
    for tool in args.tools.split(","):
        got = RUNNERS[tool](args.events, 30.0, 2)
        got.index = got.index.astype(str)
        common = ref.columns.intersection(got.columns)
        bad = []
        for c in common:
            a, b = ref.loc[got.index, c].to_numpy(float), got[c].to_numpy(float)
            if not (len(ref) == len(got) and np.allclose(a, b, rtol=1e-6, atol=1e-6)):
                bad.append(f"{c} (max diff {np.nanmax(np.abs(a - b)):.3g})")
        print(f"{tool}: {len(got)} users (churn {len(ref)}), {len(common)} columns compared, "
              f"{'all equal' if not bad else 'differ: ' + ', '.join(bad)}")


def cmd_leakage(args):
    sys.path.insert(0, args.pythonpath) if args.pythonpath else None
    import churn
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import average_precision_score, roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    def cv_scores(t):
        rf = RandomForestClassifier(n_estimators=300, min_samples_leaf=2, n_jobs=2, random_state=0,
                                    class_weight="balanced_subsample")
        p = cross_val_predict(rf, t.X, t.y, cv=StratifiedKFold(5, shuffle=True, random_state=0),
                              method="predict_proba")[:, 1]
        return roc_auc_score(t.y, p), average_precision_score(t.y, p)

    acc = churn.FeatureAccumulator()
    acc.add_files(args.events)
    hist = acc.finalize(label="history")
    win = acc.finalize(label="window", horizon_days=30)
    h_auc, h_ap = cv_scores(hist)
    w_auc, w_ap = cv_scores(win)
    # One feature alone: how long before the reference time the user was last seen.
    col = hist.feature_names.index("days_since_last_event")
    single_auc = roc_auc_score(hist.y, -hist.X[:, col])
    # The history-trained model asked the forward-looking question.
    rf = RandomForestClassifier(n_estimators=300, min_samples_leaf=2, n_jobs=2, random_state=0,
                                class_weight="balanced_subsample").fit(hist.X, hist.y)
    p = rf.predict_proba(win.X)[:, 1]
    t_auc, t_ap = roc_auc_score(win.y, p), average_precision_score(win.y, p)
    imp = sorted(zip(rf.feature_importances_, hist.feature_names), reverse=True)[:5]
    result = {
        "events": args.events, "users_history": len(hist), "churned_history": int(hist.y.sum()),
        "users_window": len(win), "churned_window": int(win.y.sum()), "cutoff": str(win.cutoff),
        "history_cv_auc": h_auc, "history_cv_ap": h_ap, "window_cv_auc": w_auc, "window_cv_ap": w_ap,
        "history_days_since_last_event_auc": single_auc,
        "history_model_on_window_auc": t_auc, "history_model_on_window_ap": t_ap,
        "history_top_features": [n for _, n in imp],
    }
    print(json.dumps(result, indent=1))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("throughput")
    t.add_argument("--events", required=True)
    t.add_argument("--bench-exe", default="build/bench/bench/bench_features")
    t.add_argument("--tools", default="churn,pandas,polars,duckdb,spark")
    t.add_argument("--threads", default="1,2")
    t.add_argument("--json", default=None)
    t.add_argument("--repeats", type=int, default=1, help="runs per measurement; the fastest is kept")
    t.set_defaults(run=cmd_throughput)
    r = sub.add_parser("_run")
    r.add_argument("tool")
    r.add_argument("events")
    r.add_argument("threads", type=int)
    r.add_argument("out")
    r.set_defaults(run=cmd_run)
    c = sub.add_parser("check")
    c.add_argument("--events", required=True)
    c.add_argument("--churn-csv", required=True, help="bench_features features EVENTS --out X.csv")
    c.add_argument("--tools", default="pandas,polars,duckdb,spark")
    c.set_defaults(run=cmd_check)
    leak = sub.add_parser("leakage")
    leak.add_argument("--events", required=True)
    leak.add_argument("--pythonpath", default=None)
    leak.set_defaults(run=cmd_leakage)
    args = p.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
