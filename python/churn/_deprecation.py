"""Renamed public names keep working for one release, with a DeprecationWarning (README, "Conventions")."""
from __future__ import annotations

import functools
import numbers
import warnings
from typing import Any, Callable, Optional, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def deprecated_alias(func: F, old_name: str) -> F:
    """`func` under its old name: the same call, with a DeprecationWarning naming the new one."""

    @functools.wraps(func)
    def alias(*args: Any, **kwargs: Any) -> Any:
        warnings.warn(f"{old_name} is deprecated and will be removed in the next release; use {func.__name__}",
                      DeprecationWarning, stacklevel=2)
        return func(*args, **kwargs)

    alias.__name__ = alias.__qualname__ = old_name
    alias.__doc__ = f"Deprecated alias of :func:`{func.__name__}` (removed in the next release)."
    return alias  # type: ignore[return-value]


def threads_from_n_jobs(n_jobs: int) -> Optional[int]:
    """scikit-learn's n_jobs (-1 or any value below 1: all cores) as churn's threads (None: all cores)."""
    return None if n_jobs < 1 else int(n_jobs)


def n_jobs_from_threads(threads: Optional[int]) -> int:
    """churn's threads (None or 0: all cores) as scikit-learn's n_jobs (-1: all cores)."""
    if threads is None or (isinstance(threads, numbers.Integral) and not isinstance(threads, bool) and threads == 0):
        return -1
    if isinstance(threads, bool) or not isinstance(threads, numbers.Integral) or threads < 0:
        from ._errors import parameter_error

        raise parameter_error("threads", repr(threads), "None or 0 (all cores), or a positive number of threads")
    return int(threads)


def renamed_keyword(old: str, new: str, convert: Callable[[Any], Any] = lambda v: v) -> Callable[[F], F]:
    """Accepts the keyword `old` as `new` (converted), with a DeprecationWarning; both at once is a
    TypeError, as for any keyword given twice."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if old in kwargs:
                if new in kwargs:
                    raise TypeError(f"{func.__name__}() got both {old!r} (deprecated) and {new!r}")
                warnings.warn(f"{func.__name__}({old}=...) is deprecated and will be removed in the next "
                              f"release; use {new}=...", DeprecationWarning, stacklevel=2)
                kwargs[new] = convert(kwargs.pop(old))
            return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
