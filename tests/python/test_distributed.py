"""The building blocks churn.dask and churn.spark run as tasks, without a cluster: the C++ pieces of a
log, read one by one and joined, give the local read; a cross-validation plan run fit by fit and
assembled gives churn.cross_validate's result."""
import json
import os
import pickle

import numpy as np
import pytest

import churn
from churn import _churn, _distributed
from churn.evaluation import fit_predict, plan_cross_validate


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    root = tmp_path_factory.mktemp("distributed_logs")
    churn.simulate(str(root / "a.json"), users=12, days=30, seed=3)
    return root / "a.json"


def test_pieces_read_alone_and_joined_give_the_local_read(log, tmp_path):
    lines = log.read_bytes().splitlines(keepends=True)
    bad_lines = [len(lines) // 2, len(lines) - 3]  # in a middle piece and in the last one
    for n in bad_lines:
        lines[n - 1] = b'{"ts": "x", "userId": "1", "page": "Home"}\n'
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"".join(lines))
    pieces = _distributed.plan_pieces([str(bad)], blocksize=4096)
    assert len(pieces) > 4 and pieces[0].begin == 0 and pieces[-1].end == os.path.getsize(bad)
    assert pickle.loads(pickle.dumps(pieces[2])) == pieces[2]

    local = churn.user_features(str(bad), strict=False)
    partials = [_distributed.accumulate_piece(p, strict=False) for p in reversed(pieces)]  # any order
    remote = _distributed.finalize(_distributed.merge_partials(partials))
    assert remote.report.read == local.report.read
    assert [line for line, _ in remote.report.read["examples"]] == bad_lines
    np.testing.assert_array_equal(remote.X, local.X)

    # Strict: the piece that holds a bad line names the line within the whole file, as a local read.
    errors = []
    for p in pieces:
        try:
            _distributed.accumulate_piece(p)
        except churn.ParseError as e:
            errors.append((e.file, e.line, e.field))
    assert errors == [(str(bad), n, "ts") for n in bad_lines]
    with pytest.raises(churn.ParseError, match=f"at line {bad_lines[0]}, field 'ts'"):
        churn.user_features(str(bad))


def test_read_reports_pickle_and_read_as_dicts(log):
    acc = churn.FeatureAccumulator()
    report = acc._acc.add_piece(_churn.FilePiece(str(log), 0, os.path.getsize(log)), True)
    assert isinstance(report, _churn.ReadReport)
    again = pickle.loads(pickle.dumps(report))
    assert again.to_dict() == report.to_dict()
    assert report["events"] == report.events > 0 and report.get("missing", 7) == 7
    assert report.summary.startswith(str(log))
    with pytest.raises(AttributeError):
        report.events = 1  # read-only


def test_a_chunk_of_lines_names_the_line_of_the_whole_source():
    acc = _churn._FeatureAccumulator(30.0, None)
    with pytest.raises(churn.ParseError) as info:
        acc.add_jsonl(b'{"ts": 1, "userId": "1", "page": "Home"}\nnot json', True, "part-7", 100)
    assert (info.value.file, info.value.line) == ("part-7", 102)


@pytest.mark.parametrize("grouped", [False, True])
def test_a_plan_run_fit_by_fit_gives_cross_validate(grouped):
    sklearn = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(4)
    X = rng.normal(size=(90, 3))
    y = (X[:, 0] + rng.normal(size=90) > 0).astype(np.int64)
    groups = np.repeat(np.arange(30), 3) if grouped else None
    options = dict(n_splits=3, seed=9, inner_splits=2, groups=groups)
    estimator = sklearn.LogisticRegression(C=0.5)
    plan = plan_cross_validate(X, y, **options)
    assert len(plan) == 3 * (2 + 1) and plan.n_folds == 3 and plan.n_samples == 90
    for t in plan.tasks:
        assert t.inner in (-1, 0, 1) and not set(t.train) & set(t.test)
        if t.inner >= 0:  # the threshold's inner split stays inside the outer training part
            outer = plan.tasks[t.fold * 3 + 2]
            assert outer.inner == -1 and set(t.train) | set(t.test) == set(outer.train)
            if grouped:
                assert not set(groups[t.train]) & set(groups[t.test])
    predictions = [fit_predict(estimator, X, y, t) for t in plan.tasks]
    assembled = plan.assemble(predictions)
    local = churn.cross_validate(estimator, X, y, **options)
    for key in ("oof_proba", "oof_fold", "oof_pred"):
        np.testing.assert_array_equal(assembled.pop(key), local.pop(key))
    assert json.dumps(assembled, sort_keys=True) == json.dumps(local, sort_keys=True)
    with pytest.raises(churn.DataError, match="predictions for"):
        plan.assemble(predictions[:-1])
