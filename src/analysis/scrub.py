"""Vectorised text scrubbing for stage ``ingest``: :func:`privacy.scrub_text` as polars expressions.

``privacy.scrub_text`` is the reference (Python ``re``, one text at a time); this module gives the
same output for a whole column with Rust regexes (polars ``str.replace_all``) and Aho-Corasick
(``str.extract_many``), so ingest runs no Python per row. It is exact, not approximate:

* the pattern steps (markup, handles, e-mails, URLs, phone numbers) are the Python patterns
  rewritten for Rust regexes, match for match (``analysis.scrub_patterns`` says how);
* known names are matched token by token as in ``privacy.NameRedactor``, by a hash join of
  token windows (``analysis.scrub_names``);
* Rust and Python disagree on a few characters (``\\w``, ``\\s``, case folding, Unicode version,
  combining marks that NFKC may compose): :func:`needs_python` finds the rows holding one of
  them with one regex, and only those rows go through ``privacy.scrub_text`` (the narrow
  fallback; the share is logged). :data:`analysis._unicode_unsafe` lists those characters; a
  test regenerates it from both engines.

This module holds the entry points (:func:`scrub_series`, :func:`scrub_expr`,
:func:`mentions_series`, :func:`drop_name_labels_expr`) and the generator of that table
(:func:`compute_unsafe`, :func:`write_unsafe_table`).
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import unicodedata
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import polars as pl

from analysis import privacy
from analysis.names import INVISIBLE_RS
from analysis.scrub_names import confusable_map, vector_names
from analysis.scrub_patterns import (
    REDDIT_USER,
    needs_python,
    normalise_series,
    normalised,
    patterns_series,
)

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- entry points


def _fallback(
    values: pl.Series, slow: pl.Series, fast: pl.Series, python: object, what: str
) -> pl.Series:
    idx = slow.arg_true()
    if idx.len() == 0:
        return fast
    log.debug("%s: %d of %d rows by the Python route", what, idx.len(), values.len())
    redo = pl.Series(fast.name, [python(v) for v in values.gather(idx).to_list()], fast.dtype)  # type: ignore[operator]
    return fast.clone().scatter(idx, redo)


#: Texts per slice below which a column is scrubbed on one thread (a slice costs ~25 ms of
#: fixed work). Scrubbing is row by row, so slices give the same rows as the whole column.
PARALLEL_MIN_ROWS = 10_000
#: Most texts in one slice: a slice's steps hold about four times its texts at once, so with
#: one slice per thread that transient grew with the column (at 1M posts +386-481 MiB over
#: the 94 MB of texts). In slices of at most this many, as many in flight as threads, the
#: transient is bounded; what the slices have done is kept for the next step (about the
#: texts' size, still growing with the column): +80-136 MiB at 1M, for ~0.2 s more of the
#: scrub alone (four more slices' fixed work). The ingest stage at 1M: peak 1,704-1,762
#: against 1,779-1,843 MiB (its peak is now the assembly and write of the posts), time
#: unchanged within its noise (7.5-7.7 s); at 2M 2,845-2,889 against 3,217-3,279 MiB,
#: 16.7-17.7 against 17.0-18.1 s.
MAX_SLICE_ROWS = 250_000

_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _threads() -> int:
    """Threads for scrubbing: polars' pool size (``POLARS_MAX_THREADS`` sets both)."""
    return pl.thread_pool_size()


def _pool() -> ThreadPoolExecutor:
    """The process's scrubbing threads, kept: polars caches compiled regexes per thread, so a
    new thread per call compiled every pattern again (measured: a third of a 10k slice).
    Like polars' own threads they do not survive ``fork`` (polars is not fork-safe: the
    project's processes are spawned)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(pl.thread_pool_size(), thread_name_prefix="scrub")
        return _POOL


def scrub_series(texts: pl.Series, names: privacy.NameRedactor | None = None) -> pl.Series:
    """``privacy.scrub_text`` of every text of ``texts`` (nulls stay null), vectorised.

    A column of at least two slices of :data:`PARALLEL_MIN_ROWS` is cut into slices, as many
    as the threads or a multiple of them so that none holds more than :data:`MAX_SLICE_ROWS`
    texts, scrubbed side by side (polars' string kernels run on one core per call and release
    the GIL) and put back in order: a 20,000-text batch of the streaming engine too.

    The names' vectorised matcher (:func:`vector_names`, Python, ~0.8 s for 100k accounts) is
    built on a thread of its own while the slices take the steps that need no names
    (:func:`_pattern_slice`), the first time a redactor is met; the names' step follows.
    """
    texts = texts.cast(pl.String)
    k = min(_threads(), texts.len() // PARALLEL_MIN_ROWS)
    if k < 2:
        return _scrub_slice(texts, names)
    k *= -(-texts.len() // (k * MAX_SLICE_ROWS))  # slices of at most MAX_SLICE_ROWS texts
    step = -(-texts.len() // k)
    parts = [texts.slice(start, step) for start in range(0, texts.len(), step)]
    build = threading.Thread(target=vector_names, args=(names,), name="vector-names")
    build.start()  # cached: a redactor met before is found at once
    try:
        done = list(_pool().map(_pattern_slice, parts))
    finally:
        build.join()
    return pl.concat(
        list(_pool().map(lambda pair: _names_slice(*pair, names), zip(parts, done, strict=True)))
    )


def _scrub_slice(texts: pl.Series, names: privacy.NameRedactor | None) -> pl.Series:
    """:func:`scrub_series` of one slice, on the calling thread."""
    return _names_slice(texts, _pattern_slice(texts), names)


def _pattern_slice(texts: pl.Series) -> tuple[pl.Series, pl.Series]:
    """The steps of ``privacy.scrub_text`` before the names, of every text: the texts so far
    and which rows take the Python route (:func:`needs_python`)."""
    norm = normalise_series(texts)
    slow = pl.DataFrame({"raw": texts, "norm": norm}).select(
        needs_python(pl.col("raw"), pl.col("norm"))
    )
    return patterns_series(norm), slow.to_series()


def _names_slice(
    texts: pl.Series, done: tuple[pl.Series, pl.Series], names: privacy.NameRedactor | None
) -> pl.Series:
    """The rest of ``privacy.scrub_text`` on :func:`_pattern_slice`'s output ``done`` of
    ``texts``: the known names, the edges' whitespace, and the Python route's rows."""
    out, slow = done
    vn = vector_names(names)
    if vn is not None:
        out = vn.redact(out)
    out = out.str.strip_chars().alias(texts.name)
    return _fallback(texts, slow, out, lambda t: privacy.scrub_text(t, names), "scrub")


def mentions_series(values: pl.Series, names: privacy.NameRedactor) -> pl.Series:
    """``names.mentions(v)`` of every value (null: False), vectorised."""
    values = values.cast(pl.String)
    vn = vector_names(names)
    norm = pl.DataFrame({"raw": values}).select(
        normalised(pl.col("raw")).alias("norm"),
        needs_python(pl.col("raw"), normalised(pl.col("raw"))).alias("slow"),
    )
    slow = norm["slow"]
    user = norm["norm"].str.contains(REDDIT_USER).fill_null(False)
    fast = user if vn is None else user | vn.contains(norm["norm"]).fill_null(False)
    return _fallback(values, slow, fast.alias(values.name), lambda v: names.mentions(v), "labels")


def scrub_expr(col: str, names: privacy.NameRedactor | None = None) -> pl.Expr:
    """A polars expression scrubbing the texts of ``col`` (streamable: batch by batch).

    On one thread per batch: a callback runs on polars' own threads, and one that waited on
    scrubbing threads (which need polars' threads too) could, with as many such callbacks at
    once as polars has threads, leave none to run them (a deadlock, reproduced with four
    columns on two threads). For many texts at once, :func:`scrub_series` uses the cores.
    """
    return pl.col(col).map_batches(
        lambda s: _scrub_slice(s.cast(pl.String), names),
        return_dtype=pl.String,
        is_elementwise=True,
    )


@functools.lru_cache(maxsize=8)
def _label_mentions(names: privacy.NameRedactor) -> dict[str, bool]:
    """Labels already tested against ``names`` (whether each mentions a name), per redactor."""
    return {}


def drop_name_labels_expr(col: str, names: privacy.NameRedactor) -> pl.Expr:
    """Labels of ``col`` (a list column) without those that hold a known name (nor nulls).

    A label holding a known handle or name (a hashtag that is someone's handle, a group named
    after someone) is a mention in disguise: privacy wins over ground truth, the label goes.
    """

    def run(s: pl.Series) -> pl.Series:
        rows = pl.DataFrame({"l": s}).with_row_index("_row")
        flat = rows.explode("l")
        # once per distinct label (a dump has few: tags, groups), then looked up
        distinct = flat["l"].drop_nulls().unique()
        # and once per run: a batch of the streaming ingest meets the same labels again
        cache = _label_mentions(names)
        new = distinct.filter(~distinct.is_in(list(cache)))
        if new.len():
            cache.update(zip(new.to_list(), mentions_series(new, names).to_list(), strict=True))
        named = pl.Series([v for v in distinct.to_list() if cache[v]], dtype=pl.String)
        keep = flat["l"].is_not_null() & ~flat["l"].is_in(named.implode())
        kept = (
            flat.filter(keep).group_by("_row", maintain_order=True).agg(pl.col("l").alias("kept"))
        )
        out = rows.join(kept, on="_row", how="left", maintain_order="left").select(
            pl.when(pl.col("l").is_null())
            .then(None)
            .otherwise(pl.col("kept").fill_null(pl.lit([], dtype=pl.List(pl.String))))
            .alias(s.name)
        )
        return out.to_series().cast(pl.List(pl.String))

    return pl.col(col).map_batches(run, return_dtype=pl.List(pl.String), is_elementwise=True)


# --------------------------------------------------------------------------- unsafe characters


def _ranges(cps: Iterable[int]) -> tuple[tuple[int, int], ...]:
    out: list[list[int]] = []
    for cp in sorted(cps):
        if out and cp == out[-1][1] + 1:
            out[-1][1] = cp
        else:
            out.append([cp, cp])
    return tuple((a, b) for a, b in out)


def compute_unsafe() -> tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]:
    """The characters on which Rust (polars) and Python disagree, from both engines.

    Returns ``(raw, normalised)`` code point ranges: ``raw`` are unsafe anywhere in an input
    (unassigned in Python's Unicode version, so NFKC may differ; format characters the two
    engines classify differently; the scrubber's markers); ``normalised`` are unsafe in a text
    after NFKC (different ``\\w``, ``\\s``, ``\\d``, case-insensitive letters or trimming;
    combining marks and Hangul jamo, which NFKC may compose with a neighbour; characters whose
    case folding is not one character or differs from polars' lower case; look-alikes whose
    Latin letter is a word character where they are none, or the reverse). ``_unicode_unsafe``
    stores the result; a test recomputes it.
    """
    import regex

    cps = [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF]
    chars = [chr(cp) for cp in cps]
    everything = "".join(chars)
    series = pl.Series(chars)

    def rust(pattern: str) -> set[int]:
        hit = series.str.contains(pattern)
        return {cps[i] for i in hit.arg_true().to_list()}

    def python(pattern: str, engine: object = re) -> set[int]:
        return {ord(c) for c in engine.findall(pattern, everything)}  # type: ignore[attr-defined]

    markers = {0, 1, 2}
    unassigned = {cp for cp, c in zip(cps, chars, strict=True) if unicodedata.category(c) == "Cn"}
    cf = python(privacy.FORMAT_CHARS.pattern, regex) ^ rust(f"^{INVISIBLE_RS}$")
    raw = markers | unassigned | cf
    norm = set(raw)
    for py, rs in (
        (r"\w", r"^\w$"),
        (r"\s", r"^\s$"),
        (r"\d", r"^\d$"),
        (r"(?i)[a-z0-9]", r"^(?i)[a-z0-9]$"),
    ):
        norm |= python(py) ^ rust(rs)
    trimmed = series.str.strip_chars().str.len_chars() == 0
    norm |= {cp for cp, t, c in zip(cps, trimmed.to_list(), chars, strict=True) if t != c.isspace()}
    # a look-alike that the skeleton maps across the edge of a word ("×" -> "x", "∣" -> "l"):
    # the reference reads "Ma×ol" as the word "Maxol", the columns cut the text at "×"
    word = re.compile(r"\w")
    for cp, c in zip(cps, chars, strict=True):
        look = c.translate(privacy.CONFUSABLES)
        if look != c and bool(word.fullmatch(c)) != all(word.fullmatch(x) for x in look):
            norm.add(cp)

    def lower(texts: pl.Series) -> list[str]:
        return texts.str.replace_many(confusable_map()).str.to_lowercase().to_list()

    def fold(text: str) -> str:
        return text.translate(privacy.CONFUSABLES).casefold()

    # alone and after a letter: polars lower-cases a capital sigma at the end of a word to a
    # final sigma, Python's casefold never does (a name "abΣ" was missed, not redacted)
    alone, after = lower(series), lower("a" + series)
    jamo = [(0x1100, 0x11FF), (0xA960, 0xA97F), (0xD7B0, 0xD7FF)]
    for cp, c, low, low_after in zip(cps, chars, alone, after, strict=True):
        if (
            unicodedata.category(c).startswith("M")
            or any(a <= cp <= b for a, b in jamo)
            or unicodedata.normalize("NFKC", c) != c
            or len(c.casefold()) != 1
            or low != fold(c)
            or low_after != fold("a" + c)
        ):
            norm.add(cp)
    return _ranges(raw), _ranges(norm)


def write_unsafe_table(path: str | None = None) -> None:
    """Regenerate ``src/analysis/_unicode_unsafe.py`` (after a polars or Python upgrade)."""
    from pathlib import Path

    raw, norm = compute_unsafe()
    target = Path(path or Path(__file__).with_name("_unicode_unsafe.py"))
    fmt = lambda rs: ",\n".join(f"    (0x{a:X}, 0x{b:X})" for a, b in rs)  # noqa: E731
    target.write_text(
        '"""Characters on which polars\' Rust regexes and Python\'s ``re`` disagree (generated).\n\n'
        "Written by ``analysis.scrub.write_unsafe_table()``; ``tests/unit/test_scrub.py`` recomputes\n"
        'it from both engines. A text holding one of them is scrubbed by ``privacy.scrub_text``.\n"""\n\n'
        "from __future__ import annotations\n\nimport functools\n\n"
        f"RAW: tuple[tuple[int, int], ...] = (\n{fmt(raw)},\n)\n\n"
        f"NORMALISED: tuple[tuple[int, int], ...] = (\n{fmt(norm)},\n)\n\n\n"
        "@functools.lru_cache(maxsize=1)\n"
        "def normalised_set() -> frozenset[int]:\n"
        '    """Every code point of :data:`NORMALISED`."""\n'
        "    return frozenset(cp for a, b in NORMALISED for cp in range(a, b + 1))\n"
    )
