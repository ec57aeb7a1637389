"""Publication mode: aggregates only, every cell covering fewer than k accounts suppressed.

The methodology writeup and everything under ``reports/public/`` go through these functions
(complementary suppression, which needs to know which cells add up, is in
``analysis.report.public``).
An analyst mode (``reports/index.html``, notebooks) may list pseudonymous accounts; a
publication never lists an account, never quotes post text, and never shows a count, share or
statistic computed over fewer than ``privacy.min_cell_k`` accounts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import polars as pl

SUPPRESSED = "<k"  # what a suppressed cell shows
PSEUDONYM = re.compile(r"\b(?:acct|post|rx)_[0-9a-f]{16}\b")


def suppress_small_cells(
    df: pl.DataFrame, n_accounts_col: str, k: int, value_cols: Iterable[str] | None = None
) -> pl.DataFrame:
    """Null out ``value_cols`` (default: every other column but the first) where ``n_accounts_col`` < k.

    The count column itself is replaced by null too, and a boolean ``is_suppressed`` column says
    which rows were suppressed, so that renderers print :data:`SUPPRESSED` there.
    """
    cols = (
        list(value_cols)
        if value_cols is not None
        else [c for c in df.columns[1:] if c != n_accounts_col]
    )
    small = pl.col(n_accounts_col) < k
    return df.with_columns(
        *[pl.when(small).then(None).otherwise(pl.col(c)).alias(c) for c in cols],
        pl.when(small).then(None).otherwise(pl.col(n_accounts_col)).alias(n_accounts_col),
        small.fill_null(True).alias("is_suppressed"),
    )


#: ingest's reconciliation, per source and table: read = the sum of these.
RECONCILED = ("accepted", "rejected", "removed_privacy", "merged_nonparticipant")
#: Accounts removed per privacy rule (one account may meet several): they bound the accounts'
#: ``removed_privacy``.
REMOVAL_RULES = (
    "removed_minor",
    "removed_opt_out",
    "removed_no_consent",
    "removed_rejected_account",
)


def suppress_ingest_counts(
    sources: Mapping[str, Mapping[str, Mapping[str, int]]], k: int
) -> dict[str, Any]:
    """ingest's counts as they may leave the machine: ``{"sources": ..., "totals": ...}``.

    A count of accounts between 1 and k - 1 is suppressed (null), and so is every count that
    covers those accounts: the posts and reactions removed with fewer than k removed accounts
    (83 posts of 4 minors cover 4 accounts, not 83). Suppressed cells must not come back by
    subtraction (issue 13 item 8: read 472 - accepted 466 - 0 - 0 = the hidden 6):

    * within a table, read = accepted + rejected + removed + merged: where one of those is
      hidden, ``read`` is hidden too. ``read`` is the complement of choice because it is
      published nowhere else (accepted posts add up from the weekly activity table, so hiding
      ``accepted`` would protect nothing);
    * the accounts' per-rule removals bound their ``removed_privacy``: where a rule is hidden,
      so is ``removed_privacy`` (and with it ``read``);
    * a total over sources is hidden where any source's cell is.

    Zeros stay: a zero covers nobody.
    """

    def small(v: int | None) -> bool:
        return v is not None and 0 < v < k

    out: dict[str, dict[str, dict[str, int | None]]] = {}
    for source, tables in sources.items():
        acc = tables.get("accounts", {})
        few_removed = small(acc.get("removed_privacy"))
        pub: dict[str, dict[str, int | None]] = {}
        for table, c in tables.items():
            cells: dict[str, int | None] = {name: None if small(v) else v for name, v in c.items()}
            if few_removed and "removed_privacy" in cells:
                cells["removed_privacy"] = None
            if any(r in c and cells[r] is None for r in REMOVAL_RULES):
                cells["removed_privacy"] = None
            if any(r in c and cells[r] is None for r in RECONCILED):
                cells["read"] = None
            pub[table] = cells
        out[source] = pub
    totals: dict[str, dict[str, int | None]] = {}
    for table in ("accounts", "posts", "reactions"):
        row: dict[str, int | None] = {}
        for name in ("read", *RECONCILED):
            parts = [t[table].get(name, 0) for t in out.values() if table in t]
            row[name] = None if any(v is None for v in parts) else sum(parts)  # type: ignore[arg-type]
        totals[table] = row
    return {"sources": out, "totals": totals}


def coarsen_time(value: str | None, resolution: str) -> str | None:
    """An ISO timestamp truncated to ``resolution`` (a polars duration: "1h", "1d"); None stays.

    Exact times link pseudonyms to a public copy of the dump (issue 13: every pseudonym of a
    Hacker News run was re-identified by joining on ``created_at``); what leaves the machine
    carries times at this resolution only.
    """
    if value is None or value in ("", "n/a"):
        return value
    s = pl.Series([value]).str.to_datetime(time_zone="UTC", strict=False)
    if s[0] is None:
        return value
    return str(s.dt.truncate(resolution)[0])


def publishable_problems(
    text: str, quoted_texts: Iterable[str] = (), min_quote_words: int = 8
) -> list[str]:
    """Reasons why ``text`` is not publishable: pseudonyms, or quotes of post text.

    A quote is any run of ``min_quote_words`` consecutive words of a post text that contains
    at least one letter (runs of bare numbers are figures, not quotes).
    """
    problems = [f"lists a pseudonym: {m.group(0)}" for m in PSEUDONYM.finditer(text)][:5]
    words = re.findall(r"\w+", text.lower())
    grams = {
        " ".join(words[i : i + min_quote_words]) for i in range(len(words) - min_quote_words + 1)
    }
    for post in quoted_texts:
        pw = re.findall(r"\w+", (post or "").lower())
        for i in range(len(pw) - min_quote_words + 1):
            gram = pw[i : i + min_quote_words]
            # A run of numbers ("0 0 0 1", a matrix in a post) quotes nobody: a table of our
            # own figures would match it. A quote has words.
            if not any(any(ch.isalpha() for ch in w) for w in gram):
                continue
            if " ".join(gram) in grams:
                problems.append(f"quotes post text: {' '.join(pw[i : i + min_quote_words])!r}")
                break
        if len(problems) > 10:
            break
    return problems
