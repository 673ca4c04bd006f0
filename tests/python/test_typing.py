"""The compiled module's stubs (python/churn/_churn.pyi) type the public API: mypy --strict on a small
program that uses it, against the installed package (issue 16: ``from churn import ChurnError`` must
type-check). A name missing from the stubs is Any, which --strict refuses to subclass or return."""
import subprocess
import sys
import textwrap

PROGRAM = textwrap.dedent('''
    from typing import Any, Dict, List, Optional, Type

    import numpy as np

    import churn
    from churn import (ChurnError, ChurnIOError, DataError, LimitError, ModelCapabilityError, ModelFormatError,
                       ParameterError, ParseError, RandomForestClassifier, load_model, validate_params)
    from churn._churn import ForestModel, ForestPart, ImportanceScoring, TreeExplainer


    class AppError(ChurnError):  # subclassing Any is an error under --strict
        pass


    class BadSetting(ParameterError):
        pass


    ERRORS: List[Type[ChurnError]] = [ChurnIOError, DataError, LimitError, ModelCapabilityError, ModelFormatError,
                                      ParameterError, ParseError]
    VALUE_ERRORS: List[Type[ValueError]] = [DataError, LimitError, ModelFormatError, ParameterError, ParseError]
    OS_ERRORS: List[Type[OSError]] = [ChurnIOError]


    def describe(e: ChurnError) -> str:
        if isinstance(e, ParseError):
            return f"{e.file}:{e.line}: {e.field}: {e.reason}"
        if isinstance(e, ModelFormatError):
            return e.path + ": " + e.reason
        if isinstance(e, ParameterError):
            return e.name
        if isinstance(e, LimitError):
            return e.limit + " " + str(e.value) + " " + str(e.line)
        return str(e)


    def version() -> str:
        return churn.__version__


    def threads() -> int:
        return churn._churn.max_threads


    def checked(params: Dict[str, Any]) -> Dict[str, Any]:
        return validate_params(params)


    def load(path: str) -> RandomForestClassifier:
        return load_model(path)


    def native(X: np.ndarray, y: np.ndarray) -> ForestModel:
        return churn._churn.fit_forest(X, y, params={"n_estimators": 5}, feature_names=["a", "b"])


    def part(X: np.ndarray, y: np.ndarray) -> ForestPart:
        return churn._churn.fit_forest_trees(X, y, first_tree=0, n_trees=2, params={"n_estimators": 4})


    def combined(parts: List[ForestPart], X: np.ndarray, y: np.ndarray) -> ForestModel:
        return churn._churn.combine_forests(parts, X, y)


    def stored(model: ForestModel) -> Dict[str, Any]:
        return model.params


    def probability(model: ForestModel, X: np.ndarray) -> np.ndarray:
        return model.predict_proba(X, n_jobs=2)


    def trees(part: ForestPart) -> int:
        return part.n_trees + part.first_tree + part.n_estimators + part.n_rows


    def expected(model: ForestModel) -> float:
        return TreeExplainer(model).expected_value


    def importance(model: ForestModel, X: np.ndarray, y: np.ndarray) -> Dict[str, Any]:
        return model.permutation_importance(X, y, ImportanceScoring.accuracy)


    def both_classes(model: ForestModel, X: np.ndarray) -> np.ndarray:
        return model.predict_proba(X, n_jobs=1, columns=2)


    def summary(path: str) -> int:
        s: churn.ScanSummary = churn.scan(path, threads=1)
        first: Optional[int] = s.first_ts
        pages: Dict[str, int] = s.pages
        as_dict: Dict[str, Any] = s.to_dict()
        per_file: List[churn.ScanSummary] = s.files
        return (s.events + s.anonymous_events + s.users + s.churned_users + s.sessions + s.report.bad_lines
                + len(per_file) + len(pages) + len(as_dict) + len(s.path) + (first or 0))
''')


def _mypy(tmp_path, program: str):
    (tmp_path / "program.py").write_text(program)
    # From a folder of its own: the installed package is checked, not the source tree.
    return subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-error-summary", "--cache-dir",
                           str(tmp_path / ".mypy_cache"), "program.py"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)


def test_the_public_api_type_checks_with_mypy_strict(tmp_path):
    done = _mypy(tmp_path, PROGRAM)
    assert done.returncode == 0, done.stdout + done.stderr
    # The check can fail: a misuse of the same API is reported.
    bad = PROGRAM + textwrap.dedent('''

        def wrong(model: ForestModel) -> str:
            return model.n_trees


        def unknown() -> None:
            churn._churn.fit_forest_everything()


        def scan_misused(path: str) -> int:
            return churn.scan(path).event_count
    ''')
    done = _mypy(tmp_path, bad)
    assert done.returncode == 1
    assert 'Incompatible return value type (got "int", expected "str")' in done.stdout
    assert 'has no attribute "fit_forest_everything"' in done.stdout
    assert '"ScanSummary" has no attribute "event_count"' in done.stdout
