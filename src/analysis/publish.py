"""Publication mode: aggregates only, every cell covering fewer than k accounts suppressed.

The methodology writeup and everything under ``reports/public/`` go through these functions
(which cells of a table add up, for complementary suppression, is said in
``analysis.report.public``).
An analyst mode (``reports/index.html``, notebooks) may list pseudonymous accounts; a
publication never lists an account, never quotes post text, and never shows a count, share or
statistic computed over fewer than ``privacy.min_cell_k`` accounts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from analysis.io import column_batches

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


def complement(
    values: Sequence[Mapping[str, Any]],
    hidden: Sequence[bool],
    additive: Sequence[str],
    groups: Sequence[str],
) -> list[bool]:
    """Rows to hide so that no hidden cell is recoverable by subtraction.

    Within a group, the additive cells add up to a total shown elsewhere, so the hidden cells
    add up to the total minus the visible ones: that gives a cell away exactly when it is the
    group's only hidden cell. With two or more a reader learns only their sum. Where a group
    has exactly one hidden row, the visible row with the smallest non-zero value of the first
    additive column is hidden too (the least information lost; a zero only when nothing else
    is left: a reader does not see that it is zero). A group of one row cannot be protected
    here: its total is the cell, and the total is what must not be shown.

    Args:
        values: the rows, with their original (unsuppressed) values.
        hidden: which rows are suppressed already (under k).
        additive: columns that add up to a total shown elsewhere (the first one ranks).
        groups: columns whose values delimit the cells that add up (empty: the whole table).

    Returns:
        The new hidden flags (a superset of ``hidden``).
    """
    out = list(hidden)
    by_group: dict[tuple[Any, ...], list[int]] = {}
    for i, row in enumerate(values):
        by_group.setdefault(tuple(row[g] for g in groups), []).append(i)
    col = additive[0]
    for rows in by_group.values():
        visible = [i for i in rows if not out[i]]
        if sum(out[i] for i in rows) == 1 and visible:
            v = [(values[i][col] or 0) for i in visible]
            rank = [(x == 0, x, i) for x, i in zip(v, visible, strict=True)]
            out[min(rank)[2]] = True
    return out


#: ingest's reconciliation, per source and table: read = the sum of these.
RECONCILED = ("accepted", "rejected", "removed_privacy", "merged_nonparticipant")
#: Accounts removed per privacy rule (one account may meet several): they bound the accounts'
#: ``removed_privacy``.
REMOVAL_RULES = (
    "removed_minor",
    "removed_opt_out",
    "removed_no_consent",
    "removed_rejected_account",
    "removed_linked",
)


#: Counts of posts that follow from the removals (replies whose parent was removed, kept texts
#: that quoted a removed post): hidden wherever the removals are, or they tell the removals'
#: size (issue 13: 44 detached replies published beside 4 hidden minors).
FOLLOW_REMOVALS = ("detached_replies", "removed_text_cut")


def gives_away(n: int | None, totals: Iterable[int | None], k: int) -> bool:
    """Does publishing count ``n`` beside the printed ``totals`` that contain it show a group
    of fewer than ``k``? Only where a total exceeds ``n`` by 1 to ``k - 1`` (the difference is
    that group: 196 participants - 195 credited = 1 account credited with no topic)."""
    return n is not None and any(t is not None and 0 < t - n < k for t in totals)


def attribution_counts(
    attribution: Mapping[str, Mapping[str, int]], k: int, n_participants: int | None = None
) -> dict[str, dict[str, int | None]]:
    """The attribution counts (``topics.json``'s ``attribution``) for publication: the topics
    stage writes them so (``reports/metrics`` is published), and the writeup prints them.

    A method's attributed pairs and accounts cover its accounts attributed: both are hidden
    (``None``, printed ``<k``) when those are fewer than ``k``. Account-topic pairs cover every
    account with a post in a topic, the accounts naive attributes: hidden when those are few.

    The accounts are nested: evidence credits some of the accounts naive credits (every one
    with a post in a topic), which are some of the participants the writeup prints in its
    first section. A difference of 1 to k - 1 between two printed counts is a group of fewer
    than ``k`` accounts (demo: 196 naive - 195 evidence = 1 account no topic credits), so the
    smaller count is hidden there; so are evidence's attributed pairs where the pairs it does
    not credit are fewer than ``k`` (they cover fewer than ``k`` accounts).

    Idempotent: a null count is one hidden already, and what was decided beside it stands
    (the writeup applies it again to the published ``topics.json``, and to one written before
    the topics stage hid anything).
    """
    covered = (attribution.get("naive") or {}).get("n_accounts_attributed")

    shown = [n_participants] if n_participants is not None else []
    out: dict[str, dict[str, int | None]] = {}
    # the larger count first: naive's accounts contain evidence's
    order = sorted(attribution, key=lambda m: m != "naive")
    for method in order:
        a = attribution[method]
        n_acc = a.get("n_accounts_attributed")
        # a null is a count hidden already: the counts beside it were decided with it
        few = n_acc is not None and n_acc < k
        n_pairs = None if covered is not None and covered < k else a.get("n_pairs")
        n_attr = a.get("n_attributed")
        out[method] = {
            "n_pairs": n_pairs,
            "n_attributed": None if few or gives_away(n_attr, [n_pairs], k) else n_attr,
            "n_accounts_attributed": None if few or gives_away(n_acc, shown, k) else n_acc,
        }
        if out[method]["n_accounts_attributed"] is not None:
            shown.append(n_acc)
    return {m: out[m] for m in attribution}


def demo_truth_counts(truth: Mapping[str, Any] | None, k: int) -> dict[str, Any] | None:
    """The demo's attribution check against its planted subjects (``TopicEval.demo``, stage
    ``topic_eval``: ``attribution_eval.evaluate_demo``) for publication.

    The share of one-off posters a method credits is a statistic over ``n_one_off_accounts``
    accounts, the expert subject recall over ``n_experts``: each is hidden (``None``, printed
    ``<k``) with its count where that count is under ``k`` (a 60-account demo: 2 of 3 one-off
    posters, printed as 0.667). Precision is over the attributions of every credited account.
    Idempotent (a null count was hidden already, and its rates with it).
    """
    if truth is None:
        return None
    out: dict[str, Any] = {
        key: dict(v) if isinstance(v, Mapping) else v for key, v in truth.items()
    }
    for n_key, rate in (
        ("n_one_off_accounts", "one_off_attributed_rate"),
        ("n_experts", "expert_subject_recall"),
    ):
        n = out.get(n_key)
        if n is None or 0 < n < k:
            out[n_key] = None
            for v in out.values():
                if isinstance(v, dict) and rate in v:
                    v[rate] = None
    return out


def answer_tag_counts(gt: Mapping[str, Any] | None, k: int) -> dict[str, Any] | None:
    """The answer-tag check of topic attribution (``TopicEval.answer_tags``,
    ``attribution_eval.evaluate_tags``) as ``reports/metrics/topic_eval.json`` publishes it.

    Each statistic is over answerers: a method's precision, MAP and their intervals over the
    answerers it credits (hidden with their count under ``k``), the ``*_common`` ones over
    those the evidence method credits (hidden where that count is under ``k``), and each
    comparison (``paired_at_evidence_length``, ``popular_tags``, ``vs_popular``) over its
    ``n_answerers`` (reduced to ``{"n_answerers": None}`` under ``k``); the answerer counts of
    the dump and of the sample likewise. The writeup hides the same cells
    (``report.methodology.tag_truth``). Idempotent.
    """
    if gt is None:
        return None

    def small(n: Any) -> bool:
        return n is None or 0 < n < k

    out: dict[str, Any] = {key: dict(v) if isinstance(v, Mapping) else v for key, v in gt.items()}
    for key in ("n_answerers_with_truth", "n_answerers_evaluated"):
        if key in out and small(out[key]):
            out[key] = None
    common = (out.get("evidence") or {}).get("n_answerers_credited")
    for method in ("naive", "evidence"):
        r = out.get(method)
        if not isinstance(r, dict):
            continue
        if small(r.get("n_answerers_credited")):
            out[method] = {key: None for key in r}
        elif small(common):
            for key in r:
                if key.endswith("_common"):
                    r[key] = None
    for key in ("paired_at_evidence_length", "popular_tags"):
        if isinstance(out.get(key), dict) and small(out[key].get("n_answerers")):
            out[key] = {"n_answerers": None}
    if isinstance(out.get("vs_popular"), dict):
        out["vs_popular"] = {
            m: {"n_answerers": None} if small((v or {}).get("n_answerers")) else dict(v)
            for m, v in out["vs_popular"].items()
        }
    return out


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
    * a total over sources is hidden where any source's cell is;
    * the counts that follow from the removals (:data:`FOLLOW_REMOVALS`) are hidden where the
      source's removed accounts are.

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
        hidden = few_removed or any(
            r in acc and small(acc[r]) for r in (*REMOVAL_RULES, "removed_privacy")
        )
        for table in pub.values():
            for name in FOLLOW_REMOVALS:
                if hidden and table.get(name):
                    table[name] = None
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


#: Consecutive words of a post text that make a quote when an output repeats them.
MIN_QUOTE_WORDS = 8
#: At most this many problems are listed per output (the first ones, in the posts' order).
MAX_PROBLEMS = 10
#: Texts whose words are looked up in one polars pass (bounds the exploded words in memory).
QUOTE_BATCH_TEXTS = 200_000


class ParquetTexts:
    """The non-null values of a text column of a Parquet file (the interim posts' ``text``),
    read a batch at a time in the file's order: what :func:`publication_problems` checks the
    outputs against without holding every post's text (at 10M posts ~1 GB)."""

    def __init__(self, path: Path | str, column: str = "text") -> None:
        self.path, self.column = Path(path), column

    def batches(self, size: int) -> Iterator[pl.Series]:
        """The texts, ``size`` rows of the file at a time (fewer once the nulls are left out)."""
        for batch in column_batches(self.path, self.column, size):
            texts = batch.cast(pl.String).drop_nulls()
            if texts.len():
                yield texts


def _text_batches(
    texts: Iterable[str] | pl.Series | ParquetTexts, size: int
) -> Iterator[pl.Series]:
    if isinstance(texts, ParquetTexts):
        yield from texts.batches(size)
        return
    whole = _as_series(texts)
    for start in range(0, whole.len(), size):
        yield whole.slice(start, size)


def publishable_problems(
    text: str,
    quoted_texts: Iterable[str] | pl.Series | ParquetTexts = (),
    min_quote_words: int = MIN_QUOTE_WORDS,
) -> list[str]:
    """Reasons why ``text`` is not publishable: pseudonyms, or quotes of post text.

    A quote is any run of ``min_quote_words`` consecutive words of a post text that contains
    at least one letter (runs of bare numbers are figures, not quotes). One output; see
    :func:`publication_problems` for several against the same posts.
    """
    return publication_problems({"": text}, quoted_texts, min_quote_words)[""]


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _quotes(words: list[str], n: int) -> Iterator[str]:
    """Every run of ``n`` consecutive ``words`` that holds a letter, in order."""
    for i in range(len(words) - n + 1):
        gram = words[i : i + n]
        # A run of numbers ("0 0 0 1", a matrix in a post) quotes nobody: a table of our
        # own figures would match it. A quote has words.
        if any(any(ch.isalpha() for ch in w) for w in gram):
            yield " ".join(gram)


def publication_problems(
    outputs: Mapping[str, str],
    quoted_texts: Iterable[str] | pl.Series | ParquetTexts = (),
    min_quote_words: int = MIN_QUOTE_WORDS,
) -> dict[str, list[str]]:
    """:func:`publishable_problems` of each output (by name), the posts read once for all.

    Per output: up to five pseudonyms it lists, then, post by post in ``quoted_texts``' order,
    the first run of ``min_quote_words`` words of the post (lower-cased ``\\w+`` words holding
    a letter) that the output also holds, until more than :data:`MAX_PROBLEMS` are listed.

    The posts are not read in Python: that was a regex and every run of every post, once per
    output (at 2M posts the report's check ran for tens of minutes). Polars lists every run of
    ``min_quote_words`` words of the ASCII texts, in batches, and keeps those some output holds
    (:func:`_runs_found`); a text with any other character is read here, as before. The problems
    are the same as reading every post in Python (a test compares them).
    """
    n = min_quote_words
    grams = {name: set(_quotes(_words(text), n)) for name, text in outputs.items()}
    out = {
        name: [f"lists a pseudonym: {m.group(0)}" for m in PSEUDONYM.finditer(text)][:5]
        for name, text in outputs.items()
    }
    open_ = {name for name in outputs if grams[name] and len(out[name]) <= MAX_PROBLEMS}
    if not open_:
        return out
    wanted = {g for name in open_ for g in grams[name]}
    # each text's problems are its own: the batches' bounds change nothing but the memory
    for batch in _text_batches(quoted_texts, QUOTE_BATCH_TEXTS):
        found_in, others = _runs_found(batch, wanted, n)
        for i in sorted(found_in.keys() | set(others)):
            runs = found_in.get(i) or _quotes(_words(batch[i] or ""), n)
            found: dict[str, str] = {}
            for gram in runs:
                for name in open_ - found.keys():
                    if gram in grams[name]:
                        found[name] = gram
                if found.keys() >= open_:
                    break
            for name, gram in found.items():
                out[name].append(f"quotes post text: {gram!r}")
                if len(out[name]) > MAX_PROBLEMS:
                    open_.discard(name)
            if not open_:
                return out
    return out


def _as_series(texts: Iterable[str] | pl.Series) -> pl.Series:
    if isinstance(texts, pl.Series):
        return texts.cast(pl.String)
    return pl.Series("text", list(texts), dtype=pl.String)


#: Seed of the words' hashes (any fixed value: both sides of the match use it in one process).
_WORD_SEED = 20_240_611


def _run_key(n: int) -> pl.Expr:
    """Per word of a frame of ``i`` (text) and ``w`` (word, in order): a 64-bit key of the run of
    ``n`` words starting there (null where the run would leave its text): the sum, wrapping
    at 2**64, of each word's hash times an odd multiplier of its position in the run."""
    h = pl.col("w").hash(_WORD_SEED)
    mix = [(2 * k + 1) * 0x9E3779B97F4A7C15 % 2**64 for k in range(n)]
    mixed = [h.shift(-k) * pl.lit(m, pl.UInt64) for k, m in enumerate(mix)]
    return pl.when(pl.col("i").shift(-(n - 1)) == pl.col("i")).then(pl.sum_horizontal(mixed))


def _runs_found(
    texts: pl.Series, wanted: set[str], n: int
) -> tuple[dict[int, list[str]], list[int]]:
    """The runs of ``n`` words of the ASCII ``texts`` that are in ``wanted`` (by text position,
    in their order in the text), and the positions of the other texts (to be read in Python).

    On ASCII text, polars' Rust ``\\w`` and lower-casing are Python's (letters, digits and
    ``_``; A-Z to a-z), so the runs are the ones :func:`_quotes` lists; a run in ``wanted``
    holds a letter (``wanted`` is made of such runs). Other texts are not vouched for here.
    """
    frame = pl.DataFrame({"text": texts.fill_null("")}).with_row_index("i")
    ascii_ = pl.col("text").str.len_bytes() == pl.col("text").str.len_chars()
    words = (
        frame.filter(ascii_)
        .select("i", w=pl.col("text").str.to_lowercase().str.extract_all(r"\w+"))
        .explode("w")
        .drop_nulls("w")
    )
    # A run is matched by a 64-bit key of its words' hashes first, so no string is built for
    # the millions of runs no output holds; each candidate's run is then built and
    # looked up exactly, so a collision of keys costs one look-up, never a wrong hit.
    keyed = words.with_columns(key=_run_key(n)).with_row_index("j")
    grams = pl.Series("run", sorted(wanted), dtype=pl.String)
    wanted_keys = (
        grams.str.split(" ")
        .to_frame("w")
        .with_row_index("i")
        .explode("w")
        .select(key=_run_key(n))
        .drop_nulls()
        .to_series()
    )
    candidates = keyed.filter(pl.col("key").is_in(wanted_keys.implode())).select("i", "j")
    w = words["w"]
    runs = pl.concat_str([w.gather(candidates["j"] + k) for k in range(n)], separator=" ").alias(
        "run"
    )
    hits = candidates.select("i").with_columns(runs).filter(pl.col("run").is_in(grams.implode()))
    found: dict[int, list[str]] = {}
    for i, gram in hits.iter_rows():
        found.setdefault(i, []).append(gram)
    return found, frame.filter(~ascii_)["i"].to_list()
