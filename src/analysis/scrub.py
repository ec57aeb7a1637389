"""Vectorised text scrubbing for stage ``ingest``: :func:`privacy.scrub_text` as polars expressions.

``privacy.scrub_text`` is the reference (Python ``re``, one text at a time); this module gives the
same output for a whole column with Rust regexes (polars ``str.replace_all``) and Aho-Corasick
(``str.extract_many``), so ingest runs no Python per row. It is exact, not approximate:

* Python's lookbehinds become a consumed prefix put back by the replacement (``(^|[^\\w.])`` ->
  ``${1}``); possessive runs are rewritten where backtracking could change the match (the
  obfuscated e-mail); the phone pattern's ``(?!\\d)`` becomes a marker (``\\x02``) inserted after
  every digit run, and its callback (dates, decimals, short ``00`` numbers are kept) becomes
  three anchored rules over ``\\x00match\\x01`` markers.
* Known names are matched token by token as in ``privacy.NameRedactor``: one alternation of
  per-character classes (every look-alike and case form of each letter), built per batch from
  the names whose first token occurs in the batch (Aho-Corasick over the folded texts), so the
  compiled automaton stays small whatever the number of accounts.
* Rust and Python disagree on a few characters (``\\w``, ``\\s``, case folding, Unicode version,
  combining marks that NFKC may compose): :func:`needs_python` finds the rows holding one of
  them with one regex, and only those rows go through ``privacy.scrub_text`` (the narrow
  fallback; the share is logged). :data:`analysis._unicode_unsafe` lists those characters; a
  test regenerates it from both engines.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from collections.abc import Callable, Iterable

import numpy as np
import polars as pl

from analysis import _unicode_unsafe, privacy

log = logging.getLogger(__name__)

#: Characters the scrubber uses as markers (a text holding one goes to the Python route).
_M_OPEN, _M_CLOSE, _M_END = "\x00", "\x01", "\x02"


def _cls(ranges: Iterable[tuple[int, int]]) -> str:
    return "[" + "".join(f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges) + "]"


#: Rows whose raw text holds one of these, or whose NFKC text holds one of ``_NORM_UNSAFE``,
#: are scrubbed by ``privacy.scrub_text`` (see the module docstring).
_RAW_UNSAFE = _cls(_unicode_unsafe.RAW)
_NORM_UNSAFE = _cls(_unicode_unsafe.NORMALISED)
#: The one adjacency the prefix emulation cannot see: a ``/u/name-`` match followed at once by
#: another ``u/`` (Python's lookbehind reads the ``-`` the first match consumed).
_REDDIT_ADJACENT = r"-/?u/"

_SEP = r"[ \t\r\n.\-()/_]"
_OPEN, _CLOSE = r"[(\[{]", r"[)\]}]"
#: (pattern, replacement) in the order of ``privacy.scrub_text``; each one's comment says how it
#: differs from the Python pattern and why the difference cannot change a match.
_STEPS: tuple[tuple[str, str], ...] = (
    # identical syntax and semantics
    (r"(?is)<a\b[^<>]{0,1000}?\b(?:mention|u-url)\b[^<>]{0,1000}>.{0,1000}?</a>", "[handle]"),
    (r"<[^>]{0,2000}>", " "),
    # lookbehind -> consumed prefix; a match ends in [\w-], never a valid prefix of the next
    (r"(^|[^\w.\-@])@[\w.\-]+@[\w\-]+(?:\.[\w\-]+)+", "${1}[handle]"),
    (r"(^|[^\w.+\-])[\w.+\-]+[ \t]{0,3}@[ \t]{0,3}[\w\-]+(?:\.[\w\-]+)+", "${1}[email]"),
    # possessive runs: with them a run is maximal, so " at"/" dot" need a space or a bracket
    # first (the later "dot"s follow a backtracking [A-Za-z]{2,} and need none)
    (
        rf"(^|[^\w.+\-])[\w.+\-]+(?:\s+{_OPEN}?|{_OPEN})\s*(?:at|AT)\s*{_CLOSE}?\s*[\w\-]+"
        rf"(?:\s+{_OPEN}?|{_OPEN})\s*(?:dot|DOT)\s*{_CLOSE}?\s*[A-Za-z]{{2,}}"
        rf"(?:\s*{_OPEN}?\s*(?:dot|DOT)\s*{_CLOSE}?\s*[A-Za-z]{{2,}})*\b",
        "${1}[email]",
    ),
    # the unprefixed first branch is kept first, then it and the domain branch with a prefix,
    # so that at every start the branches are tried in Python's order
    (
        r"(?i)(?:(?:https?|ftp)://|www\.)[^\s<>\"')\]]+"
        r"|(^|[^\w.\-])(?:(?:https?|ftp)://|www\.)[^\s<>\"')\]]+"
        r"|(^|[^\w.\-])(?:[a-z0-9-]+\.)+(?:com|org|net|io|co|de|fr|uk|edu|gov|me|ly|gl|be|social"
        r"|app|dev|info)(?:/[^\s<>\"')\]]*)?",
        "${1}${2}[url]",
    ),
    (r"(^|[^\w/])/?u/[A-Za-z0-9_\-]{2,}", "${1}[handle]"),
    (r"(^|[^\w@])@\w(?:[\w.\-]*\w)?", "${1}[handle]"),
    # phone: \x02 after every digit run stands for (?!\d) and for a digit before the start
    (r"(\d)(\D|$)", "${1}" + _M_END + "${2}"),
    (
        rf"(^|[^\w+.{_M_END}])((?:\+|00{_M_END}?)?\(?\d(?:{_M_END}?{_SEP}{{0,3}}\d){{6,14}}{_M_END})",
        "${1}" + _M_OPEN + "${2}" + _M_CLOSE,
    ),
    (_M_END, ""),
    # privacy._phone keeps calendar dates, decimals and "00" numbers of under 7 digits
    (
        rf"{_M_OPEN}(\d{{4}}[\-./_]\d{{1,2}}[\-./_]\d{{1,2}}|\d{{1,2}}[\-./_]\d{{1,2}}[\-./_]\d{{4}}"
        rf"|\d+\.\d+|[+(]*00[^\d{_M_CLOSE}]*(?:\d[^\d{_M_CLOSE}]*){{0,6}}){_M_CLOSE}",
        "${1}",
    ),
    (rf"{_M_OPEN}[^{_M_CLOSE}]*{_M_CLOSE}", "[phone]"),
    # a run of blanks becomes one space: a single space is left alone (the same output)
    (r"[ \t\x{A0}]{2,}|[\t\x{A0}]", " "),
)
_TLDS = "com|org|net|io|co|de|fr|uk|edu|gov|me|ly|gl|be|social|app|dev|info"
#: (first step, last step + 1, test): a text the test does not match is left unchanged by
#: those steps (each test is implied by every match of its steps), so they run on fewer rows
_GATES: tuple[tuple[int, int, str], ...] = (
    (0, 2, "<"),
    (2, 4, "@"),
    (4, 5, "(?:dot|DOT)"),
    (5, 6, rf"(?i)://|www\.|\.(?:{_TLDS})"),
    (6, 7, "u/"),
    (7, 8, "@"),
    (8, 13, rf"\d(?:{_SEP}{{0,3}}\d){{6}}"),
    (13, 14, r"[ \t\x{A0}]{2,}|[\t\x{A0}]"),
)


def needs_python(raw: pl.Expr, normalised: pl.Expr) -> pl.Expr:
    """True for the rows the vectorised scrubber cannot vouch for (they take the Python route)."""
    return (
        raw.str.contains(_RAW_UNSAFE)
        | normalised.str.contains(_NORM_UNSAFE)
        | normalised.str.contains(_REDDIT_ADJACENT)
    ).fill_null(False)


def _normalised(col: pl.Expr) -> pl.Expr:
    return col.str.replace_all(r"[\p{Cf}\x{180E}]", "").str.normalize("NFKC")


def _only(texts: pl.Series, test: str, fn: Callable[[pl.Series], pl.Series]) -> pl.Series:
    """``fn`` applied to the texts ``test`` matches; the others are kept as they are."""
    idx = texts.str.contains(test, literal=test in ("<", "@", "u/")).fill_null(False).arg_true()
    if idx.len() == 0:
        return texts
    # scatter writes in place: never into the caller's series
    return texts.clone().scatter(idx, fn(texts.gather(idx)))


def normalise_series(texts: pl.Series) -> pl.Series:
    """Without format characters, NFKC (ASCII texts, most of them, are left as they are)."""
    return _only(
        texts,
        r"[^\x00-\x7F]",
        lambda s: s.to_frame().select(_normalised(pl.col(s.name))).to_series(),
    )


def _steps(texts: pl.Series, first: int, last: int) -> pl.Series:
    for pattern, repl in _STEPS[first:last]:
        texts = texts.str.replace_all(pattern, repl, literal=pattern == _M_END)
    return texts


def patterns_series(texts: pl.Series) -> pl.Series:
    """Every pattern step of ``privacy.scrub_text`` but the names, in its order."""
    for first, last, test in _GATES:
        texts = _only(texts, test, lambda s, a=first, b=last: _steps(s, a, b))
    return texts


# --------------------------------------------------------------------------- names


#: joins the tokens and separators of a name or of a window of text into one key
_JOIN = "\x1f"


class VectorNames:
    """The entries of a ``privacy.NameRedactor``, matched on whole columns (same semantics).

    A text is split into tokens (``\\w+``) and separators; every token gets its folded form
    (look-alikes mapped to Latin, lower case) and every separator its collapsed form, and the
    window of ``w`` tokens starting at each token is looked up (a hash join) among the names of
    ``w`` tokens. The longest name at a token wins and the scan goes on after it, as in
    ``NameRedactor._spans``. Only texts whose folded form holds a name's first token (one
    Aho-Corasick pass) are split, so the cost is linear in those texts, whatever the number of
    names (one alternation of 5,000 names took minutes in the Rust regex engine).
    """

    def __init__(self, names: privacy.NameRedactor) -> None:
        #: folded first tokens: a text that holds none of them (as a substring) holds no name
        self.first = sorted(names.by_first)
        self.first_set = pl.Series(self.first, dtype=pl.String)
        folded: dict[int, set[str]] = {}
        exact: set[str] = set()
        for bucket in names.by_first.values():
            for key, seps, case_sensitive in bucket:
                if case_sensitive:
                    exact.add(key[0])
                    continue
                parts = [key[0]]
                for sep, tok in zip(seps, key[1:], strict=True):
                    parts += [sep, tok]
                folded.setdefault(len(key), set()).add(_JOIN.join(parts))
        self.widths = sorted(folded, reverse=True)
        self.folded = {w: pl.Series(sorted(v), dtype=pl.String) for w, v in folded.items()}
        self.exact = pl.Series(sorted(exact), dtype=pl.String)

    def _matches(self, texts: pl.Series) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Pieces of ``texts`` (row, i, piece) and every name match (row, i, k, w) in them."""
        pieces = (
            pl.DataFrame({"t": texts})
            .with_row_index("row")
            .select("row", pl.col("t").str.extract_all(r"\w+|\W+").alias("p"))
            .explode("p")
            .with_row_index("i")
        )

        # rows are contiguous and in order: a shift that crosses into another row is nulled
        # (cheaper than a window over each row)
        def ahead(col: str, j: int) -> pl.Expr:
            same = pl.col("row").shift(-j) == pl.col("row")
            return pl.when(same).then(pl.col(col).shift(-j))

        toks = pieces.with_columns(
            pl.col("p").str.contains(r"^\w").fill_null(False).alias("is_tok"),
            ahead("p", 1).alias("sep"),
        ).filter("is_tok")
        toks = toks.with_columns(
            _skeleton_series(toks["p"]).alias("skel"), pl.int_range(pl.len()).alias("k")
        ).with_columns(pl.col("skel").str.to_lowercase().alias("fold"))
        # the tokens (and separators) after each token, before the rows are narrowed
        top = max(self.widths, default=1)
        toks = toks.with_columns(
            *(ahead("sep", j - 1).alias(f"_sep{j}") for j in range(1, top)),
            *(ahead("fold", j).alias(f"_fold{j}") for j in range(1, top)),
        )
        # only a token that is a name's first token (or a case-sensitive name) starts a match
        toks = toks.filter(
            pl.col("fold").is_in(self.first_set.implode())
            | pl.col("skel").is_in(self.exact.implode())
        )
        width = pl.when(pl.col("skel").is_in(self.exact.implode())).then(1).otherwise(0)
        for w in sorted(self.widths):  # ascending: a longer match overrides a shorter one
            parts = [pl.col("fold")]
            for j in range(1, w):
                sep = pl.col(f"_sep{j}").str.replace_all(r"\s+", " ")
                parts += [sep, pl.col(f"_fold{j}")]
            window = pl.concat_str(parts, separator=_JOIN)  # null past the end of the text
            hit = window.is_in(self.folded[w].implode()).fill_null(False)
            width = pl.when(hit).then(w).otherwise(width)
        found = toks.with_columns(width.alias("w")).filter(pl.col("w") > 0)
        return pieces, found.select("row", "i", "k", "w")

    @staticmethod
    def _greedy(found: pl.DataFrame) -> pl.DataFrame:
        """Left to right, a match inside an earlier chosen match is skipped (as in ``_spans``)."""
        ends = found.with_columns(
            (pl.col("k") + pl.col("w")).shift(1).over("row").alias("prev_end")
        )
        clash = ends.filter(pl.col("prev_end") > pl.col("k"))["row"].unique()
        if clash.len() == 0:
            return found
        keep = []
        for row, group in found.filter(pl.col("row").is_in(clash.implode())).group_by(
            "row", maintain_order=True
        ):
            end = -1
            for i, k, w in group.select("i", "k", "w").iter_rows():
                if k >= end:
                    keep.append((row[0], i, k, w))
                    end = k + w
        chosen = pl.DataFrame(keep, schema=found.schema, orient="row")
        return pl.concat([found.filter(~pl.col("row").is_in(clash.implode())), chosen]).sort("i")

    def _apply(self, texts: pl.Series, op: str) -> pl.Series:
        """Redact (``op='redact'``) or test (``op='contains'``) every safe text of ``texts``."""
        folded = _skeleton_series(texts).str.to_lowercase()
        has = folded.str.contains_any(self.first).fill_null(False)
        idx = has.arg_true()
        if op == "contains":
            out = pl.Series(texts.name, [False] * texts.len(), dtype=pl.Boolean)
        else:
            out = texts.clone()
        if idx.len() == 0:
            return out
        sub = texts.gather(idx)
        pieces, found = self._matches(sub)
        if op == "contains":
            hit = pl.int_range(sub.len(), eager=True).is_in(found["row"].implode())
            return out.scatter(idx, hit)
        chosen = self._greedy(found)
        if chosen.height == 0:
            return out
        return out.scatter(idx, _cut(sub, pieces, chosen))

    def redact(self, texts: pl.Series) -> pl.Series:
        """Every known name of the safe ``texts`` replaced by ``[user]``."""
        return self._apply(texts, "redact")

    def contains(self, texts: pl.Series) -> pl.Series:
        """True for the safe ``texts`` holding a known name (``NameRedactor.mentions``)."""
        return self._apply(texts, "contains")


def _skeleton_series(values: pl.Series) -> pl.Series:
    """Look-alikes mapped to Latin letters (``privacy.CONFUSABLES``); ASCII values, which no
    entry of the map touches, are left as they are."""
    return _only(values, r"[^\x00-\x7F]", lambda s: s.str.replace_many(_confusable_map()))


def _cut(texts: pl.Series, pieces: pl.DataFrame, chosen: pl.DataFrame) -> pl.Series:
    """``texts`` with each chosen match (pieces ``i`` to ``i + 2w - 2``) replaced by ``[user]``.

    The pieces tile each text (``\\w+|\\W+``), so a match's character offsets are sums of
    piece lengths; each text is cut by slices, its matches from the last to the first (a cut
    leaves the offsets before it as they were), one round per match of the text that has most.
    """
    lens = pieces["p"].str.len_chars().fill_null(0).cast(pl.Int64).to_numpy()
    ends = np.cumsum(lens)
    starts = ends - lens
    rows = pieces["row"].to_numpy()
    # rows are numbered 0..n-1 in order, each with at least one piece (an empty text a null)
    first = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    if first.size != texts.len():
        raise RuntimeError(f"{first.size} texts among the pieces of {texts.len()}")
    i = chosen["i"].to_numpy().astype(np.int64)
    row = chosen["row"].to_numpy().astype(np.int64)
    last = i + 2 * chosen["w"].to_numpy().astype(np.int64) - 2
    base = starts[first][row]
    edits = pl.DataFrame({"row": row, "a": starts[i] - base, "b": ends[last] - base})
    edits = edits.sort("row", "a", descending=[False, True]).with_columns(
        pl.int_range(pl.len()).over("row").alias("nth")
    )
    out = texts.clone()  # scatter writes in place
    for nth in range(int(edits["nth"].max()) + 1):  # type: ignore[arg-type]
        part = edits.filter(pl.col("nth") == nth)
        rows_ = part["row"]
        cur = pl.DataFrame({"t": out.gather(rows_), "a": part["a"], "b": part["b"]})
        new = cur.select(
            pl.col("t").str.slice(0, pl.col("a")) + "[user]" + pl.col("t").str.slice(pl.col("b"))
        ).to_series()
        out = out.scatter(rows_, new)
    return out


@functools.lru_cache(maxsize=1)
def _confusable_map() -> dict[str, str]:
    return {chr(k): (chr(v) if isinstance(v, int) else v) for k, v in privacy.CONFUSABLES.items()}


@functools.lru_cache(maxsize=64)
def vector_names(names: privacy.NameRedactor | None) -> VectorNames | None:
    """The vectorised twin of a redactor (cached: built once per redactor)."""
    return VectorNames(names) if names else None


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


def scrub_series(texts: pl.Series, names: privacy.NameRedactor | None = None) -> pl.Series:
    """``privacy.scrub_text`` of every text of ``texts`` (nulls stay null), vectorised."""
    texts = texts.cast(pl.String)
    norm = normalise_series(texts)
    slow = pl.DataFrame({"raw": texts, "norm": norm}).select(
        needs_python(pl.col("raw"), pl.col("norm"))
    )
    out = patterns_series(norm)
    vn = vector_names(names)
    if vn is not None:
        out = vn.redact(out)
    out = out.str.strip_chars().alias(texts.name)
    return _fallback(texts, slow.to_series(), out, lambda t: privacy.scrub_text(t, names), "scrub")


def mentions_series(values: pl.Series, names: privacy.NameRedactor) -> pl.Series:
    """``names.mentions(v)`` of every value (null: False), vectorised."""
    values = values.cast(pl.String)
    vn = vector_names(names)
    norm = pl.DataFrame({"raw": values}).select(
        _normalised(pl.col("raw")).alias("norm"),
        needs_python(pl.col("raw"), _normalised(pl.col("raw"))).alias("slow"),
    )
    fast = vn.contains(norm["norm"]).fill_null(False) if vn is not None else None
    if fast is None:
        return pl.Series(values.name, [False] * values.len(), dtype=pl.Boolean)
    return _fallback(
        values, norm["slow"], fast.alias(values.name), lambda v: names.mentions(v), "labels"
    )


def scrub_expr(col: str, names: privacy.NameRedactor | None = None) -> pl.Expr:
    """A polars expression scrubbing the texts of ``col`` (streamable: batch by batch)."""
    return pl.col(col).map_batches(
        lambda s: scrub_series(s, names), return_dtype=pl.String, is_elementwise=True
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
    case folding is not one character or differs from polars' lower case). ``_unicode_unsafe``
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
    cf = python(r"[\p{Cf}\u180e]", regex) ^ rust(r"^[\p{Cf}\x{180E}]$")
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
    lower = series.str.replace_many(_confusable_map()).str.to_lowercase().to_list()
    jamo = [(0x1100, 0x11FF), (0xA960, 0xA97F), (0xD7B0, 0xD7FF)]
    for cp, c, low in zip(cps, chars, lower, strict=True):
        folded = c.translate(privacy.CONFUSABLES).casefold()
        if (
            unicodedata.category(c).startswith("M")
            or any(a <= cp <= b for a, b in jamo)
            or unicodedata.normalize("NFKC", c) != c
            or len(c.casefold()) != 1
            or low != folded
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
