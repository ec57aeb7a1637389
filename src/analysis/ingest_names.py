"""Stage ``ingest``: the name redactor of a run, and the account rows it is built from.

Every handle and display name of every dump (rejected account rows included) is redacted from
every text of the run (``privacy.NameRedactor``), also joined or re-separated
(``analysis.name_forms``), except names and forms that are ordinary words of the run (written by
several authors) or words the software itself writes (:data:`VOCABULARY`); names
of the accounts ingest removes (minors, no consent, opted out, rejected) are redacted even then.
``analysis.ingest.plan`` builds it once per run (:func:`redactor_for`); the audit and the
``forget`` stage read the same account rows (:func:`account_rows`) and words (:func:`run_posts`).
"""

from __future__ import annotations

from collections.abc import Sequence, Set

import polars as pl

from analysis import name_forms, privacy, privacy_opt_out, schema
from analysis.names import without_cyclic_gc
from analysis.sources.base import ROW, SourceTables

#: Words of the canonical schema itself: a user called "answer" must not make column values suspect.
#: Words the software itself writes (table, kind and platform names; the literals its logs and
#: JSON print): a handle or display name equal to one identifies nobody in an output.
VOCABULARY = (
    *schema.POST_KINDS,
    *schema.REACTION_KINDS,
    *schema.PLATFORMS,
    *schema.TABLES,
    "None",
    "True",
    "False",
    "null",
    "true",
    "false",
    "NaN",
)


def account_rows(tables: SourceTables) -> pl.DataFrame:
    """Every account row of a dump, accepted or rejected: ids, names and privacy flags."""
    cols = ["account_id", "handle", "display_name", "is_minor", "has_consent"]
    return pl.concat([tables.accounts.select(cols), tables.account_flags.select(cols)])


def known_names(tables: SourceTables) -> list[str]:
    """Every handle and display name of a dump, of rejected account rows too."""
    rows = account_rows(tables)
    return rows["handle"].drop_nulls().to_list() + rows["display_name"].drop_nulls().to_list()


def removed_names(
    tables: SourceTables, opt_out: Set[str] = frozenset(), key: bytes = b""
) -> list[str]:
    """Handles and display names of accounts ingest removes: minors, no consent (deleted on the
    platform), opted out, or known only from a rejected row. They are redacted even where they
    are ordinary words of the run: a child's name is never left in a text as a plain word."""
    rows = account_rows(tables)
    rejected = tables.rejects.filter(pl.col("table") == "accounts")["record_key"].drop_nulls()
    opted = privacy_opt_out.opted_out_expr(
        "account_id", key, set(opt_out)
    ) | privacy_opt_out.opted_out_expr("handle", key, set(opt_out))
    gone = rows.filter(
        pl.col("is_minor").fill_null(False)
        | pl.col("has_consent").eq(False).fill_null(False)
        | pl.col("account_id").is_in(rejected.implode())
        | opted
    )
    return gone["handle"].drop_nulls().to_list() + gone["display_name"].drop_nulls().to_list()


def run_posts(posts: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """``account_id`` and ``text`` of every dump of a run, ids made distinct per dump.

    Raw ids of two dumps may collide ("1" on two sites); counting distinct authors of a word
    across the run must not merge them.
    """
    return pl.concat(
        [
            p.select(
                pl.format("{}\x1f{}", pl.lit(i), pl.col("account_id")).alias("account_id"),
                pl.col("text"),
            )
            for i, p in enumerate(posts)
        ]
    )


def redactor_for(
    tables: SourceTables | Sequence[SourceTables],
    opt_out: Set[str] = frozenset(),
    key: bytes = b"",
    batch_rows: int | None = None,
) -> privacy.NameRedactor:
    """The name redactor of a run: every dump's names, redacted in every dump's texts.

    A name of one dump that turns up in another dump's text is redacted too (the same person
    may well be mentioned there). Ordinary words are counted over the whole run;
    ``audit.Identifiers`` leaves out exactly the same ones, except names of removed accounts
    (:func:`removed_names`), which are always redacted. Texts are read ``batch_rows`` at a time
    (None: all at once); the words are counted the same either way.
    """
    # every name's variants and forms are Python objects in no reference cycle: the cyclic
    # collector's passes over them were a third of the build (names.without_cyclic_gc); paused
    # for the whole build, the words' counting over the texts included (the process's other
    # threads, ingest's checks, run without it meanwhile too)
    with without_cyclic_gc():
        return _redactor_for(tables, opt_out, key, batch_rows)


def _redactor_for(
    tables: SourceTables | Sequence[SourceTables],
    opt_out: Set[str],
    key: bytes,
    batch_rows: int | None,
) -> privacy.NameRedactor:
    many = [tables] if isinstance(tables, SourceTables) else list(tables)
    names = [n for t in many for n in known_names(t)]
    variants = {v for n in names for v in privacy.name_variants(n)}
    # both made ready once for every batch: the candidates' prefixes and sorted set, the names
    # joined and re-separated ("icecream", "ice cream" of "Ice Cream" or "ice_cream")
    candidates = privacy.Candidates(privacy.ordinary_candidates(variants))
    keys = name_forms.FormKeys(sorted(name_forms.form_keys(variants)))
    pairs = _Pairs()
    for i, t in enumerate(many):
        if not candidates and not keys:
            break
        # as run_posts does: raw ids of two dumps may collide, authors stay distinct per dump
        authors = t.posts.select(
            pl.format("{}\x1f{}", pl.lit(i), pl.col("account_id")).alias("account_id")
        )["account_id"]
        for batch in t.text_batches(batch_rows):
            part = batch.select(authors.gather(batch[ROW]), "text")
            pairs.add(privacy.word_authors(part, candidates))
            pairs.add(name_forms.form_authors(part, keys))
    protected = {
        v for t in many for n in removed_names(t, opt_out, key) for v in privacy.name_variants(n)
    }
    protected |= name_forms.form_keys(protected)
    ordinary = (privacy.common_words(pairs.distinct()) | set(VOCABULARY)) - protected
    return privacy.NameRedactor(names, ordinary=ordinary)


#: Rows added before :class:`_Pairs` first makes them distinct (a batch's pairs are a few
#: thousand: a hundred batches or so gathered first).
COMPACT_MIN_ROWS = 100_000


class _Pairs:
    """The distinct (``account_id``, ``w``) pairs of every batch of texts, gathered.

    Made distinct together only when the rows added since outgrow those kept: the whole set
    made distinct again after every batch cost more each batch as it grew (the build grew with
    the square of the dump), and kept whole, the batches' repeats (the same author writing the
    same word in many batches) would grow with the dump. Each compaction handles more new rows
    than kept ones, so its cost is paid for by the rows added since the last (linear in all),
    and what is held is at most about twice the distinct pairs plus the last batch's."""

    def __init__(self) -> None:
        self._kept = pl.DataFrame(schema={"account_id": pl.String, "w": pl.String})
        self._new: list[pl.DataFrame] = []
        self._new_rows = 0

    def add(self, part: pl.DataFrame) -> None:
        if part.height == 0:
            return
        self._new.append(part.select("account_id", "w"))
        self._new_rows += part.height
        if self._new_rows > max(self._kept.height, COMPACT_MIN_ROWS):
            self.distinct()

    def distinct(self) -> pl.DataFrame:
        """Every pair added so far, once each."""
        if self._new:
            self._kept = pl.concat([self._kept, *self._new]).unique()
            self._new, self._new_rows = [], 0
        return self._kept
