"""Stage ``ingest`` (pure part): raw canonical tables in, anonymised interim tables out.

What happens to every dump, in order (the README's privacy section explains why):

1. **Validation** — duplicate ids, timestamps out of range and dangling parent links become
   rejects with reason, file and line (adapters add their own rejects before this).
2. **Privacy removals** — accounts flagged ``is_minor``, accounts on the opt-out list and
   accounts whose ``has_consent`` is false (the source says they withdrew, e.g. deleted their
   account on the platform) are removed with everything they wrote and every reaction they made.
   A flag on *any* row of an id counts (duplicates and rows the adapter rejected included), and
   an account whose only row was rejected is removed too (its age and consent are unknown).
3. **Detaching** — a reply whose parent was rejected or removed keeps its text but loses the
   link; it stays addressed to the parent's author, or to the non-participant placeholder when
   that author was removed. What kept texts quote of posts removed for privacy is cut: quote
   lines and blocks below a removed post, and any run of ``ingest.removed_quote_words`` words
   of a removed post in any kept text, unless a kept post wrote it before the removed post did
   (``analysis.ingest_quotes``; ``posts.removed_text_cut`` counts the posts cut).
4. **Non-participants** — accounts that authored nothing in the dump get no row: every
   reference to them points at one placeholder, ``schema.NONPARTICIPANT_ID``.
5. **Pseudonyms and scrubbing** — every id is replaced by a keyed pseudonym, texts are scrubbed,
   handles and display names are dropped.

Steps 1-5 decide on the posts' *skeleton* (every column but ``text`` and ``labels``, plus the
length of each text): :func:`plan`. The texts, the bulk of a dump, are scrubbed and attached
last by ``analysis.ingest_texts``, all at once (``ingest.engine: memory``, :func:`ingest`) or a
batch at a time (``streaming``); both run the same functions and write the same tables.

Where each part lives: the checks of step 1 and the thread roots in ``analysis.ingest_checks``;
one dump's steps 1-5 (:class:`Source` in, :class:`IngestResult` out) in ``analysis.ingest_dump``;
the pseudonyms of step 5 in ``analysis.ingest_pseudonyms``; the run's name redactor (names of
every dump, redacted in every text) in ``analysis.ingest_names``. This module runs them on every
dump of a run and assembles the interim tables (:func:`plan`, :func:`ingest`), joins accounts
across dumps as a link table says (:func:`apply_links`) and checks the counts reconcile.

A link table joins accounts across dumps after those steps, but it is read before them: an
identity it links is removed from *every* dump when any of its ids is removed in one (a minor
flag in one dump, an opt-out of one id), counted as ``removed_linked``
(:func:`linked_removals`).

Every row read is accounted for: read = accepted + rejected + removed (privacy) + merged
(non-participant accounts), per table, in :class:`IngestResult.counts`.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime

import polars as pl

from analysis import ingest_checks as checks
from analysis import ingest_pseudonyms, ingest_quotes, privacy, schema
from analysis.config import IngestParams, PrivacyParams
from analysis.ingest_dump import IngestResult, Source, one_source
from analysis.ingest_names import redactor_for
from analysis.sources.base import ROW

#: Reject reasons that mark a record outside the scope of the canonical tables (a like of a post
#: the export does not contain, a vote on a deleted post, a moderation vote, an item whose author
#: deleted their account, a private message) rather than a malformed record. They are
#: kept and reconciled like every reject, but they do not count towards ``max_reject_share``:
#: a single-user archive legitimately references thousands of posts it does not hold.
OUT_OF_SCOPE_MARKERS = (
    "not in the dump",
    "not in Posts.xml",
    "not a reaction",
    "author deleted",
    "not ingested",
)


#: The length of a post's text in characters: the skeleton's stand-in for the text.
TEXT_CHARS = checks.TEXT_CHARS
#: Kept here, where callers have always found them (the checks live in ``ingest_checks``).
UNKNOWN_SOURCE = checks.UNKNOWN_SOURCE
MAX_THREAD_DEPTH = checks.MAX_THREAD_DEPTH
_roots = checks._roots
_roots_python = checks._roots_python
#: Which source (its index in the run) a skeleton row comes from.
SRC = "_src"


def reconcile(counts: dict[str, dict[str, int]]) -> list[str]:
    """Problems with read = accepted + rejected + removed + merged (empty list when all hold)."""
    problems = []
    for tbl, c in counts.items():
        total = c["accepted"] + c["rejected"] + c["removed_privacy"] + c["merged_nonparticipant"]
        if c["read"] != total:
            problems.append(
                f"{tbl}: read {c['read']} != accepted {c['accepted']} + rejected "
                f"{c['rejected']} + removed {c['removed_privacy']} + merged "
                f"{c['merged_nonparticipant']}"
            )
    return problems


LINK_COLUMNS = ("namespace_a", "id_a", "namespace_b", "id_b")


def _link_rows(links: pl.DataFrame) -> list[tuple[str, str, str, str]]:
    missing = [c for c in LINK_COLUMNS if c not in links.columns]
    if missing:
        raise ValueError(
            f"link table: missing columns {missing}; expected {', '.join(LINK_COLUMNS)}"
        )
    return [
        row for row in links.select(LINK_COLUMNS).iter_rows() if all(v is not None for v in row)
    ]


def linked_identities(links: pl.DataFrame) -> dict[tuple[str, str], frozenset[tuple[str, str]]]:
    """Each (namespace, raw account id) the link table names -> every id of that person.

    Links chain (a = b and b = c make one person of a, b and c): the identities are the
    connected components of the table's rows, one Python step per link (a link table is
    written by hand, one row per person, never the size of a dump).
    """
    parent: dict[tuple[str, str], tuple[str, str]] = {}

    def find(x: tuple[str, str]) -> tuple[str, str]:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for na, ia, nb, ib in _link_rows(links):
        ra, rb = find((na, ia)), find((nb, ib))
        if ra != rb:
            parent[rb] = ra
    groups: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for x in parent:
        groups.setdefault(find(x), set()).add(x)
    return {x: frozenset(g) for g in groups.values() for x in g}


def linked_removals(
    results: Sequence[tuple[str, IngestResult]], links: pl.DataFrame, key: bytes
) -> dict[str, set[str]]:
    """Raw ids to remove per namespace because a linked id of the same person was removed.

    ``results``: (namespace, result) of each dump. A removal (minor, opt-out or erasure, no
    consent, rejected account row) is about the person, not the row: when any id of a linked
    identity is among a dump's removed accounts, every id of that identity goes, in every dump.
    Returns only the ids not removed yet.
    """
    removed: dict[str, set[str]] = {}
    for ns, r in results:
        removed.setdefault(ns, set()).update(r.removed)

    def is_removed(ns: str, raw: str) -> bool:
        pseudo = privacy.pseudonym(key, ns, "account", raw, privacy.ACCOUNT_PREFIX)
        return pseudo in removed.get(ns, ())

    out: dict[str, set[str]] = {}
    for group in set(linked_identities(links).values()):
        if any(is_removed(ns, raw) for ns, raw in group):
            for ns, raw in group:
                if ns in removed and not is_removed(ns, raw):
                    out.setdefault(ns, set()).add(raw)
    return out


def apply_links(result: IngestResult, links: pl.DataFrame, key: bytes) -> IngestResult:
    """Join accounts across dumps, only as an explicit link table says (never by guessing).

    Each row says raw account ``id_b`` of dump ``namespace_b`` is the same person as ``id_a`` of
    ``namespace_a``; every reference to b's pseudonym becomes a's, and b's account row goes
    (a's row is kept, or b's row is renamed when a authored nothing). Removals are not decided
    here: :func:`plan` was given the same table and removed every linked id of a removed person.
    """
    mapping = {
        privacy.pseudonym(key, nb, "account", ib, privacy.ACCOUNT_PREFIX): privacy.pseudonym(
            key, na, "account", ia, privacy.ACCOUNT_PREFIX
        )
        for na, ia, nb, ib in _link_rows(links)
    }
    remap = lambda c: pl.col(c).replace(mapping)  # noqa: E731
    accounts = result.accounts.with_columns(remap("account_id")).unique(
        "account_id", keep="first", maintain_order=True
    )
    # the plan's posts hold their accounts as numbers (ingest_pseudonyms.ACCOUNT_NUMBERS)
    as_number = lambda p: int(p[len(privacy.ACCOUNT_PREFIX) :], 16)  # noqa: E731
    numbers = {as_number(b): as_number(a) for b, a in mapping.items()}
    remap_posts = lambda c: (  # noqa: E731
        pl.col(c).replace(numbers) if result.posts.schema[c] == pl.UInt64 else remap(c)
    )
    return IngestResult(
        accounts=accounts,
        posts=result.posts.with_columns(
            remap_posts("account_id"), remap_posts("reply_to_account_id")
        ),
        reactions=result.reactions.with_columns(remap("actor_account_id")),
        rejects=result.rejects,
        counts={
            **result.counts,
            "links": {
                "n_links": len(mapping),
                "n_linked_accounts": result.accounts.height - accounts.height,
            },
        },
        missing_inputs=result.missing_inputs,
        # the removed accounts' digest prunes the embedding cache: a link table keeps it
        removed=result.removed,
        names=result.names,
        text_edits=result.text_edits,
    )


def placeholder_account() -> pl.DataFrame:
    """The single row that stands for every non-participant (not a participant, never scored)."""
    return schema.conform(
        pl.DataFrame(
            {
                "account_id": [schema.NONPARTICIPANT_ID],
                "platform": ["(any)"],
                "is_participant": [False],
            }
        ),
        "accounts",
        schema.INTERIM,
    )


def posts_read(sources: Sequence[Source]) -> int:
    """The posts read from every dump of a run (what ``ingest.engine: auto`` is decided on)."""
    return sum(src.tables.n_read.get("posts", 0) for src in sources)


def ingest(
    sources: list[Source],
    key: bytes,
    opt_out: set[str],
    params: IngestParams,
    privacy_params: PrivacyParams,
    now: datetime,
    links: pl.DataFrame | None = None,
) -> IngestResult:
    """Ingest one or several dumps into one set of interim tables; raise if too much is rejected.

    The texts scrubbed and attached at once, after :func:`plan` (which reads them a batch at a
    time where ``engine: auto`` or ``streaming`` says so: the same result). ``links``:
    the link table, whose identities are removed whole (:func:`plan`); :func:`apply_links`
    joins them afterwards.
    """
    from analysis.ingest_texts import posts_in_memory

    result = plan(sources, key, opt_out, params, privacy_params, now, links)
    posts = posts_in_memory(
        result.posts, [src.tables for src in sources], result.names, result.text_edits
    )
    schema.validate(posts, "posts", schema.INTERIM, now=now)
    return replace(result, posts=posts)


def plan(
    sources: list[Source],
    key: bytes,
    opt_out: set[str],
    params: IngestParams,
    privacy_params: PrivacyParams,
    now: datetime,
    links: pl.DataFrame | None = None,
) -> IngestResult:
    """Every decision of ingest, taken on the posts' skeleton; raise if too much is rejected.

    ``posts`` is the skeleton, sorted as the interim table is (by time, then pseudonym), with
    ``_src`` and ``_row`` naming each post's raw row, without the texts and measures, and its
    post and account pseudonyms as numbers (``ingest_pseudonyms.NUMBERS``):
    ``analysis.ingest_texts`` attaches the scrubbed texts and the measures and gives the
    pseudonyms their text. Texts are read whole (``ingest.engine: memory``) or
    ``ingest.batch_rows`` at a time (``streaming``); the result is the same. ``links`` (the
    link table, None: none): a dump holding an id of a person removed in another dump is taken
    through its steps again with that id removed (:func:`linked_removals`); the ids are joined
    later (:func:`apply_links`).
    ``ingest.engine: auto`` is resolved here for the posts read (``IngestParams.for_posts``).
    """
    params = params.for_posts(posts_read(sources))
    batch_rows = params.batch_rows if params.engine == "streaming" else None
    pool = ThreadPoolExecutor(1, thread_name_prefix="resonance-redactor")
    try:
        # the name redactor (Python, per name) is built on a thread while the skeleton's checks
        # (polars, which releases the GIL) run; one_source asks for it at its last step
        pending = (
            pool.submit(redactor_for, [src.tables for src in sources], opt_out, key, batch_rows)
            if privacy_params.redact_known_names
            else None
        )
        results = _check_sources(sources, key, opt_out, params, now, pending, links)
        # every dump's removed posts known: their words are cut from every kept text
        text_edits, n_cut = ingest_quotes.edits(
            [src.tables for src in sources],
            [r.posts[ROW] for r in results],
            [r.removed_rows for r in results],
            [r.below_removed for r in results],
            params.removed_quote_words,
            batch_rows,
            now,
        )
        for r, n in zip(results, n_cut, strict=True):
            r.counts["posts"]["removed_text_cut"] = n
        names = pending.result() if pending is not None else None
    finally:
        # a failed check raises at once, not after the redactor is built (seconds per 100k
        # accounts): the thread is left to finish on its own
        pool.shutdown(wait=False, cancel_futures=True)
    accounts = pl.concat([placeholder_account(), *[r.accounts for r in results]])
    skeleton = pl.concat(
        [r.posts.with_columns(pl.lit(i, dtype=pl.UInt32).alias(SRC)) for i, r in enumerate(results)]
    )
    for r in results:  # the skeleton's columns live in `skeleton` alone: _sort_taking frees them
        r.posts = r.posts.clear()
    out = IngestResult(
        accounts=accounts,
        posts=_sort_taking(skeleton, ("created_at", "post_id")),
        reactions=pl.concat([r.reactions for r in results]),
        rejects=pl.concat([r.rejects for r in results]),
        names=names,
        text_edits=text_edits,
    )
    for r, src in zip(results, sources, strict=True):
        out.counts[src.namespace] = r.counts
        out.missing_inputs.update(r.missing_inputs)
        out.removed += r.removed
    for tbl, layer in (
        ("accounts", schema.INTERIM),
        ("reactions", schema.INTERIM),
        ("rejects", schema.RAW),
    ):
        schema.validate(getattr(out, tbl), tbl, layer, now=now)
    # the skeleton as the posts table it stands for (texts null): ids, kinds, times checked
    numbers = ingest_pseudonyms.NUMBERS
    schema.validate(
        schema.conform(out.posts, "posts", schema.INTERIM, numbers),
        "posts",
        schema.INTERIM,
        now=now,
        dtypes=numbers,
    )
    return out


def _sort_taking(frame: pl.DataFrame, by: tuple[str, ...]) -> pl.DataFrame:
    """The rows of ``frame.sort(*by)``, in its order, taking ``frame``: it is left with no
    columns. Each column is gathered in the sorted order and let go before the next (where
    nothing else holds it), so the peak is the frame, the order's row numbers and one column,
    not two frames: at 10M posts the skeleton's sort held +1.73 GiB live, this +0.35 GiB, for
    +1.2 s (session 58). The same rows as the sort's, ties included (a review's 3,000 random
    frames; in ``plan`` a tie is a post id twice, which the checks reject)."""
    order = frame.select(pl.arg_sort_by(*by)).to_series()
    return pl.DataFrame([frame.drop_in_place(c).gather(order) for c in list(frame.columns)])


def _check_sources(
    sources: list[Source],
    key: bytes,
    opt_out: set[str],
    params: IngestParams,
    now: datetime,
    names: Future[privacy.NameRedactor] | None,
    links: pl.DataFrame | None = None,
) -> list[IngestResult]:
    """Each dump through :func:`one_source`; raise when counts do not reconcile or too many
    rows are malformed. ``names``: the name redactor being built (None: names not redacted).
    ``links``: a dump holding an id of a person removed in another dump runs again without it
    (once: the identities are closed, so a second round finds nothing new)."""
    results = [_check_source(src, key, opt_out, params, now, names) for src in sources]
    if links is not None:
        extra = linked_removals(
            [(src.namespace, r) for src, r in zip(sources, results, strict=True)], links, key
        )
        for i, src in enumerate(sources):
            if src.namespace in extra:
                results[i] = _check_source(
                    src, key, opt_out, params, now, names, frozenset(extra[src.namespace])
                )
    return results


def _check_source(
    src: Source,
    key: bytes,
    opt_out: set[str],
    params: IngestParams,
    now: datetime,
    names: Future[privacy.NameRedactor] | None,
    linked: frozenset[str] = frozenset(),
) -> IngestResult:
    """One dump through :func:`one_source`, its counts reconciled and its rejects bounded."""
    res = one_source(
        src,
        key,
        opt_out,
        params,
        (names.result if names is not None else lambda: None),
        now,
        linked,
    )
    problems = reconcile(res.counts)
    if problems:
        raise RuntimeError(f"{src.namespace}: counts do not reconcile: {'; '.join(problems)}")
    malformed = res.rejects.filter(
        ~pl.any_horizontal(
            pl.col("reason").str.contains(m, literal=True) for m in OUT_OF_SCOPE_MARKERS
        )
    )
    for tbl, c in res.counts.items():
        n_bad = malformed.filter(pl.col("table") == tbl).height
        share = n_bad / c["read"] if c["read"] else 0.0
        if share > params.max_reject_share:
            reasons = (
                malformed.filter(pl.col("table") == tbl)
                .group_by("reason")
                .len()
                .sort("len", descending=True)
                .head(3)
                .rows()
            )
            raise RuntimeError(
                f"{src.namespace}: {share:.0%} of {tbl} rows rejected as malformed, above "
                f"ingest.max_reject_share={params.max_reject_share:.0%}; top reasons: {reasons}"
            )
    return res
