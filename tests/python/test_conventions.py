"""One convention for each thing (issue 16, item 7): errors in one hierarchy, one date parser, one
generator, and renamed public names kept as deprecated aliases that still work and warn."""
import re
from pathlib import Path

import pytest

import churn

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted([*(ROOT / "include" / "churn").rglob("*.hpp"), *(ROOT / "python" / "src").glob("*.?pp")])


def _code(path: Path) -> str:
    # Comments out, so that a sentence about std::invalid_argument does not count.
    return re.sub(r"//[^\n]*", "", path.read_text())


def test_every_throw_is_a_churn_error():
    # std:: exceptions and the bare base class say neither what nor where; the Python side maps only
    # churn::error's subclasses to ChurnError's. (pybind11's own py::*_error are Python's conventions
    # for indexing and conversions and stay.)
    outside = []
    for path in SOURCES:
        for m in re.finditer(r"throw\s+(std::\w+|(?:churn::)?error\s*\()", _code(path)):
            outside.append(f"{path.relative_to(ROOT)}: {m.group(0)}")
    assert outside == []


def test_one_date_parser_and_one_generator():
    # Messages may say "divisible by 86400000"; arithmetic must use churn::ms_per_day.
    code = {path: re.sub(r'"(?:[^"\\\n]|\\.)*"', '""', _code(path)) for path in SOURCES}
    days = [str(p.relative_to(ROOT)) for p, c in code.items()
            if re.search(r"86'?400'?000|719468", c) and p.name != "dates.hpp"]
    assert days == []
    engines = [str(p.relative_to(ROOT)) for p, c in code.items() if "rotl(" in c]
    assert engines == ["include/churn/detail/rng.hpp"]


def test_dates_through_the_one_parser():
    assert churn._churn.MS_PER_DAY == 86_400_000
    assert churn._churn._parse_date("2018-11-15") == 1542240000000
    with pytest.raises(churn.ParameterError, match="'start': '2019-02-29'"):
        churn._churn._parse_date("2019-02-29", "start")
    assert churn._churn._format_utc(1542240000000) == "2018-11-15"


# --- renamed names: deprecated aliases for one release (README, "Conventions") -----------------------

def _labels(n=60):
    return [i % 3 == 0 for i in range(n)]


def test_the_old_split_name_still_works_and_warns():
    y = [int(v) for v in _labels()]
    new_train, new_test = churn.stratified_train_test_split(y, test_size=0.25, seed=3)
    with pytest.warns(DeprecationWarning, match="train_test_split_stratified is deprecated.*stratified_train_test_split"):
        old_train, old_test = churn.train_test_split_stratified(y, test_size=0.25, seed=3)
    assert list(old_train) == list(new_train) and list(old_test) == list(new_test)
    assert "stratified_train_test_split" in churn.__all__


def test_n_jobs_of_the_python_functions_is_a_deprecated_threads():
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    y = (X[:, 0] + rng.normal(scale=0.5, size=80) > 0.3).astype(int)
    new = churn.cross_validate("logistic", X, y, n_splits=3, seed=1, threads=2)
    with pytest.warns(DeprecationWarning, match=r"cross_validate\(n_jobs=...\) is deprecated.*threads"):
        old = churn.cross_validate("logistic", X, y, n_splits=3, seed=1, n_jobs=-1)
    assert np.array_equal(old["oof_proba"], new["oof_proba"])
    with pytest.raises(TypeError, match="both 'n_jobs'"):
        churn.cross_validate("logistic", X, y, n_jobs=1, threads=1)
    with pytest.raises(churn.ParameterError, match="'threads'"):
        churn.cross_validate("logistic", X, y, n_splits=3, threads=-1)
    from churn import training

    for fn in (training.train, training.evaluate, training.compare_models, training.out_of_time_evaluation):
        assert "threads" in __import__("inspect").signature(fn).parameters, fn.__name__


def test_the_cli_takes_threads_and_still_jobs(capsys):
    from churn import cli

    parser = cli._build_parser()
    args = parser.parse_args(["evaluate", "events.json", "--threads", "3"])
    assert cli._threads_of(args) == 3 and capsys.readouterr().err == ""
    args = parser.parse_args(["train", "events.json", "--model", "m.json", "--jobs", "-1"])
    assert cli._threads_of(args) == 0  # all cores
    assert "--jobs is deprecated" in capsys.readouterr().err
    args = parser.parse_args(["train", "events.json", "--model", "m.json", "--jobs", "2"])
    assert cli._threads_of(args) == 2


def _parameter_error_cases(tmp_path):
    from churn import _distributed, calibration
    from churn._deprecation import n_jobs_from_threads

    log = tmp_path / "log.json"
    log.write_text('{"ts": 1538352000000, "userId": "1", "page": "Home"}\n')
    return [
        ("threads", lambda: n_jobs_from_threads(-2)),
        ("threads", lambda: churn.read_events(log, threads=-1)),
        ("path", lambda: churn.read_events([])),
        ("behaviour", lambda: churn.simulate(log, behaviour="bored")),
        ("engagement", lambda: churn.simulate(log, engagement={"no_such_field": 1.0})),
        ("method", lambda: calibration.fit_calibration("magic", [0, 1], [0.2, 0.8])),
        ("n_tasks", lambda: _distributed.tree_ranges(10, 0)),
        ("split_every", lambda: _distributed.tree_levels(8, 1)),
        ("partials", lambda: _distributed.merge_partials([])),
        ("n_estimators", lambda: churn.RandomForestClassifier(n_estimators=0).fit([[0.0], [1.0]], [0, 1])),
        ("cutoff", lambda: churn.user_features(log, cutoff="soon")),
        ("every_days", lambda: churn.user_features(log, every_days=0)),
        ("cutoffs", lambda: churn.user_features(log, cutoffs="2018-10-01")),
        ("max_users", lambda: churn.user_features(log, max_users=2.5)),
        ("path_or_paths", lambda: churn.user_features([])),
    ]


def test_python_raised_parameter_errors_carry_their_name(tmp_path):
    # The C++ core's parameter_error reaches Python with .name; the ones raised in Python lacked it
    # (calibration, features, simulation, scoring, spark, ...): one builder, churn._errors, for all.
    for name, call in _parameter_error_cases(tmp_path):
        with pytest.raises(churn.ParameterError) as info:
            call()
        assert getattr(info.value, "name", None) == name, (name, str(info.value))
        assert str(info.value).startswith(f"invalid value for parameter '{name}': "), str(info.value)


def test_python_builds_parameter_errors_in_one_place():
    # Hand-built ParameterErrors forgot .name (the siblings of the cases above): one builder only.
    built = [f"{path.relative_to(ROOT)}:{n}" for path in sorted((ROOT / "python" / "churn").glob("*.py"))
             if path.name != "_errors.py"
             for n, line in enumerate(path.read_text().splitlines(), 1) if "ParameterError(" in line]
    assert built == []
