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
   that author was removed.
4. **Non-participants** — accounts that authored nothing in the dump get no row: every
   reference to them points at one placeholder, ``schema.NONPARTICIPANT_ID``.
5. **Pseudonyms and scrubbing** — every id is replaced by a keyed pseudonym, texts are scrubbed,
   handles and display names are dropped.

Steps 1-5 decide on the posts' *skeleton* (every column but ``text`` and ``labels``, plus the
length of each text): :func:`plan`. The texts, the bulk of a dump, are scrubbed and attached
last by ``analysis.ingest_texts``, all at once (``ingest.engine: memory``, :func:`ingest`) or a
batch at a time (``streaming``); both run the same functions and write the same tables.

The checks of step 1 and the thread roots are in ``analysis.ingest_checks``.

Every row read is accounted for: read = accepted + rejected + removed (privacy) + merged
(non-participant accounts), per table, in :class:`IngestResult.counts`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence, Set
from dataclasses import dataclass, field, replace
from datetime import datetime

import polars as pl

from analysis import ingest_checks as checks
from analysis import privacy, schema
from analysis.config import IngestParams, PrivacyParams
from analysis.sources.base import ROW, TEXT_COLUMNS, SourceTables

log = logging.getLogger(__name__)

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
#: Columns of the interim posts decided on the skeleton: all but the texts.
SKELETON_COLUMNS = tuple(
    c for c in schema.columns("posts", schema.INTERIM) if c not in TEXT_COLUMNS
)


@dataclass
class IngestResult:
    """Interim tables, rejects and the reconciliation of every table.

    From :func:`plan`, ``posts`` is the skeleton: sorted as written, without ``text`` and
    ``labels``, with ``_src`` and ``_row`` naming the raw row each came from.
    """

    accounts: pl.DataFrame
    posts: pl.DataFrame
    reactions: pl.DataFrame
    rejects: pl.DataFrame
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    missing_inputs: dict[str, list[str]] = field(default_factory=dict)
    #: Pseudonyms of every account removed for privacy (minors, opt-outs, no consent, rejected
    #: rows): never written out, only digested, so that caches can be pruned when it changes.
    removed: list[str] = field(default_factory=list)
    #: The name redactor of the run, for the texts (None: names are not redacted).
    names: privacy.NameRedactor | None = None


@dataclass(frozen=True)
class Source:
    """One dump's raw tables plus its pseudonym namespace."""

    namespace: str
    tables: SourceTables


def skeleton(t: SourceTables, batch_rows: int | None = None) -> pl.DataFrame:
    """The posts without their texts: every other column, ``_row`` and the text's length.

    Texts are read ``batch_rows`` at a time (None: all at once) and only measured.
    """
    chars = [
        b.select(ROW, pl.col("text").str.len_chars().alias(TEXT_CHARS))
        for b in t.text_batches(batch_rows)
    ]
    out = t.posts.drop(*TEXT_COLUMNS).with_row_index(ROW)
    if not chars:
        return out.with_columns(pl.lit(None, dtype=pl.UInt32).alias(TEXT_CHARS))
    lengths = pl.concat(chars)
    if lengths.height != out.height:
        raise RuntimeError(f"{t.platform}: {lengths.height} texts for {out.height} posts")
    return out.join(lengths, on=ROW, how="left", maintain_order="left")


def _one_source(
    src: Source,
    key: bytes,
    opt_out: set[str],
    params: IngestParams,
    names: privacy.NameRedactor | None,
    now: datetime,
) -> IngestResult:
    t = src.tables
    ns = src.namespace
    counts = {
        tbl: {
            "read": t.n_read[tbl],
            "rejected": 0,
            "removed_privacy": 0,
            "merged_nonparticipant": 0,
            "accepted": 0,
        }
        for tbl in ("accounts", "posts", "reactions")
    }
    rejects: list[pl.DataFrame] = [t.rejects]

    # -- accounts: duplicates, then the accounts referenced by posts but absent from the list
    accounts, missing = checks._require(t.accounts, "accounts")
    rejects += missing
    missing_accounts = missing
    dup = accounts.filter(~pl.col("account_id").is_first_distinct())
    if dup.height:
        rejects.append(
            checks._reject(dup, "accounts", "duplicate account_id (first occurrence kept)")
        )
    accounts = accounts.filter(pl.col("account_id").is_first_distinct())
    accounts, negative = checks._negative_counts(accounts, "accounts")
    rejects += negative
    # an account row rejected here is like one the adapter rejected: removed with its posts
    missing_accounts = [*missing_accounts, *negative]

    posts, post_rejects = checks._validate_posts(
        skeleton(t, params.batch_rows if params.engine == "streaming" else None),
        now,
        params.max_text_chars,
    )
    rejects += post_rejects

    # -- privacy removals. Flags are read from EVERY account row of the id: accepted, duplicate
    # (the second row of an id may be the one that says "minor") and rejected by the adapter
    # (a malformed created_at does not make a child an adult).
    every_row = pl.concat(
        [
            t.accounts.select("account_id", "handle", "is_minor", "has_consent"),
            t.account_flags.select("account_id", "handle", "is_minor", "has_consent"),
        ]
    ).filter(pl.col("account_id").is_not_null())
    flagged = every_row
    is_opted = privacy.opted_out_expr("account_id", key, opt_out) | privacy.opted_out_expr(
        "handle", key, opt_out
    )
    removed_minor = set(flagged.filter(pl.col("is_minor").fill_null(False))["account_id"].to_list())
    removed_opt = set(flagged.filter(is_opted)["account_id"].to_list())
    # Opt-out entries may also name accounts that are absent from the accounts list.
    post_authors = posts.select(pl.col("account_id").unique())
    extra = post_authors.filter(~pl.col("account_id").is_in(accounts["account_id"].implode()))
    removed_opt |= set(
        extra.filter(privacy.opted_out_expr("account_id", key, opt_out))["account_id"].to_list()
    )
    # has_consent false: the source says the person withdrew (e.g. deleted their account on the
    # platform); honoured like an opt-out. Null means the source does not say: kept.
    removed_consent = set(
        flagged.filter(pl.col("has_consent").eq(False).fill_null(False))["account_id"].to_list()
    )
    # An account whose only row was rejected is not rebuilt from its posts: its age and consent
    # are unknown, so it is removed with everything it wrote (never resurrected as an adult).
    rejected_rows = pl.concat(
        [
            t.rejects.filter(pl.col("table") == "accounts").select(
                pl.col("record_key").alias("account_id")
            ),
            *[r.select(pl.col("record_key").alias("account_id")) for r in missing_accounts],
        ]
    )["account_id"]
    removed_rejected = set(rejected_rows.drop_nulls().to_list()) - set(
        accounts["account_id"].to_list()
    )
    removed = removed_minor | removed_opt | removed_consent | removed_rejected
    if removed_rejected:
        log.info(
            "%s: removing %d account(s) whose account row was rejected (age and consent "
            "unknown) and all they wrote",
            ns,
            len(removed_rejected),
        )
    if removed_consent:
        log.info(
            "%s: removing %d account(s) without consent (deleted on the platform) and all they "
            "wrote",
            ns,
            len(removed_consent),
        )
    if removed_minor:
        log.info("%s: removing %d minor account(s) and all they wrote", ns, len(removed_minor))
    if removed_opt:
        log.info("%s: removing %d opted-out account(s) and all they wrote", ns, len(removed_opt))

    by_removed = pl.col("account_id").is_in(list(removed)).fill_null(False)
    counts["posts"]["removed_privacy"] = posts.filter(by_removed).height
    gone_posts = posts.filter(by_removed).select("post_id", "account_id")
    posts = posts.filter(~by_removed)

    # -- detach replies whose parent was removed (privacy) or is not valid
    # the author of every raw post id (the last row of an id, as a dict of the raw rows would)
    author_of = (
        t.posts.select(pl.col("post_id").alias("parent_post_id"), pl.col("account_id"))
        .filter(pl.col("parent_post_id").is_not_null())
        .unique("parent_post_id", keep="last")
        .rename({"account_id": "_parent_author"})
    )
    posts = posts.join(author_of, on="parent_post_id", how="left", maintain_order="left")
    kept_ids = posts["post_id"]
    posts = posts.with_columns(
        (
            pl.col("parent_post_id").is_not_null()
            & ~pl.col("parent_post_id").is_in(kept_ids.implode())
        ).alias("_orphan")
    )
    orphan = pl.col("_orphan")
    n_detached = int(posts["_orphan"].sum())
    parent_author = pl.col("_parent_author")
    posts = posts.with_columns(
        pl.when(orphan)
        .then(
            pl.when(parent_author.is_in(list(removed)))
            .then(pl.lit(schema.NONPARTICIPANT_ID))
            .otherwise(parent_author)
        )
        .otherwise(pl.col("reply_to_account_id"))
        .alias("reply_to_account_id"),
        pl.when(orphan).then(None).otherwise(pl.col("parent_post_id")).alias("parent_post_id"),
    )
    # reply_to_account_id from the parent's author for every linked reply; roots recomputed.
    posts = posts.with_columns(
        pl.when(pl.col("parent_post_id").is_not_null())
        .then(parent_author)
        .otherwise(pl.col("reply_to_account_id"))
        .alias("reply_to_account_id"),
    ).drop("_parent_author", "_orphan")
    roots = _roots(posts)
    posts = posts.with_columns(
        pl.when(pl.col("parent_post_id").is_not_null())
        .then(roots)
        .otherwise(None)
        .alias("root_post_id")
    )

    # -- participants: accounts that authored at least one kept post
    participants = set(posts["account_id"].unique().to_list())
    known_accounts = set(accounts["account_id"].to_list())
    missing_rows = [a for a in participants if a not in known_accounts]
    if missing_rows:
        platform = t.platform
        accounts = pl.concat(
            [
                accounts,
                schema.conform(
                    pl.DataFrame(
                        {"account_id": missing_rows, "platform": [platform] * len(missing_rows)}
                    ),
                    "accounts",
                ),
            ]
        )
    acc_removed = accounts.filter(pl.col("account_id").is_in(list(removed)))
    counts["accounts"]["removed_privacy"] = acc_removed.filter(
        pl.col("account_id").is_in(list(known_accounts))
    ).height
    is_part = pl.col("account_id").is_in(list(participants))
    counts["accounts"]["merged_nonparticipant"] = accounts.filter(
        ~is_part
        & ~pl.col("account_id").is_in(list(removed))
        & pl.col("account_id").is_in(list(known_accounts))
    ).height
    derived = len(missing_rows)
    accounts = accounts.filter(is_part)

    def account_ref(col: str) -> pl.Expr:
        """A reference to an account: participants keep it, anyone else is the placeholder."""
        return (
            pl.when(pl.col(col).is_null())
            .then(None)
            .when(pl.col(col) == schema.NONPARTICIPANT_ID)
            .then(pl.lit(schema.NONPARTICIPANT_ID))
            .when(pl.col(col).is_in(list(participants)))
            .then(pl.col(col))
            .otherwise(pl.lit(schema.NONPARTICIPANT_ID))
        )

    posts = posts.with_columns(account_ref("reply_to_account_id").alias("reply_to_account_id"))

    # -- reactions: removed posts, removed actors, unknown posts
    reactions, missing = checks._require(t.reactions, "reactions")
    rejects += missing
    dup = reactions.filter(~pl.col("reaction_id").is_first_distinct())
    if dup.height:
        rejects.append(
            checks._reject(dup, "reactions", "duplicate reaction_id (first occurrence kept)")
        )
    reactions = reactions.filter(pl.col("reaction_id").is_first_distinct())
    # a null time is allowed (platforms without timed votes); an impossible one is a reject
    out_of_range = (
        (pl.col("created_at") < schema.MIN_TIME) | (pl.col("created_at") > schema.max_time(now))
    ).fill_null(False)
    bad = reactions.filter(out_of_range)
    if bad.height:
        rejects.append(checks._reject(bad, "reactions", "created_at out of range"))
    reactions = reactions.filter(~out_of_range)
    # fill_null: an anonymous vote (null actor) must not vanish from both sides of a filter.
    privacy_gone = (
        pl.col("post_id").is_in(gone_posts["post_id"].implode())
        | pl.col("actor_account_id").is_in(list(removed))
    ).fill_null(False)
    counts["reactions"]["removed_privacy"] = reactions.filter(privacy_gone).height
    reactions = reactions.filter(~privacy_gone)
    unknown = ~pl.col("post_id").is_in(kept_ids.implode()).fill_null(False)
    bad, reactions = checks._split(reactions, unknown)
    if bad.height:
        rejects.append(checks._reject(bad, "reactions", "post_id not in the dump"))
    reactions, own = checks._self_votes(reactions, posts)
    rejects += own
    reactions = reactions.with_columns(account_ref("actor_account_id").alias("actor_account_id"))

    # -- pseudonyms: one HMAC per distinct raw id of each kind (post ids, parents, roots and
    # reacted posts share one table; authors, addressees, actors and accounts another)
    # The tables are seeded with the ids of the posts and of the accounts (each distinct: the
    # duplicates were rejected above; a join would add rows otherwise, which raises), every
    # reference is looked up by a hash join, and a referenced id not among them (the
    # placeholder) is digested once on the way.
    post_map = privacy.digest_table(posts["post_id"], key, ns, "post", privacy.POST_PREFIX)
    acct_map = privacy.digest_table(
        accounts["account_id"], key, ns, "account", privacy.ACCOUNT_PREFIX
    )
    post_ids = ("post_id", "parent_post_id", "root_post_id")
    to_post = lambda df, cols: privacy.pseudonymise_columns(  # noqa: E731
        df, cols, post_map, key, ns, "post", privacy.POST_PREFIX
    )
    to_acct = lambda df, cols: privacy.pseudonymise_columns(  # noqa: E731
        df, cols, acct_map, key, ns, "account", privacy.ACCOUNT_PREFIX
    )
    placeholder = {
        c: pl.col(c) == schema.NONPARTICIPANT_ID
        for c in ("reply_to_account_id", "actor_account_id")
    }
    # texts are scrubbed later, batch by batch where streaming (analysis.ingest_texts)
    posts = posts.with_columns(placeholder["reply_to_account_id"].alias("_placeholder"))
    posts, post_map = to_post(posts, post_ids)
    posts, acct_map = to_acct(posts, ("account_id", "reply_to_account_id"))
    posts = posts.with_columns(
        pl.when("_placeholder")
        .then(pl.lit(schema.NONPARTICIPANT_ID))
        .otherwise(pl.col("reply_to_account_id"))
        .alias("reply_to_account_id")
    ).select(*SKELETON_COLUMNS, ROW)
    reactions = reactions.with_columns(
        privacy.pseudonymise_expr("reaction_id", key, ns, "reaction", privacy.REACTION_PREFIX),
        placeholder["actor_account_id"].alias("_placeholder"),
    )
    reactions, post_map = to_post(reactions, ("post_id",))
    reactions, acct_map = to_acct(reactions, ("actor_account_id",))
    reactions = reactions.with_columns(
        pl.when("_placeholder")
        .then(pl.lit(schema.NONPARTICIPANT_ID))
        .otherwise(pl.col("actor_account_id"))
        .alias("actor_account_id")
    ).drop("_placeholder")
    accounts, acct_map = to_acct(accounts, ("account_id",))
    accounts = accounts.with_columns(pl.lit(True).alias("is_participant"))
    rej = pl.concat([schema.conform(r, "rejects") for r in rejects])
    # Adapters name the offending record in their reasons ("vote on post 123 ..."): raw ids
    # never leave ingest, so every raw post or account id in a reason becomes "<id>".
    # Then every reason is scrubbed and truncated (privacy.safe_reason): a reason that echoes a
    # value (an e-mail in a Reputation attribute) must not carry it into rejects.parquet or the
    # git-tracked ingest.json. Done per distinct reason: there are few.
    unique = rej["reason"].unique().drop_nulls().to_list()
    scrubbed = {r: privacy.safe_reason(r, names) or "" for r in unique}
    words = pl.Series(
        [w for r in scrubbed.values() for w in privacy.WORD.findall(r)], dtype=pl.String
    )
    ids = t.posts["post_id"].implode(), t.accounts["account_id"].implode()
    raw_ids = set(words.filter(words.is_in(ids[0]) | words.is_in(ids[1])).to_list())
    safe = {
        r: privacy.WORD.sub(
            lambda m: "<id>" if m.group(0) in raw_ids and len(m.group(0)) >= 3 else m.group(0), s
        )
        for r, s in scrubbed.items()
    }
    rej = rej.with_columns(
        pl.col("reason").replace_strict(safe, default=pl.col("reason"), return_dtype=pl.String)
    )
    kinds = {
        "accounts": ("account", privacy.ACCOUNT_PREFIX),
        "posts": ("post", privacy.POST_PREFIX),
        "reactions": ("reaction", privacy.REACTION_PREFIX),
    }
    parts = []
    for tbl, (kind, prefix) in kinds.items():
        part = rej.filter(pl.col("table") == tbl)
        parts.append(
            part.with_columns(
                privacy.pseudonymise_expr("record_key", key, ns, kind, prefix).alias("record_key")
            )
        )
    rej = pl.concat(parts)

    for tbl in ("accounts", "posts", "reactions"):
        counts[tbl]["rejected"] = rej.filter(pl.col("table") == tbl).height
    counts["accounts"]["accepted"] = accounts.height - derived
    counts["accounts"]["derived_from_posts"] = derived
    counts["posts"]["accepted"] = posts.height
    counts["posts"]["detached_replies"] = n_detached
    counts["reactions"]["accepted"] = reactions.height
    counts["accounts"]["removed_minor"] = len(removed_minor & known_accounts)
    counts["accounts"]["removed_opt_out"] = len(removed_opt & known_accounts)
    counts["accounts"]["removed_no_consent"] = len(removed_consent & known_accounts)
    counts["accounts"]["removed_rejected_account"] = len(removed_rejected)
    return IngestResult(
        accounts=schema.conform(accounts, "accounts", schema.INTERIM),
        posts=posts,
        reactions=schema.conform(reactions, "reactions", schema.INTERIM),
        rejects=rej,
        counts=counts,
        missing_inputs={ns: list(t.missing_inputs)},
        removed=sorted(
            privacy.pseudonym(key, ns, "account", r, privacy.ACCOUNT_PREFIX) for r in removed
        ),
    )


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
    opted = privacy.opted_out_expr("account_id", key, set(opt_out)) | privacy.opted_out_expr(
        "handle", key, set(opt_out)
    )
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
    many = [tables] if isinstance(tables, SourceTables) else list(tables)
    names = [n for t in many for n in known_names(t)]
    variants = {v for n in names for v in privacy.name_variants(n)}
    candidates = privacy.ordinary_candidates(variants)
    pairs = [pl.DataFrame(schema={"account_id": pl.String, "w": pl.String})]
    for i, t in enumerate(many):
        if not candidates:
            break
        # as run_posts does: raw ids of two dumps may collide, authors stay distinct per dump
        authors = t.posts.select(
            pl.format("{}\x1f{}", pl.lit(i), pl.col("account_id")).alias("account_id")
        )["account_id"]
        for batch in t.text_batches(batch_rows):
            part = batch.select(authors.gather(batch[ROW]), "text")
            found = privacy.word_authors(part, candidates)
            pairs = [pl.concat([*pairs, found], how="diagonal").unique()]
    protected = {
        v for t in many for n in removed_names(t, opt_out, key) for v in privacy.name_variants(n)
    }
    ordinary = (privacy.common_words(pairs[0]) | set(VOCABULARY)) - protected
    return privacy.NameRedactor(names, ordinary=ordinary)


LINK_COLUMNS = ("namespace_a", "id_a", "namespace_b", "id_b")


def apply_links(result: IngestResult, links: pl.DataFrame, key: bytes) -> IngestResult:
    """Join accounts across dumps, only as an explicit link table says (never by guessing).

    Each row says raw account ``id_b`` of dump ``namespace_b`` is the same person as ``id_a`` of
    ``namespace_a``; every reference to b's pseudonym becomes a's, and b's account row goes
    (a's row is kept, or b's row is renamed when a authored nothing).
    """
    missing = [c for c in LINK_COLUMNS if c not in links.columns]
    if missing:
        raise ValueError(
            f"link table: missing columns {missing}; expected {', '.join(LINK_COLUMNS)}"
        )
    mapping = {
        privacy.pseudonym(key, nb, "account", ib, privacy.ACCOUNT_PREFIX): privacy.pseudonym(
            key, na, "account", ia, privacy.ACCOUNT_PREFIX
        )
        for na, ia, nb, ib in links.select(LINK_COLUMNS).iter_rows()
    }
    remap = lambda c: pl.col(c).replace(mapping)  # noqa: E731
    accounts = result.accounts.with_columns(remap("account_id")).unique(
        "account_id", keep="first", maintain_order=True
    )
    return IngestResult(
        accounts=accounts,
        posts=result.posts.with_columns(remap("account_id"), remap("reply_to_account_id")),
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


def ingest(
    sources: list[Source],
    key: bytes,
    opt_out: set[str],
    params: IngestParams,
    privacy_params: PrivacyParams,
    now: datetime,
) -> IngestResult:
    """Ingest one or several dumps into one set of interim tables; raise if too much is rejected.

    Everything in memory: :func:`plan`, then the texts scrubbed and attached at once.
    """
    from analysis.ingest_texts import posts_in_memory

    result = plan(sources, key, opt_out, params, privacy_params, now)
    posts = posts_in_memory(result.posts, [src.tables for src in sources], result.names)
    schema.validate(posts, "posts", schema.INTERIM, now=now)
    return replace(result, posts=posts)


def plan(
    sources: list[Source],
    key: bytes,
    opt_out: set[str],
    params: IngestParams,
    privacy_params: PrivacyParams,
    now: datetime,
) -> IngestResult:
    """Every decision of ingest, taken on the posts' skeleton; raise if too much is rejected.

    ``posts`` is the skeleton, sorted as the interim table is (by time, then pseudonym), with
    ``_src`` and ``_row`` naming each post's raw row: ``analysis.ingest_texts`` attaches the
    scrubbed texts. Texts are read whole (``ingest.engine: memory``) or ``ingest.batch_rows``
    at a time (``streaming``); the result is the same.
    """
    batch_rows = params.batch_rows if params.engine == "streaming" else None
    results = []
    names = None
    if privacy_params.redact_known_names:
        names = redactor_for([src.tables for src in sources], opt_out, key, batch_rows)
    for src in sources:
        res = _one_source(src, key, opt_out, params, names, now)
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
        results.append(res)
    accounts = pl.concat([placeholder_account(), *[r.accounts for r in results]])
    out = IngestResult(
        accounts=accounts,
        posts=pl.concat(
            [
                r.posts.with_columns(pl.lit(i, dtype=pl.UInt32).alias(SRC))
                for i, r in enumerate(results)
            ]
        ).sort("created_at", "post_id"),
        reactions=pl.concat([r.reactions for r in results]),
        rejects=pl.concat([r.rejects for r in results]),
        names=names,
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
    schema.validate(
        schema.conform(out.posts, "posts", schema.INTERIM), "posts", schema.INTERIM, now=now
    )
    return out
