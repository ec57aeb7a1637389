"""Stage ``ingest`` (quotes): the words of people removed for privacy, cut from the kept texts.

A post removed for privacy (its author a minor, opted out or erased, without consent, known
only from a rejected account row, or linked to one of those) goes with its text, but replies
quote their parents: Usenet and mail bodies keep ``> ...`` lines, Reddit and Hacker News quote
with ``>``, Mastodon and forum HTML with ``<blockquote>``. Detaching such a reply kept the
removed person's words in it. So, for every post ingest keeps:

1. **Quote lines below a removed post.** Where the parent or any ancestor was removed for
   privacy, every quote line (``>``, ``|`` or ``&gt;`` first, after optional blanks) and every
   ``<blockquote>`` block is dropped (:func:`drop_quotes`): a quote there may be the removed
   post, whatever its wording. Quotes in other replies stay (they quote people who stay).
2. **Runs of a removed post's words, anywhere.** A run of ``ingest.removed_quote_words``
   consecutive words (``\\w+``, compared lower-cased) holding a letter, that occurs in a removed
   post's text, is the removed person's unless a kept post written *strictly before* the first
   removed post holding it (its ``created_at``) holds it too: then it was someone else's words
   first, a stock phrase or the removed person quoting someone who stays, and it stays
   everywhere. A run of theirs is replaced by :data:`MARK` in every kept text holding it, in
   every dump (:class:`RemovedWords`). This is the same notion of a quote as the publication
   check's (``publish.MIN_QUOTE_WORDS``, 8 words) and catches quotes without markup, pasted or
   re-quoted further down a thread. Before that exception the rule cut shared phrases from the
   texts of people who stay: 365 of the small demo's 2,081 kept posts lost a template phrase
   ("fixed it for me, together with a better"). A removed post whose time is missing or out of
   range counts as the earliest post (its runs are theirs); a kept post at the same time as the
   first removed post does not spare a run (ties never depend on row order or pseudonyms).

Nothing here is per kept row in Python: a text is looked at only when it holds one of the
removed runs' longest words (one Aho-Corasick pass, ``str.contains_any``), and those are
matched by word-hash joins (:meth:`RemovedWords.hits`). Removed posts are few, and are read in
Python. The kept texts are read twice, a batch at a time: once to find which of them hold a
removed run and which runs a kept post wrote earlier than the removed posts
(:meth:`RemovedWords.find`), once to cut the other runs from the texts found
(:meth:`RemovedWords.cut`); between the passes only row numbers and runs are held.

``analysis.ingest.plan`` calls :func:`edits`: it reads the removed posts' texts and times, then
every kept text a batch at a time (twice), and keeps the texts that change (raw, before
scrubbing: a handful) with their count per dump (``posts.removed_text_cut``).
``analysis.ingest_texts`` puts them in place of the raw texts before scrubbing, in both
engines.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl

from analysis import schema
from analysis.sources.base import ROW, SourceTables

log = logging.getLogger(__name__)

#: What a cut run of a removed person's words becomes.
MARK = "[quote removed]"
#: Which source (its index in the run) a row comes from (``analysis.ingest.SRC``).
SRC = "_src"
#: A quote line: ``>``, ``|`` or an HTML-escaped ``>`` first, after optional blanks.
QUOTE_LINE = r"(?m)^[ \t]*(?:>|\||&gt;)[^\n]*(?:\n|$)"
#: An innermost ``<blockquote>`` block (no other ``<bl...`` inside): removed until none is left.
BLOCKQUOTE = r"(?is)<blockquote\b[^>]*>(?:[^<]|<[^b]|<b[^l])*?</blockquote\s*>"
#: A ``<blockquote>`` never closed: the rest of the text is the quote.
OPEN_BLOCKQUOTE = r"(?is)<blockquote\b.*"
#: Nesting levels of ``<blockquote>`` undone (deeper ones are cut to the end of the text).
MAX_NESTING = 16
#: Pointer-jumping rounds of :func:`below_removed`: 2**14 levels, above MAX_THREAD_DEPTH.
ANCESTOR_ROUNDS = 14
#: Candidate texts tokenised at once (bounds the exploded tokens in memory).
CUT_BATCH_TEXTS = 50_000
_WORD = r"\w+"
_TOKEN = r"\w+|\W+"
_SEED = 20_240_611


def drop_quotes(texts: pl.Series) -> pl.Series:
    """``texts`` without their quote lines and ``<blockquote>`` blocks (rule 1)."""
    out = texts.str.replace_all(QUOTE_LINE, "")
    for _ in range(MAX_NESTING):
        nxt = out.str.replace_all(BLOCKQUOTE, "")
        if nxt.equals(out):
            break
        out = nxt
    return out.str.replace(OPEN_BLOCKQUOTE, "")


def below_removed(posts: pl.DataFrame, removed: set[str]) -> tuple[pl.Series, pl.Series]:
    """Raw rows (``_row``) of the posts removed for privacy, and of every post below one.

    ``posts``: the dump's raw posts (``post_id``, ``parent_post_id``, ``account_id``, one row
    each, in raw order, so a row number is its ``_row``); ``removed``: the raw ids of the
    accounts removed for privacy. A parent id names the first raw row of that id (as ingest's
    parents' authors do). Ancestors are followed by pointer jumping (log2(depth) numpy
    gathers); cycles end it like a root.
    """
    n = posts.height
    last = (
        posts.select(pl.col("post_id").alias("parent_post_id"))
        .with_row_index("_up")
        .filter(pl.col("parent_post_id").is_not_null())
        .unique("parent_post_id", keep="first")
    )
    up = (
        posts.select("parent_post_id")
        .join(last, on="parent_post_id", how="left", maintain_order="left")["_up"]
        .cast(pl.Int64)
        .fill_null(-1)
        .to_numpy()
        .copy()
    )
    bad = posts["account_id"].is_in(list(removed)).fill_null(False).to_numpy()
    below = np.zeros(n, dtype=bool)
    has_up = up >= 0
    below[has_up] = bad[up[has_up]]
    for _ in range(ANCESTOR_ROUNDS):
        has_up = up >= 0
        if not has_up.any():
            break
        # below: a removed post within 2**k levels up; up: the ancestor 2**k levels up
        nxt_below = below.copy()
        nxt_below[has_up] |= below[up[has_up]]
        nxt_up = np.full(n, -1, dtype=up.dtype)
        nxt_up[has_up] = up[up[has_up]]
        below, up = nxt_below, nxt_up
    rows = pl.Series(ROW, np.arange(n, dtype=np.uint32))
    return rows.filter(pl.Series(bad)), rows.filter(pl.Series(below) & ~pl.Series(bad))


def _run_key(n: int) -> pl.Expr:
    """Per word of a frame of ``i`` (text) and ``w`` (lower-cased word, in order): a 64-bit key
    of the run of ``n`` words starting there (null where the run would leave its text)."""
    h = pl.col("w").hash(_SEED)
    mix = [(2 * k + 1) * 0x9E3779B97F4A7C15 % 2**64 for k in range(n)]
    mixed = [h.shift(-k) * pl.lit(m, pl.UInt64) for k, m in enumerate(mix)]
    return pl.when(pl.col("i").shift(-(n - 1)) == pl.col("i")).then(pl.sum_horizontal(mixed))


def _run_text(n: int) -> pl.Expr:
    """The run of ``n`` words starting at each word, as one string (where it fits its text)."""
    return pl.when(pl.col("i").shift(-(n - 1)) == pl.col("i")).then(
        pl.concat_str([pl.col("w").shift(-k) for k in range(n)], separator=" ")
    )


def _words(texts: pl.Series) -> pl.DataFrame:
    """Every token (word or not) of ``texts``: ``i`` (text), ``tok``, ``w`` (lower-cased word,
    null between words); the tokens of a text, joined, are the text."""
    return (
        pl.DataFrame({"tok": texts.fill_null("").str.extract_all(_TOKEN)})
        .with_row_index("i")
        .explode("tok")
        .drop_nulls("tok")
        .with_columns(
            w=pl.when(pl.col("tok").str.contains(f"^{_WORD}"))
            .then(pl.col("tok").str.to_lowercase())
            .otherwise(None)
        )
    )


@dataclass(frozen=True)
class RemovedWords:
    """The runs of ``n`` words of the removed posts' texts (rule 2), to cut from kept texts."""

    n: int
    #: One row a run: ``run`` (its words, lower-cased, joined by blanks: the exact check),
    #: ``key`` (its hash: a first filter) and ``first_at``, when it first occurs in a removed
    #: post (null: a removed post of unknown time holds it, which is before every kept post).
    runs: pl.DataFrame
    #: The runs' distinct keys.
    keys: pl.Series
    #: The longest word of each run: a text holding a run holds it (the Aho-Corasick filter).
    needles: list[str]

    @classmethod
    def of(cls, texts: pl.Series, n: int, created_at: pl.Series | None = None) -> RemovedWords:
        """The runs of ``n`` words holding a letter of the removed posts' ``texts``, written at
        ``created_at`` (None, or a null time: unknown, before every kept post)."""
        at = pl.Series("_at", [None] * texts.len(), schema.UTC_TIME)
        if created_at is not None:
            at = created_at.cast(schema.UTC_TIME).alias("_at")
        words = (
            _words(texts)
            .drop_nulls("w")
            .join(at.to_frame().with_row_index("i"), on="i", how="left", maintain_order="left")
            .select("i", "w", "_at")
        )
        letter = pl.col("w").str.contains(r"\p{L}").cast(pl.UInt32)
        runs = (
            words.with_columns(
                key=_run_key(n),
                run=_run_text(n),
                letters=pl.sum_horizontal(letter.shift(-k) for k in range(n)),
            )
            .filter(pl.col("run").is_not_null() & (pl.col("letters") > 0))
            .group_by("run")
            .agg(
                pl.col("key").first(),
                # a removed post of unknown time comes first: the run is theirs
                first_at=pl.when(pl.col("_at").is_null().any())
                .then(None)
                .otherwise(pl.col("_at").min()),
            )
            .sort("run")
        )
        return cls._of_runs(n, runs)

    @classmethod
    def _of_runs(cls, n: int, runs: pl.DataFrame) -> RemovedWords:
        # the removed posts are few: their runs are read in Python
        needles = {max(run.split(" "), key=len) for run in runs["run"].to_list()}
        runs = runs.select("run", "key", pl.col("first_at").cast(schema.UTC_TIME))
        return cls(n=n, runs=runs, keys=runs["key"].unique(), needles=sorted(needles))

    def __bool__(self) -> bool:
        return bool(self.needles)

    def without(self, runs: pl.Series) -> RemovedWords:
        """These runs less ``runs`` (another's words first: :meth:`find`)."""
        if runs.len() == 0:
            return self
        return self._of_runs(self.n, self.runs.filter(~pl.col("run").is_in(runs.implode())))

    def candidates(self, texts: pl.Series) -> pl.Series:
        """Positions of the ``texts`` that hold a needle, so may hold a run."""
        if not self or texts.len() == 0:
            return pl.Series("idx", [], pl.UInt32)
        return texts.str.to_lowercase().str.contains_any(self.needles).fill_null(False).arg_true()

    def hits(self, texts: pl.Series) -> pl.DataFrame:
        """Every run of these words in ``texts``: ``i`` (the text), ``k`` (the ordinal of the
        run's first word in it) and ``run``. Word-hash keys first, then each candidate's run
        built and looked up exactly: a collision of keys costs one look-up, never a wrong hit."""
        n = self.n
        words = (
            pl.DataFrame({"w": texts.fill_null("").str.extract_all(_WORD)})
            .with_row_index("i")
            .explode("w")
            .drop_nulls("w")
            .with_columns(pl.col("w").str.to_lowercase(), k=pl.int_range(pl.len()).over("i"))
        )
        at = (
            words.with_columns(key=_run_key(n))
            .with_row_index("j")
            .filter(pl.col("key").is_in(self.keys.implode()))
        )
        if at.height == 0:
            return at.select("i", "k", run=pl.lit(None, pl.String))
        w = words["w"]
        run = pl.concat_str([pl.lit(w.gather(at["j"] + k)) for k in range(n)], separator=" ")
        return (
            at.with_columns(run.alias("run"))
            .filter(pl.col("run").is_in(self.runs["run"].implode()))
            .select("i", "k", "run")
        )

    def find(self, texts: pl.Series, created_at: pl.Series) -> tuple[pl.Series, pl.Series]:
        """Which ``texts`` (written at ``created_at``) hold a run of these words, and which runs
        one of them holds strictly before the first removed post holding the run (another's
        words first, so not the removed person's: :meth:`without`).

        Returns the positions of the texts holding a run, and those runs (sorted)."""
        none = pl.Series("run", [], pl.String)
        idx = self.candidates(texts)
        found, spared = [pl.Series("i", [], pl.UInt32)], [none]
        for start in range(0, idx.len(), CUT_BATCH_TEXTS):
            part = idx.slice(start, CUT_BATCH_TEXTS)
            hits = self.hits(texts.gather(part))
            found.append(part.gather(hits["i"].unique().sort()))
            early = (
                hits.with_columns(created_at=created_at.gather(part).gather(hits["i"]))
                .join(self.runs, on="run")
                .filter(pl.col("created_at") < pl.col("first_at"))
            )
            spared.append(early["run"])
        return pl.concat(found), pl.concat(spared).unique().sort()

    def cut(self, texts: pl.Series) -> pl.Series:
        """``texts`` with every run of the removed words replaced by :data:`MARK`."""
        idx = self.candidates(texts)
        if idx.len() == 0:
            return texts
        out = texts.clone()
        for start in range(0, idx.len(), CUT_BATCH_TEXTS):
            part = idx.slice(start, CUT_BATCH_TEXTS)
            out.scatter(part, self._cut(texts.gather(part)))
        return out

    def _cut(self, texts: pl.Series) -> pl.Series:
        """:meth:`cut` of texts that hold a needle: only the texts with a run are split into
        tokens and rebuilt."""
        hits = self.hits(texts)
        if hits.height == 0:
            return texts
        which = hits["i"].unique().sort()
        out = texts.clone()
        out.scatter(which, self._rebuild(texts.gather(which), hits, which))
        return out

    def _rebuild(self, texts: pl.Series, hits: pl.DataFrame, which: pl.Series) -> pl.Series:
        """``texts`` (those of ``which``) with the runs of ``hits`` (``i``: text in ``which``,
        ``k``: the run's first word) replaced by :data:`MARK`. The tokens (words and what
        lies between them, ``\\w+|\\W+``) of a text, joined, are the text."""
        n = self.n
        toks = _words(texts).with_row_index("t")
        ordinal = toks.drop_nulls("w").select("i", "t", k=pl.int_range(pl.len()).over("i"))
        runs = (
            hits.join(
                pl.DataFrame({"i": which, "_i": pl.int_range(which.len(), eager=True)}),
                on="i",
            )
            .select(pl.col("_i").cast(pl.UInt32).alias("i"), "k", last=pl.col("k") + (n - 1))
            .join(ordinal.rename({"t": "from"}), on=["i", "k"])
            .join(ordinal.rename({"t": "to", "k": "last"}), on=["i", "last"])
        )
        cut = (
            runs.select(t=pl.int_ranges("from", pl.col("to") + 1, dtype=pl.UInt32))
            .explode("t")
            .unique()
            .with_columns(cut=pl.lit(True))
        )
        marked = toks.join(cut, on="t", how="left", maintain_order="left").with_columns(
            pl.col("cut").fill_null(False)
        )
        # consecutive cut tokens (overlapping runs, the blanks between) become one mark
        first = pl.col("cut") & ~pl.col("cut").shift(1).over("i").fill_null(False)
        return (
            marked.with_columns(
                tok=pl.when(first)
                .then(pl.lit(MARK))
                .when(pl.col("cut"))
                .then(pl.lit(""))
                .otherwise(pl.col("tok"))
            )
            .group_by("i", maintain_order=True)
            .agg(pl.col("tok").str.join(""))["tok"]
            .alias(texts.name)
        )


def edits(
    tables: Sequence[SourceTables],
    kept: Sequence[pl.Series],
    gone: Sequence[pl.Series],
    below: Sequence[pl.Series],
    n_words: int,
    batch_rows: int | None,
    now: datetime | None = None,
) -> tuple[pl.DataFrame, list[int]]:
    """The kept texts that hold words of posts removed for privacy, with those words cut.

    Per dump ``i`` of ``tables``: ``kept`` the raw rows of its kept posts, ``gone`` those of its
    posts removed for privacy, ``below`` those with a removed post above them (rule 1). Texts
    are read ``batch_rows`` at a time (None: at once), twice: first for the runs of removed
    words that kept posts wrote earlier (spared), then to cut. A removed post's ``created_at``
    that is missing or outside ``schema``'s range at ``now`` (as ingest rejects it) is unknown:
    before every kept post. Returns the changed texts (``_src``, ``_row``, ``text``: raw,
    before scrubbing) and, per dump, how many kept posts changed.
    """
    latest = schema.max_time(now)
    removed = [
        batch.join(gone[i].to_frame(), on=ROW, how="semi")
        .join(_times(t), on=ROW, how="left")
        .select(
            "text",
            created_at=pl.when(pl.col("created_at").is_between(schema.MIN_TIME, latest)).then(
                "created_at"
            ),
        )
        for i, t in enumerate(tables)
        if gone[i].len()
        for batch in t.text_batches(batch_rows)
    ]
    removed_posts = (
        pl.concat(removed)
        if removed
        else pl.DataFrame(schema={"text": pl.String, "created_at": schema.UTC_TIME})
    )
    words = RemovedWords.of(removed_posts["text"], n_words, removed_posts["created_at"])
    n_runs = words.runs.height

    def kept_texts(i: int, t: SourceTables) -> Iterator[pl.DataFrame]:
        """``_row``, ``text`` (rule 1 applied) and ``created_at`` of dump ``i``'s kept posts."""
        rows = (
            kept[i]
            .to_frame()
            .join(_times(t), on=ROW, how="left", maintain_order="left")
            .with_columns(pl.col(ROW).is_in(below[i].implode()).alias("_below"))
        )
        for batch in t.text_batches(batch_rows):
            mine = batch.select(ROW, "text").join(rows, on=ROW, how="inner", maintain_order="left")
            text = mine["text"]
            under = mine["_below"]
            if under.any():
                quoted = under.arg_true()
                text = text.clone()
                text.scatter(quoted, drop_quotes(text.gather(quoted)))
            yield mine.select(ROW, "created_at", "text", _raw="text").with_columns(text=text)

    # pass 1: which kept texts hold a removed run (per dump), and which runs a kept post wrote
    # before every removed post holding it (not theirs)
    holders = [pl.Series(ROW, [], pl.UInt32) for _ in tables]
    if words:
        spared = [pl.Series("run", [], pl.String)]
        for i, t in enumerate(tables):
            held = [holders[i]]
            for part in kept_texts(i, t):
                at, early = words.find(part["text"], part["created_at"])
                held.append(part[ROW].gather(at))
                spared.append(early)
            holders[i] = pl.concat(held)
        words = words.without(pl.concat(spared).unique())
    # pass 2: rule 1 where a removed post is above, rule 2 in the texts holding a run of theirs
    parts = [pl.DataFrame(schema={SRC: pl.UInt32, ROW: pl.UInt32, "text": pl.String})]
    counts = []
    for i, t in enumerate(tables):
        if (not words or holders[i].len() == 0) and below[i].len() == 0:
            counts.append(0)
            continue
        n_changed = 0
        for part in kept_texts(i, t):
            text = part["text"]
            todo = part[ROW].is_in(holders[i].implode()).arg_true() if words else None
            if todo is not None and todo.len():
                text = text.clone()
                text.scatter(todo, words.cut(text.gather(todo)))
            changed = part.select(ROW, "_raw", text=text).filter(
                pl.col("text").ne_missing(pl.col("_raw"))
            )
            n_changed += changed.height
            parts.append(changed.select(pl.lit(i, dtype=pl.UInt32).alias(SRC), ROW, "text"))
        counts.append(n_changed)
    if n_runs:
        log.info(
            "runs of %d words of posts removed for privacy: %d, of which %d written earlier by "
            "kept posts (spared)",
            n_words,
            n_runs,
            n_runs - words.runs.height,
        )
    if any(counts):
        log.info("cut quotes of posts removed for privacy from %d kept post(s)", sum(counts))
    return pl.concat(parts), counts


def _times(t: SourceTables) -> pl.DataFrame:
    """``_row`` and ``created_at`` of every raw post of ``t``."""
    return t.posts.select(pl.col("created_at").cast(schema.UTC_TIME)).with_row_index(ROW)
