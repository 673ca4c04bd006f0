"""CSV cells that a spreadsheet cannot run (CSV formula injection, OWASP).

A spreadsheet opening a CSV treats a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return as a formula: a user id such as ``=HYPERLINK("http://evil.example","x")`` in a scored
CSV would run when the file is opened (issue 15). Every CSV churn writes (``churn features``, the web
demo's download and template) passes its *text* cells through :func:`neutralise`, which prefixes such a
cell with a single quote, as OWASP recommends. Numbers stay numbers: ``-0.25`` or ``1e-05`` is written
as it is (a spreadsheet reads it as a number, and a number runs nothing).

The quote is reversible: :func:`restore` removes it, so a neutralised user id read back (the web demo's
CSV upload does) is the original id again. To keep the pair exact, a text cell that already starts with
quotes followed by a trigger character gets one more quote; ``restore(neutralise(s)) == s`` for every
string ``s``.
"""
from __future__ import annotations

import re
from typing import Any, Iterable, List

__all__ = ["neutralise", "restore", "neutralise_row", "TRIGGERS"]

#: The first characters that make a spreadsheet evaluate a cell (OWASP's list).
TRIGGERS = "=+-@\t\r"

_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NEEDS_QUOTE = re.compile(r"'*[" + re.escape(TRIGGERS) + "]")
_QUOTED = re.compile(r"'+[" + re.escape(TRIGGERS) + "]")


def neutralise(cell: Any) -> Any:
    """``cell`` made safe for a spreadsheet: a string starting with a trigger character (after any
    quotes) gets a leading ``'``, unless it is a plain decimal number. Other values (ints, floats) are
    returned unchanged."""
    if not isinstance(cell, str) or not _NEEDS_QUOTE.match(cell) or _NUMBER.fullmatch(cell):
        return cell
    return "'" + cell


def restore(cell: str) -> str:
    """The inverse of :func:`neutralise` for a cell read back from a CSV churn wrote."""
    if _QUOTED.match(cell):
        return cell[1:]
    return cell


def neutralise_row(cells: Iterable[Any]) -> List[Any]:
    """Every cell of a row through :func:`neutralise`."""
    return [neutralise(c) for c in cells]
