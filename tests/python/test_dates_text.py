"""churn.dates.day_text: the one Python way to put an epoch-millisecond time as a UTC day (report, web
model page, scoring and feature messages all call it), through the C++ formatter."""
import math

import numpy as np

import churn
from churn.dates import day_text


def test_day_text_is_the_utc_day_of_the_library_formatter():
    midnight = churn._churn._parse_date("2018-11-01")
    assert day_text(midnight) == "2018-11-01"
    assert day_text(midnight + 86_399_999) == "2018-11-01"          # the last millisecond of the day
    assert day_text(midnight - 1) == "2018-10-31"
    assert day_text(-1) == "1969-12-31"                              # before 1970: floor, not truncation
    assert day_text(float(midnight) + 0.5) == "2018-11-01"
    assert day_text(np.int64(midnight)) == "2018-11-01"


def test_day_text_says_missing_for_what_is_not_a_time():
    for bad in (None, "2018-11-01", True, math.nan, math.inf, -math.inf, 1e30, [1]):
        assert day_text(bad) is None
        assert day_text(bad, "?") == "?"
