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
