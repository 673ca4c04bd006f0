"""UTC days of epoch milliseconds in words, through the library's one date formatter (dates.hpp)."""
from __future__ import annotations

import math

from . import _churn

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (see churn/__init__.py)
if TYPE_CHECKING:
    from typing import Any, Optional

# Beyond +-10^8 days from 1970 a date is not a date any more (JavaScript's limit too).
_LIMIT_MS = 8_640_000_000_000_000


def day_text(ms: Any, missing: Optional[str] = None) -> Optional[str]:
    """The UTC day (YYYY-MM-DD) of `ms`, epoch milliseconds; `missing` when `ms` is not a finite number
    (None, text, NaN, a bool) or lies beyond any calendar."""
    if isinstance(ms, bool):
        return missing
    try:
        value = float(ms)
    except (TypeError, ValueError):
        return missing
    if not math.isfinite(value) or abs(value) > _LIMIT_MS:
        return missing
    whole = int(value)
    return _churn._format_utc(whole - whole % _churn.MS_PER_DAY)


__all__ = ["day_text"]
