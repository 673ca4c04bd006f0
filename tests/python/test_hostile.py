"""Hostile input to the Python API: each gives its documented exception, never a crash or a silent
wrong answer (docs/reliability.md). scripts/hardening.sh also runs this file against the ASan+UBSan
build of the module, where an out-of-bounds access would be reported even if it did not crash."""
from __future__ import annotations

import json
import pickle
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import churn

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(120, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] + 0.3 * rng.normal(size=120) > 0).astype(int)
    return X, y


@pytest.fixture(scope="module")
def forest(data):
    X, y = data
    return churn.RandomForestClassifier(n_estimators=7, max_depth=5, random_state=0).fit(X, y)


@pytest.fixture(scope="module")
def model_json(forest):
    return json.loads(forest.to_json())


# ---- forest: dtypes, shapes, values --------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.int8, np.int64, np.uint16, np.bool_, np.float16])
def test_any_numeric_dtype_predicts_as_its_float64_values(forest, data, dtype):
    X = data[0][:20] * 3
    Xd = X.astype(dtype)
    np.testing.assert_array_equal(forest.predict_proba(Xd), forest.predict_proba(Xd.astype(np.float64)))


@pytest.mark.parametrize("bad, error, message", [
    (np.array([["a", "b", "c", "d"]]), ValueError, "numeric features are needed"),
    (np.ones((2, 4), dtype=complex), ValueError, "Complex data not supported"),
    (np.array([[object(), 1, 2, 3]], dtype=object), TypeError, ""),
    (np.ones(4), ValueError, "Expected 2D array, got 1D array"),
    (np.ones((2, 2, 4)), ValueError, "Found array with dim 3"),
    (np.ones((0, 4)), ValueError, "0 sample(s)"),
    (np.ones((3, 0)), ValueError, "0 feature(s)"),
    (np.ones((3, 5)), ValueError, "X has 5 features, but RandomForestClassifier is expecting 4"),
    (np.ones((3, 3)), ValueError, "X has 3 features"),
    (None, ValueError, "got None"),
])
def test_bad_prediction_input_is_named(forest, bad, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        forest.predict_proba(bad)


def test_infinity_is_a_data_error_and_nan_is_missing(forest, data):
    X = data[0][:5].copy()
    X[2, 1] = np.inf
    with pytest.raises(churn.DataError, match=r"X\[2, 1\] = inf is infinite"):
        forest.predict_proba(X)
    X[2, 1] = -np.inf
    with pytest.raises(churn.DataError):
        forest.predict(X)
    X[2, 1] = np.nan  # missing: follows the learned direction, a probability all the same
    p = forest.predict_proba(X)
    assert np.all((p >= 0) & (p <= 1)) and np.allclose(p.sum(axis=1), 1)


def test_values_beyond_float_range_are_data_errors(forest, data):
    # Trees compare float32 values: 1e300 would silently become inf; it is refused with its position.
    X = np.tile(data[0][:1], (2, 1))
    X[1, 0] = 3.4e38  # the largest float32 is fine
    assert np.all(np.isfinite(forest.predict_proba(X)))
    X[1, 0] = 1e300
    with pytest.raises(churn.DataError, match=r"X\[1, 0\] = .* is too large for float32"):
        forest.predict_proba(X)


@pytest.mark.parametrize("bad_X, bad_y, error, message", [
    (np.ones((5, 2)), np.zeros(5), ValueError, "only one class"),
    (np.ones((5, 2)), np.array([0, 1, 2, 0, 1]), ValueError, "Only binary classification"),
    (np.ones((5, 2)), np.array([0, 1, 0, 1]), ValueError, "inconsistent numbers of samples"),
    (np.ones((5, 2)), np.array([0, 1, np.nan, 0, 1]), ValueError, "NaN"),
    (np.ones((5, 2)), np.array([0.5, 1, 0, 0, 1]), ValueError, "continuous"),
    (np.ones((0, 2)), np.zeros(0), ValueError, "0 sample"),
    (np.array([[1.0, np.inf], [2, 3], [3, 4], [4, 5]]), np.array([0, 1, 0, 1]), churn.DataError, "infinite"),
])
def test_bad_training_input_is_named(bad_X, bad_y, error, message):
    with pytest.raises(error, match=message):
        churn.RandomForestClassifier(n_estimators=2, random_state=0).fit(bad_X, bad_y)


def test_mismatched_feature_names_between_fit_and_predict(data):
    pd = pytest.importorskip("pandas")
    X, y = data
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    model = churn.RandomForestClassifier(n_estimators=3, random_state=0).fit(df, y)
    with pytest.raises(ValueError, match="Feature names unseen at fit time"):
        model.predict(df.rename(columns={"a": "z"}))
    with pytest.raises(ValueError, match="same order"):
        model.predict(df[["b", "a", "c", "d"]])


def test_non_contiguous_and_read_only_arrays_give_the_same_answer(forest, data):
    X = data[0][:40]
    expected = forest.predict_proba(np.ascontiguousarray(X))
    wide = np.zeros((40, 8))
    wide[:, ::2] = X
    views = {
        "strided columns": wide[:, ::2],
        "fortran order": np.asfortranarray(X),
        "reversed rows": X[::-1][::-1],
        "transposed twice": np.ascontiguousarray(X.T).T,
    }
    readonly = X.copy()
    readonly.setflags(write=False)
    views["read-only"] = readonly
    for name, v in views.items():
        np.testing.assert_array_equal(forest.predict_proba(v), expected, err_msg=name)
        np.testing.assert_array_equal(forest.contributions(v).sum(axis=1), forest.contributions(X).sum(axis=1))
    # Fitting from a strided read-only view equals fitting from its copy.
    y = data[1][:40]
    a = churn.RandomForestClassifier(n_estimators=3, random_state=1).fit(views["strided columns"], y)
    b = churn.RandomForestClassifier(n_estimators=3, random_state=1).fit(np.ascontiguousarray(X), y)
    assert a.to_json() == b.to_json()


def test_native_model_rejects_arrays_it_cannot_read(forest):
    native = forest.model_
    with pytest.raises((ValueError, TypeError)):
        native.predict_proba(np.ones((3, 5)), 1)
    with pytest.raises((ValueError, TypeError)):
        native.predict_proba(np.ones(4), 1)
    # Non-contiguous or other dtypes are converted (or refused), never read out of bounds.
    wide = np.ones((3, 8))
    try:
        p = native.predict_proba(wide[:, ::2], 1)
    except (ValueError, TypeError):
        return
    np.testing.assert_array_equal(p, native.predict_proba(np.ones((3, 4)), 1))


def test_concurrent_predictions_equal_sequential_ones(forest, data):
    X = data[0]
    rows = [X[i:i + 1] for i in range(len(X))]
    sequential = [forest.predict_proba(r) for r in rows]
    results = [None] * len(rows)

    def work(k):
        for i in range(k, len(rows), 4):
            results[i] = forest.predict_proba(rows[i])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(results, sequential):
        np.testing.assert_array_equal(a, b)


# ---- model files: data, never code ---------------------------------------------------------------
def _tampered(model_json, change):
    j = json.loads(json.dumps(model_json))
    change(j)
    return j


def _internal_node(model_json):
    features = model_json["trees"][0]["feature"]
    return next(i for i, f in enumerate(features) if f != -1)


TAMPERINGS = {
    "newer version": (lambda j: j.update(format_version=99), "/format_version", "newer than this library reads"),
    "version zero": (lambda j: j.update(format_version=0), "/format_version", "invalid version"),
    "version as text": (lambda j: j.update(format_version="1"), "/format_version", "expected an integer"),
    "tree count": (lambda j: j.update(n_trees=j["n_trees"] + 1), "/trees", "truncated or edited"),
    "huge tree count": (lambda j: j.update(n_trees=2**62), "/trees", "says 4611686018427387904"),
    "huge feature count": (lambda j: j.update(n_features=2**40), "/n_features", "out of range"),
    "feature count vs importances": (lambda j: j.update(n_features=3), "/feature_importances", "expected 3"),
    "node arrays of different lengths": (lambda j: j["trees"][0]["value"].pop(), "/trees/0/value", "entries"),
    "empty tree": (lambda j: j["trees"][0].update({k: [] for k in ("feature", "threshold", "value", "right", "missing_left")}),
                   "/trees/0/feature", "at least one node"),
    "negative feature": (lambda j: j["trees"][0]["feature"].__setitem__(0, -2), "/trees/0/feature/0", "out of range"),
    "value not a probability": (lambda j: j["trees"][1]["value"].__setitem__(0, float("1e308")), "/trees/1/value/0",
                                "not a probability"),
    "string where a number goes": (lambda j: j["trees"][0]["threshold"].__setitem__(0, "0"), "/trees/0/threshold/0",
                                   "expected a number"),
    "three classes": (lambda j: j.update(classes=[0, 1, 2]), "/classes", "expected 2 class labels"),
    "threshold beyond float32": (lambda j: j["trees"][0]["threshold"].__setitem__(_internal_node(j), -1e300),
                                 "/trees/0/threshold/", "beyond the float32 range"),
}


@pytest.mark.parametrize("kind", sorted(TAMPERINGS))
def test_tampered_model_files_are_rejected_with_the_json_path(tmp_path, model_json, kind):
    change, path, message = TAMPERINGS[kind]
    f = tmp_path / "model.json"
    f.write_text(json.dumps(_tampered(model_json, change)))
    with pytest.raises(churn.ModelFormatError, match=message) as info:
        churn.load_model(f)
    assert f" at {path}" in str(info.value)


@pytest.mark.parametrize("child", [0, -1, 10**6, 2**32 + 1, 2**63 + 5])
def test_out_of_range_child_indices_are_rejected(tmp_path, model_json, child):
    i = _internal_node(model_json)
    f = tmp_path / "model.json"
    f.write_text(json.dumps(_tampered(model_json, lambda j: j["trees"][0]["right"].__setitem__(i, child))))
    with pytest.raises(churn.ModelFormatError, match=f"/trees/0/right/{i}"):
        churn.load_model(f)


def test_child_index_breaking_the_preorder_is_rejected(tmp_path, model_json):
    i = _internal_node(model_json)
    f = tmp_path / "model.json"
    # Pointing the right child at the left one makes a node reachable twice (a DAG, or with i a cycle).
    f.write_text(json.dumps(_tampered(model_json, lambda j: j["trees"][0]["right"].__setitem__(i, i + 1))))
    with pytest.raises(churn.ModelFormatError, match="/trees/0/right/"):
        churn.load_model(f)


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("{", "not valid JSON"),
    ('{"format": "churn-random-forest", "format_version": 1, "threshold": 1e3080}', "number overflow"),
    ("[" * 200_000 + "]" * 200_000, "expected a JSON object"),
    ('{"format": "churn-random-forest", "format_version": 1, "n_features": 18446744073709551616}', "n_features"),
    ("\x00\xff\xfe garbage", "not valid JSON"),
])
def test_malformed_model_text_is_a_model_format_error(tmp_path, text, message):
    f = tmp_path / "model.json"
    f.write_bytes(text.encode("latin-1"))
    with pytest.raises(churn.ModelFormatError, match=message):
        churn.load_model(f)


class _Exploit:
    """Unpickling this runs code: what a model file must never be able to do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_model_file_is_data_never_code(tmp_path):
    marker = tmp_path / "executed"
    for payload in (pickle.dumps(_Exploit(marker)), pickle.dumps(_Exploit(marker), protocol=0)):
        f = tmp_path / "model.pkl"
        f.write_bytes(payload)
        with pytest.raises(churn.ModelFormatError, match="not valid JSON"):
            churn.load_model(f)
    assert not marker.exists()


def test_pickle_of_the_estimator_goes_through_the_validated_json(forest, model_json):
    state = forest.__getstate__()
    assert isinstance(state["model_"], str) and json.loads(state["model_"])["format"] == "churn-random-forest"
    restored = pickle.loads(pickle.dumps(forest))
    X = np.random.default_rng(1).normal(size=(10, 4))
    np.testing.assert_array_equal(restored.predict_proba(X), forest.predict_proba(X))
    # A tampered pickle state is validated like a file.
    bad = dict(state)
    bad["model_"] = json.dumps(_tampered(model_json, lambda j: j["trees"][0]["feature"].__setitem__(0, 99)))
    clone = churn.RandomForestClassifier.__new__(churn.RandomForestClassifier)
    with pytest.raises(churn.ModelFormatError, match="/trees/0/feature/0"):
        clone.__setstate__(bad)


# ---- events: huge strings, huge lines ------------------------------------------------------------
def test_huge_strings_in_event_fields_round_trip(tmp_path):
    big = "x" * (8 << 20)
    line = {"ts": 1538352117000, "userId": "u" + big, "page": "NextSong", "artist": "\u00e9" * (1 << 20),
            "song": big, "sessionId": 1, "length": 1.5}
    f = tmp_path / "big.jsonl"
    f.write_text(json.dumps(line, ensure_ascii=False) + "\n" + json.dumps({"ts": 1538352118000, "userId": "2", "page": "Home"}) + "\n",
                 encoding="utf-8")
    table = churn.read_events(f)
    assert len(table) == 2
    assert table["userId"][0] == "u" + big and table["artist"][0] == "\u00e9" * (1 << 20)
    acc = churn.FeatureAccumulator()
    acc.add_files(f)
    assert acc.users == 2
    again = churn.FeatureAccumulator.from_bytes(acc.to_bytes())
    assert again.to_bytes() == acc.to_bytes()


def test_a_line_longer_than_the_limit_is_a_bad_line_not_an_allocation(tmp_path):
    f = tmp_path / "long.jsonl"
    f.write_text('{"ts": 1, "page": "Home", "userId": "' + "y" * (3 << 20) + '"}\n{"ts": 2, "page": "Home", "userId": "a"}\n')
    with pytest.raises(churn.ParseError) as info:
        churn.read_events(f, max_line_bytes=1 << 20)
    assert info.value.line == 1
    table = churn.read_events(f, strict=False, max_line_bytes=1 << 20)
    assert len(table) == 1 and table.report.bad_lines == 1 and table.report.lines == 2


@pytest.mark.parametrize("ts", [2**63 - 1, -(2**63) + 1, 10**18, -(10**18)])
def test_absurd_timestamps_are_data_errors_in_features(ts):
    acc = churn.FeatureAccumulator()
    with pytest.raises(churn.DataError, match="outside the years 1 to 9999"):
        acc.add_jsonl(json.dumps({"ts": ts, "userId": "1", "page": "Home"}))


# ---- accumulator bytes -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def accumulator_bytes():
    acc = churn.FeatureAccumulator()
    lines = [{"ts": 1538352117000 + 3_600_000 * i, "userId": str(i % 3 + 1), "sessionId": i // 2, "page": p,
              "auth": "Logged In", "level": "paid" if i % 2 else "free", "artist": f"a{i % 4}", "length": 100.0 + i}
             for i, p in enumerate(["NextSong", "Home", "Thumbs Up", "NextSong", "Add Friend", "NextSong"] * 3)]
    acc.add_jsonl("\n".join(json.dumps(x) for x in lines))
    return acc.to_bytes()


def test_corrupt_accumulator_bytes_are_data_errors(accumulator_bytes):
    b = accumulator_bytes
    assert churn.FeatureAccumulator.from_bytes(b).to_bytes() == b
    for bad in (b"", b"CHURNFA", b"x" * 100, b[:-1], b + b"\0", b[:8] + b"\x02\0\0\0" + b[12:]):
        with pytest.raises(churn.DataError):
            churn.FeatureAccumulator.from_bytes(bad)
    with pytest.raises(TypeError):
        churn.FeatureAccumulator.from_bytes("text, not bytes")


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_mutation_of_accumulator_bytes_is_loaded_or_refused(accumulator_bytes, data):
    b = bytearray(accumulator_bytes)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(b) - 1))
        b[i] = data.draw(st.integers(0, 255))
    try:
        acc = churn.FeatureAccumulator.from_bytes(bytes(b))
    except churn.DataError:
        return
    again = acc.to_bytes()
    assert churn.FeatureAccumulator.from_bytes(again).to_bytes() == again
    try:
        table = acc.finalize(label="history")
    except churn.ChurnError:
        return
    assert table.X.shape[0] == len(table.user_ids) == table.y.shape[0]



def test_accumulator_bytes_with_a_string_that_is_not_utf8_are_refused(accumulator_bytes):
    # The case the property above once found: a user id byte turned into 0x80 loaded, then failed in
    # Python's text decoding of finalize()'s output.
    user = churn.FeatureAccumulator.from_bytes(accumulator_bytes).finalize(label="history").user_ids[0]
    user = str(user).encode()
    at = accumulator_bytes.find(len(user).to_bytes(4, "little") + user)
    assert at >= 0
    b = bytearray(accumulator_bytes)
    b[at + 4] = 0x80
    with pytest.raises(churn.DataError, match="not valid UTF-8"):
        churn.FeatureAccumulator.from_bytes(bytes(b))

# ---- the reader: properties ----------------------------------------------------------------------
@settings(max_examples=200, deadline=None, database=None)
@given(st.binary(max_size=400) | st.lists(st.sampled_from(
    [b'{"ts": 1, "userId": "a"}', b'{"ts": "x"}', b"", b"  ", b"{", b'{"ts": 2, "page": null}', b"\xff\xfe",
     b'{"ts": 3, "sessionId": 1e400}', b'{"ts": 1}{"ts": 2}', b"[]", b'{"ts": 4, "userId": 5}']),
    max_size=12).map(b"\n".join))
def test_lenient_reading_accounts_for_every_line(tmp_path_factory, blob):
    f = tmp_path_factory.mktemp("r") / "x.jsonl"
    f.write_bytes(blob)
    if blob.startswith(b"\x1f\x8b"):  # gzip magic: random bytes after it are never a complete gzip file
        with pytest.raises(churn.ChurnIOError):  # (b"\x1f\x8b" alone read as an empty log before issue 15)
            churn.read_events(f, strict=False)
        return
    table = churn.read_events(f, strict=False)
    r = table.report
    assert r.lines == r.events + r.blank_lines + r.bad_lines
    assert r.events == len(table)
    expected_lines = blob.count(b"\n") + (0 if blob.endswith(b"\n") or not blob else 1)
    assert r.lines == expected_lines
    if r.bad_lines == 0:
        assert len(churn.read_events(f)) == len(table)
    else:
        with pytest.raises(churn.ParseError) as info:
            churn.read_events(f)
        assert info.value.line == r.examples[0][0]


text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
event_strategy = st.fixed_dictionaries({
    "ts": st.integers(-(2**62), 2**62),
    "userId": text,
    "sessionId": st.integers(-(2**62), 2**62),
    "page": st.sampled_from(["NextSong", "Home", "Cancel", "Thumbs Up", "Something New"]) | text,
    "itemInSession": st.integers(0, 10**9),
    "status": st.integers(100, 599),
    "length": st.floats(min_value=0, max_value=1e12, allow_nan=False),
    "artist": text,
    "location": text,
})


@settings(max_examples=100, deadline=None, database=None)
@given(st.lists(event_strategy, min_size=1, max_size=20), st.booleans())
def test_valid_events_round_trip(tmp_path_factory, events, ascii_only):
    f = tmp_path_factory.mktemp("r") / "x.jsonl"
    f.write_text("\n".join(json.dumps(e, ensure_ascii=ascii_only) for e in events) + "\n", encoding="utf-8")
    table = churn.read_events(f)
    assert len(table) == len(events) and table.report.bad_lines == 0
    for name in ("ts", "sessionId", "itemInSession", "status"):
        assert table[name].tolist() == [e[name] for e in events], name
    assert table["length"].tolist() == [e["length"] for e in events]
    for name in ("userId", "artist", "location", "page"):
        assert list(table[name]) == [e[name] for e in events], name


# ---- metrics and evaluation ----------------------------------------------------------------------
@pytest.mark.parametrize("y_true, score, error", [
    ([0, 1, 1], [0.1, np.nan, 0.3], churn.DataError),
    ([0, 1, 1], [0.1, np.inf, 0.3], churn.DataError),
    ([0, 1], [0.1, 0.2, 0.3], churn.DataError),
    ([], [], churn.DataError),
    ([0, 2, 1], [0.1, 0.2, 0.3], churn.DataError),
    ([1, 1, 1], [0.1, 0.2, 0.3], churn.DataError),
])
def test_metric_inputs_are_checked(y_true, score, error):
    with pytest.raises(error):
        churn.metrics.roc_auc_score(np.asarray(y_true), np.asarray(score, dtype=float))


def test_metrics_accept_strided_and_read_only_arrays():
    y = np.array([0, 1, 1, 0, 1, 0, 0, 1] * 2)
    s = np.linspace(0, 1, 16)
    wide = np.zeros(32)
    wide[::2] = s
    ro = s.copy()
    ro.setflags(write=False)
    expected = churn.metrics.roc_auc_score(y, s)
    assert churn.metrics.roc_auc_score(y, wide[::2]) == expected == churn.metrics.roc_auc_score(y, ro)
    assert churn.metrics.roc_auc_score(y.astype(np.int8), s.astype(np.float32)) == pytest.approx(expected)


def test_cross_validation_with_too_few_members_of_a_class_is_named(data):
    X, y = data
    y = np.zeros_like(y)
    y[:2] = 1
    with pytest.raises(ValueError, match="member|class|fold"):
        churn.cross_validate(churn.RandomForestClassifier(n_estimators=2), X, y, n_splits=5)
