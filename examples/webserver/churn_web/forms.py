"""Validation of one customer's feature values, shared by the HTML form, the JSON API and CSV uploads.

Rules (the same everywhere, so a value the form rejects is rejected by the API too):
- a missing or empty value takes the training median, or for a categorical field the most common
  category (an error when the model has neither); when the
  customer's days since the last event is given, the median of the training customers with about that
  recency (the model's ``recency_defaults``), so that a customer who stopped coming is not given the
  sessions and gaps of the median customer;
- numeric values must be finite numbers; whole numbers where the feature is integer;
- features that were never negative in training reject negatives; shares and 0/1 flags must lie in [0, 1];
- values outside the training range are accepted (the forest treats them as its extreme) and flagged;
- categorical values are a category label (case-insensitive) or its integer code.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Sequence

from .model import Field, RecencyDefaults, format_number

#: Anything larger is a typo, not a customer (and would lose precision as float32 in the trees).
ABSOLUTE_LIMIT = 1e12


@dataclass
class Checked:
    """One validated row: values in column order, per-field messages, and which fields took defaults."""

    values: List[float]
    errors: Dict[str, str] = field(default_factory=dict)
    warnings: Dict[str, str] = field(default_factory=dict)
    defaulted: List[str] = field(default_factory=list)
    #: where the defaults came from: "" (the training medians) or the recency band's description
    default_source: str = ""

    @property
    def ok(self) -> bool:
        return not self.errors


def _allowed(f: Field, limit: int = 12) -> str:
    cats = f.categories
    shown = ", ".join(cats[:limit]) + (f", … ({len(cats)} in all)" if len(cats) > limit else "")
    return shown


def parse_category(f: Field, raw: Any) -> float:
    """A category label or code -> its code. Raises ValueError with the message to show."""
    if isinstance(raw, bool):
        raise ValueError(f"expected one of {_allowed(f)}, got {str(raw).lower()}")
    if isinstance(raw, int) or (isinstance(raw, float) and raw.is_integer()):
        code = int(raw)
        if 0 <= code < len(f.categories):
            return float(code)
        raise ValueError(f"category code {code} is out of range 0..{len(f.categories) - 1}")
    if not isinstance(raw, str):
        raise ValueError(f"expected a category name, got {type(raw).__name__}")
    text = raw.strip()
    for code, label in enumerate(f.categories):
        if label.lower() == text.lower():
            return float(code)
    if text.isdigit():
        return parse_category(f, int(text))
    raise ValueError(f"unknown category {text!r}; allowed: {_allowed(f)}")


def parse_number(f: Field, raw: Any, strict_type: bool) -> float:
    """A numeric value -> float. strict_type (JSON) requires a JSON number; forms and CSV send text."""
    if isinstance(raw, bool):
        raise ValueError(f"expected a number, got {str(raw).lower()}")
    if isinstance(raw, (int, float)):
        try:
            value = float(raw)
        except OverflowError:  # a JSON integer beyond any float
            raise ValueError("is too large") from None
    elif isinstance(raw, str) and not strict_type:
        text = raw.strip().replace("\u2212", "-")
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a number") from None
    else:
        kind = "text" if isinstance(raw, str) else type(raw).__name__
        raise ValueError(f"expected a number, got {kind}")
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    if abs(value) > ABSOLUTE_LIMIT:
        raise ValueError(f"{format_number(value)} is too large")
    if (f.integer or f.unit == "0/1") and not value.is_integer():
        raise ValueError("must be a whole number")
    lo, hi = f.lower_bound, f.upper_bound
    if lo is not None and value < lo:
        raise ValueError(f"must be {format_number(lo)} or more")
    if hi is not None and value > hi:
        raise ValueError(f"must be {format_number(hi)} or less")
    return value


def _is_missing(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and raw.strip() == "")


def check_row(fields: Sequence[Field], raw: Mapping[str, Any], strict_type: bool = False,
              reject_unknown: bool = False, recency: "RecencyDefaults | None" = None) -> Checked:
    """Validates one row of raw values keyed by field name; never raises for bad values. With
    ``recency`` (ModelService.recency), inputs left out take the medians of the given recency's band."""
    result = Checked(values=[math.nan] * len(fields))
    if reject_unknown:
        known = {f.name for f in fields}
        for name in raw:
            if name not in known:
                result.errors[str(name)] = "unknown field; see GET /api/model for the field names"
    for f in fields:
        value = raw.get(f.name)
        if _is_missing(value):
            if f.default is None:
                result.errors[f.name] = "required (the model has no training median to fill in)"
                continue
            result.values[f.index] = f.default
            result.defaulted.append(f.name)
            continue
        try:
            v = parse_category(f, value) if f.categorical else parse_number(f, value, strict_type)
        except ValueError as e:
            result.errors[f.name] = str(e)
            continue
        result.values[f.index] = v
        if not f.categorical and f.min is not None and f.max is not None and not (f.min <= v <= f.max):
            result.warnings[f.name] = (
                f"outside the training range {format_number(f.min)}–{format_number(f.max)}: "
                "the model treats it like the nearest value it has seen")
    _recency_defaults(fields, result, recency)
    return result


def _recency_defaults(fields: Sequence[Field], result: Checked, recency: "RecencyDefaults | None") -> None:
    if recency is None or not result.defaulted:
        return
    given = next((f for f in fields if f.name == recency.feature), None)
    if given is None or given.name in result.defaulted or given.name in result.errors:
        return
    band = recency.band(result.values[given.index])
    if band is None:
        return
    for name in result.defaulted:
        f = next(f for f in fields if f.name == name)
        if f.index in band["values"]:
            result.values[f.index] = band["values"][f.index]
    hi = band["to"]
    span = f"{format_number(band['from'])} days or more" if hi is None else \
        f"{format_number(band['from'])} to {format_number(hi)} days"
    result.default_source = (f"the median of the {band['rows']} training customers whose last event was "
                             f"{span} before the cutoff")
