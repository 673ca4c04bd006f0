"""The errors that the Python layer raises itself, built as the C++ core builds them."""
from __future__ import annotations

from . import _churn


def parameter_error(name: str, value: str, allowed: str) -> "_churn.ParameterError":
    """A ParameterError as churn::parameter_error makes it: the same message, and ``.name``.

    ``value`` is the offending value as text (``repr(x)`` for a Python value, or a description such
    as ``"[]"`` or ``"12 columns"``).
    """
    error = _churn.ParameterError(f"invalid value for parameter '{name}': {value} (allowed: {allowed})")
    error.name = name
    return error
