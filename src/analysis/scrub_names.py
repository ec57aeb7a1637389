"""Known names matched on whole columns: the vectorised twin of ``privacy.NameRedactor``.

Used by stage ``ingest`` through ``analysis.scrub``; reads and writes nothing. Known names are
matched token by token as in ``privacy.NameRedactor``: one alternation of per-character
classes (every look-alike and case form of each letter), built per batch from the names whose
first token occurs in the batch (Aho-Corasick over the folded texts), so the compiled
automaton stays small whatever the number of accounts.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np
import polars as pl

from analysis import privacy
from analysis.names import (
    APOSTROPHES,
    DASHES,
    EDGE_UNDERSCORE,
    EMPHASIS,
    ENTRY_JOIN,
    FIRST_END,
    JOINER,
    JOINS,
    PREFIX_CHARS,
    prefixes,
)
from analysis.scrub_patterns import only
from analysis.sorted_sets import member


@dataclass(frozen=True)
class Cut:
    """How a pass of :meth:`VectorNames._matches` cuts a text into pieces: ``split`` finds the
    pieces, tokens and separators alternating and tiling the text; ``token`` tells a token; a
    token is compared without what ``drop`` finds in it (None: as it is)."""

    split: str
    token: str
    drop: str | None = None


#: The passes of ``NameRedactor._spans``, whose matches are merged. The tokens as written;
AS_WRITTEN = Cut(r"\w+|\W+", r"^\w")
#: the tokens without underscores at their edges (Markdown's "_name_", "__name__"; a run of
#: underscores alone is no token), the underscores then part of the separators (texts matching
#: ``names.JOINED_WORD``);
WITHOUT_EDGE_UNDERSCORES = Cut(r"[^\W_](?:\w*[^\W_])?|[\W_]+", r"^[^\W_]")
#: the words joined across a ``names.JOINER`` or an escaped underscore ("**Ali**ce",
#: "Mari-\nsol", "some\\_user"), compared without the joiners and the backslash (texts
#: matching ``names.JOINS``).
JOINED = Cut(rf"\w+(?:(?:{JOINER.pattern})\w+|\\_\w*)*|\W+", r"^\w", rf"{JOINER.pattern}|\\")


class VectorNames:
    """The entries of a ``privacy.NameRedactor``, matched on whole columns (same semantics).

    A text is split into tokens (``\\w+``) and separators; every token gets its folded form
    (look-alikes mapped to Latin, lower case) and every separator its collapsed form, and the
    window of ``w`` tokens starting at each token is looked up (a hash join) among the names of
    ``w`` tokens. The longest name at a token wins and the scan goes on after it, as in
    ``NameRedactor._spans``. Only texts whose folded form holds a name's first token (one
    Aho-Corasick pass) are split, so the cost is linear in those texts, whatever the number of
    names (one alternation of 5,000 names took minutes in the Rust regex engine). A text where
    a word may be joined or a token has an underscore at an edge is read again in the other
    :class:`Cut` s, and the matches of the passes merged, as ``_spans`` does.
    """

    def __init__(self, names: privacy.NameRedactor) -> None:
        # the redactor's entries (``names.encode_entry``) parsed as whole columns, a slice at
        # a time: the parse's intermediate columns are a slice's, and only the four parsed
        # columns of every entry are held together, while the sets below are cut from them
        enc = names.encoded
        entries = pl.concat(
            [_parsed(enc[i : i + PARSE_ROWS]) for i in range(0, max(len(enc), 1), PARSE_ROWS)]
        )
        firsts = entries["first"].unique()
        #: folded first tokens: a text that holds none of them (as a substring) holds no name;
        #: this and the name sets below are sorted by polars, for :func:`sorted_sets.member`'s binary search
        self.first_set = firsts.sort()
        #: the prefilter's patterns: the distinct first 4 characters (see :func:`prefixes`) of
        #: each name's anchor (:func:`anchor`)
        # a first token of PREFIX_CHARS or more is every entry's anchor: only the entries
        # behind a short first token are looked at one by one
        short = entries.filter(pl.col("first").str.len_chars() < PREFIX_CHARS)["window"]
        self.first_prefixes = prefixes(
            sorted(
                set(firsts.filter(firsts.str.len_chars() >= PREFIX_CHARS).to_list())
                | {anchor(w.split(ENTRY_JOIN)[0::2]) for w in short.to_list()}
            )
        )
        folded = entries.filter(~pl.col("cased"))
        cased = entries.filter(pl.col("cased") & (pl.col("width") > 1))
        #: names of several tokens matched in the case written (a person's citation forms,
        #: ``name_forms.person_forms``): their windows of tokens as written, per width
        self.folded = _per_width(folded)
        self.cased = _per_width(cased)
        self.widths = sorted(set(self.folded) | set(self.cased), reverse=True)
        self.exact = entries.filter(pl.col("cased") & (pl.col("width") == 1))["window"].sort()

    def _matches(
        self, texts: pl.Series, cut: Cut = AS_WRITTEN
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Pieces of ``texts`` (row, i, piece) and every name match (row, i, k, w) in them,
        the texts cut into pieces by ``cut``."""
        pieces = (
            pl.DataFrame({"t": texts})
            .with_row_index("row")
            .select("row", pl.col("t").str.extract_all(cut.split).alias("p"))
            .explode("p")
            .with_row_index("i")
        )

        # rows are contiguous and in order: a shift that crosses into another row is nulled
        # (cheaper than a window over each row)
        def ahead(col: str, j: int) -> pl.Expr:
            same = pl.col("row").shift(-j) == pl.col("row")
            return pl.when(same).then(pl.col(col).shift(-j))

        toks = pieces.with_columns(
            pl.col("p").str.contains(cut.token).fill_null(False).alias("is_tok"),
            ahead("p", 1).alias("sep"),
        ).filter("is_tok")
        words = toks["p"] if cut.drop is None else toks["p"].str.replace_all(cut.drop, "")
        toks = toks.with_columns(
            _skeleton_series(words).alias("skel"), pl.int_range(pl.len()).alias("k")
        ).with_columns(pl.col("skel").str.to_lowercase().alias("fold"))
        # the tokens (and separators) after each token, before the rows are narrowed
        top = max(self.widths, default=1)
        toks = toks.with_columns(
            *(ahead("sep", j - 1).alias(f"_sep{j}") for j in range(1, top)),
            *(ahead("fold", j).alias(f"_fold{j}") for j in range(1, top)),
            *(ahead("skel", j).alias(f"_skel{j}") for j in range(1, top) if self.cased),
        )
        # only a token that is a name's first token (or a case-sensitive name) starts a match
        n = toks.height
        toks = toks.filter(
            member(pl.col("fold"), self.first_set, n) | member(pl.col("skel"), self.exact, n)
        )
        n = toks.height
        width = pl.when(member(pl.col("skel"), self.exact, n)).then(1).otherwise(0)
        for w in sorted(self.widths):  # ascending: a longer match overrides a shorter one
            seps = [
                pl.col(f"_sep{j}")
                # as ``names._separator``: no "_" is between tokens as written, and between
                # tokens without their edge underscores it is emphasis
                .str.replace_all(f"[{re.escape(EMPHASIS)}_]+", "")
                .str.replace_all(f"[{APOSTROPHES}]", "'")
                .str.replace_all(f"[{DASHES}]", "-")
                .str.replace_all(r"\s+", " ")
                for j in range(1, w)
            ]
            hit = pl.lit(False)
            # null past the end of the text
            for col, names_w in (("fold", self.folded.get(w)), ("skel", self.cased.get(w))):
                if names_w is not None:
                    parts = [pl.col(col)]
                    for j in range(1, w):
                        parts += [seps[j - 1], pl.col(f"_{col}{j}")]
                    hit = hit | member(pl.concat_str(parts, separator=ENTRY_JOIN), names_w, n)
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
        has = folded.str.contains_any(self.first_prefixes).fill_null(False)
        # a word joined across a joiner ("Mari-\nsol", "z`oë", "x\\_y") holds the name's
        # letters, not its text: the prefilter cannot tell, so such texts are all read
        joined = texts.str.contains(JOINS).fill_null(False)
        idx = (has | joined).arg_true()
        if op == "contains":
            out = pl.Series(texts.name, [False] * texts.len(), dtype=pl.Boolean)
        else:
            out = texts.clone()
        if idx.len() == 0:
            return out
        sub = texts.gather(idx)
        passes = [(sub, None, *self._matches(sub))]
        # as ``NameRedactor._spans``: a text where a word may be joined or an underscore is at
        # a token's edge (``names.JOINED_WORD``) is also read without the edge underscores, and
        # one where a word is joined, joined (a few texts in a thousand; Usenet's "_emphasis_",
        # 12 % of its sample)
        joins = joined.gather(idx)
        edged = joins | sub.str.contains(EDGE_UNDERSCORE).fill_null(False)
        for test, cut in ((edged, WITHOUT_EDGE_UNDERSCORES), (joins, JOINED)):
            at = test.arg_true()
            if at.len():
                these = sub.gather(at)
                passes.append((these, at, *self._matches(these, cut)))
        if op == "contains":
            rows = pl.concat(
                [f["row"] if at is None else at.gather(f["row"]) for _, at, _, f in passes]
            )
            hit = pl.int_range(sub.len(), eager=True).is_in(rows.implode())
            return out.scatter(idx, hit)
        spans = pl.concat(
            [
                s if at is None else s.with_columns(row=at.gather(s["row"]).cast(s["row"].dtype))
                for these, at, pieces, found in passes
                for s in [_spans(these, pieces, self._greedy(found))]
            ]
        )
        if spans.height == 0:
            return out
        return out.scatter(idx, _cut(sub, _merged(spans) if len(passes) > 1 else spans))

    def redact(self, texts: pl.Series) -> pl.Series:
        """Every known name of the safe ``texts`` replaced by ``[user]``."""
        return self._apply(texts, "redact")

    def contains(self, texts: pl.Series) -> pl.Series:
        """True for the safe ``texts`` holding a known name (``NameRedactor.mentions``)."""
        return self._apply(texts, "contains")


def anchor(words: tuple[str, ...] | list[str]) -> str:
    """The word of a name (folded) a prefilter looks for: its first, or its longest if the
    first is shorter than ``PREFIX_CHARS``.

    A text holding a name holds each of its words: the initial of "M. Quenby"
    (``name_forms.person_forms``) as a pattern passed every text holding an "m".
    """
    first = words[0].casefold()
    if len(first) >= PREFIX_CHARS:
        return first
    return max((w.casefold() for w in words), key=len)


#: Entries of a redactor parsed at a time (:func:`_parsed`).
PARSE_ROWS = 1 << 19


def _parsed(encoded: list[str]) -> pl.DataFrame:
    """``first, cased, window, width`` of each encoded entry (``names.encode_entry``): the
    folded first token, whether the window is compared in the case written, the tokens and
    separators, and how many tokens."""
    parts = pl.Series("e", encoded, dtype=pl.String).str.splitn(FIRST_END, 2).struct.unnest()
    rest = parts["field_1"]  # "f" or "c", then the window
    window = rest.str.slice(1)
    return pl.DataFrame(
        {
            "first": parts["field_0"],
            "cased": rest.str.head(1) == "c",
            "window": window,
            "width": window.str.count_matches(ENTRY_JOIN, literal=True) // 2 + 1,
        }
    )


def _per_width(entries: pl.DataFrame) -> dict[int, pl.Series]:
    """The windows of ``entries`` per width, each sorted (none for a width without any)."""
    return {
        int(w): part["window"].sort()
        for (w,), part in entries.select("width", "window").group_by("width")
    }


def _skeleton_series(values: pl.Series) -> pl.Series:
    """Look-alikes mapped to Latin letters (``privacy.CONFUSABLES``); ASCII values, which no
    entry of the map touches, are left as they are."""
    return only(values, r"[^\x00-\x7F]", lambda s: s.str.replace_many(confusable_map()))


def _spans(texts: pl.Series, pieces: pl.DataFrame, chosen: pl.DataFrame) -> pl.DataFrame:
    """(row, a, b): the characters ``a`` to ``b`` of text ``row`` that each chosen match
    (pieces ``i`` to ``i + 2w - 2``) covers.

    The pieces tile each text, tokens and separators alternating, so a match's character
    offsets are sums of piece lengths.
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
    return pl.DataFrame(
        {"row": row, "a": starts[i] - base, "b": ends[last] - base},
        schema={"row": pl.Int64, "a": pl.Int64, "b": pl.Int64},
    )


def _merged(spans: pl.DataFrame) -> pl.DataFrame:
    """Each text's spans in order, those that overlap merged into one (as ``_spans`` merges
    the matches of its passes: a span that begins before the end of those before it joins
    them; one that begins where they end does not)."""
    spans = spans.sort("row", "a", "b")
    reach = pl.col("b").cum_max().shift(1).over("row")
    return (
        spans.with_columns(
            part=(reach.is_null() | (pl.col("a") >= reach)).cast(pl.Int64).cum_sum().over("row")
        )
        .group_by("row", "part", maintain_order=True)
        .agg(pl.col("a").min(), pl.col("b").max())
        .select("row", "a", "b")
    )


def _cut(texts: pl.Series, spans: pl.DataFrame) -> pl.Series:
    """``texts`` with each span (row, a, b; none overlapping) replaced by ``[user]``: each text
    cut by slices, its spans from the last to the first (a cut leaves the offsets before it as
    they were), one round per span of the text that has most."""
    edits = spans.sort("row", "a", descending=[False, True]).with_columns(
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
def confusable_map() -> dict[str, str]:
    return {chr(k): (chr(v) if isinstance(v, int) else v) for k, v in privacy.CONFUSABLES.items()}


@functools.lru_cache(maxsize=64)
def vector_names(names: privacy.NameRedactor | None) -> VectorNames | None:
    """The vectorised twin of a redactor (cached: built once per redactor)."""
    return VectorNames(names) if names else None
