"""Membership of a column's values in a large set of strings, looked up in the sorted set.

``Expr.is_in`` hashes the whole set on every call, which costs more than the look-ups once the
set outgrows the values. The name sets of ingest grow with the dump (a million handles) while
its batches of texts do not; with a call per batch, a cost per call that grows with the set made
the streaming engine's cost grow with the square of the dump (1M posts 20 s, 10M 667 s, session
34; again in the redactor's build, session 55: 10M 601 s). :func:`member` searches a set larger
than the values instead (binary search: the values' log only; measured per call, 300k values:
``is_in`` 0.36 s and the search 0.08 s against a million names, 0.008 vs 0.05 s against 50,000).
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl


def sorted_set(values: Iterable[str]) -> pl.Series:
    """The distinct ``values``, sorted as polars sorts strings (by their UTF-8 bytes), for
    :func:`member`."""
    return pl.Series(list(values), dtype=pl.String).unique().sort()


def member(values: pl.Expr, sorted_values: pl.Series, n_values: int) -> pl.Expr:
    """``values.is_in(sorted_values)`` (null: False), for ``n_values`` values.

    ``sorted_values``: distinct and sorted (:func:`sorted_set`). A set no larger than the values
    is hashed (``is_in``); a larger one is searched (``search_sorted``).
    """
    if sorted_values.len() <= n_values:
        return values.is_in(sorted_values.implode()).fill_null(False)
    found = pl.lit(sorted_values).search_sorted(values).clip(0, sorted_values.len() - 1)
    return (pl.lit(sorted_values).gather(found) == values).fill_null(False)
