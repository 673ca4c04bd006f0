"""Checks of the parameters the reading functions share, without numpy: ``churn features`` imports no
numpy (0.12 s of its start-up), and numpy's integers are ``numbers.Integral`` whenever numpy is loaded."""
from __future__ import annotations

import numbers

from . import _churn
from ._errors import parameter_error

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (see churn/__init__.py)
if TYPE_CHECKING:
    from typing import Any


def whole_number(name: str, value: Any, low: int, high: int, allowed: str) -> int:
    """`value` as an int in [low, high], else ParameterError: a caller's size or count must not reach the
    binding as an overflowing or negative number (a TypeError there; issue 15)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not low <= int(value) <= high:
        raise parameter_error(name, repr(value), allowed)
    return int(value)


def threads(value: Any) -> int:
    """Threads for reading: None or 0 = all cores, else 1 .. churn.max_threads."""
    if value is None:
        return 0
    return whole_number("threads", value, 0, _churn.max_threads, f"None or 0 (all cores), or 1 to {_churn.max_threads}")
