"""Stage ``ingest``: one dump's decisions, taken on its posts' skeleton (``analysis.ingest``).

:func:`skeleton` stands the posts without their texts (every other column, plus each text's
length). :func:`one_source` takes one dump through the steps the docstring of
``analysis.ingest`` lists: the checks (``analysis.ingest_checks``), the privacy removals, the
detaching of replies whose parent went (their quotes of removed posts are cut later:
``analysis.ingest_quotes``), the non-participants, the reactions' checks and the
pseudonyms (``analysis.ingest_pseudonyms``), counting every row. ``analysis.ingest.plan`` runs
it on every dump of a run and assembles the interim tables.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from analysis import ingest_checks as checks
from analysis import (
    ingest_pseudonyms,
    ingest_quotes,
    privacy,
    privacy_minors,
    privacy_opt_out,
    schema,
)
from analysis.config import IngestParams
from analysis.sources.base import CARRIED_COLUMNS, ROW, SourceTables

log = logging.getLogger(__name__)

#: Columns of the interim posts decided on the skeleton: all but the carried ones (texts,
#: labels, measures: ``CARRIED_COLUMNS``, attached with the texts by ``analysis.ingest_texts``).
SKELETON_COLUMNS = tuple(
    c for c in schema.columns("posts", schema.INTERIM) if c not in CARRIED_COLUMNS
)
#: What the skeleton's pass over the carried columns reads: the texts (their lengths, an age
#: stated) and the counts that must not be negative.
_SKELETON_READS = ("text", *checks.NON_NEGATIVE["posts"])
#: Skeleton column: the post's text states its author is under 18 (``privacy_minors``).
DECLARES_MINOR = "_declares_minor"


@dataclass
class IngestResult:
    """Interim tables, rejects and the reconciliation of every table.

    From :func:`plan`, ``posts`` is the skeleton: sorted as written, without the carried
    columns (texts, labels, measures: ``sources.base.CARRIED_COLUMNS``), with ``_src`` and
    ``_row`` naming the raw row each came from, and its post, parent, root, author and
    addressee pseudonyms as numbers (``ingest_pseudonyms.NUMBERS``: UInt64, the text given
    back by ``ingest_texts.assemble``).
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
    #: Raw rows (``_row``) of the posts removed for privacy, and of the kept posts below one
    #: (``ingest_quotes.below_removed``): per dump, for the quotes' cut. Never written out.
    removed_rows: pl.Series = field(default_factory=lambda: pl.Series(ROW, [], pl.UInt32))
    below_removed: pl.Series = field(default_factory=lambda: pl.Series(ROW, [], pl.UInt32))
    #: Kept texts that held words of posts removed for privacy, those words cut (``_src``,
    #: ``_row``, ``text``: raw, before scrubbing; ``ingest_quotes.edits``). Never written out:
    #: ``analysis.ingest_texts`` puts them in place of the raw texts.
    text_edits: pl.DataFrame | None = None


@dataclass(frozen=True)
class Source:
    """One dump's raw tables plus its pseudonym namespace."""

    namespace: str
    tables: SourceTables


def skeleton(t: SourceTables, batch_rows: int | None = None) -> pl.DataFrame:
    """The posts without their carried columns (texts, labels, measures: ``CARRIED_COLUMNS``):
    every other column, ``_row``, the text's length, whether it states an age under 18 and the
    first negative count (``ingest_checks.FIRST_NEGATIVE``).

    The carried columns are read ``batch_rows`` at a time (None: all at once) and only measured.
    """
    chars = [
        b.select(
            ROW,
            pl.col("text").str.len_chars().alias(checks.TEXT_CHARS),
            checks.first_negative("posts", b.columns),
        ).with_columns(privacy_minors.declares_minor(b["text"]).alias(DECLARES_MINOR))
        for b in t.text_batches(batch_rows, _SKELETON_READS)
    ]
    out = t.posts.drop(*CARRIED_COLUMNS).with_row_index(ROW)
    if not chars:
        return out.with_columns(
            pl.lit(None, dtype=pl.UInt32).alias(checks.TEXT_CHARS),
            checks.first_negative("posts", ()),
            pl.lit(False).alias(DECLARES_MINOR),
        )
    lengths = pl.concat(chars)
    if lengths.height != out.height:
        raise RuntimeError(f"{t.platform}: {lengths.height} texts for {out.height} posts")
    rows = lengths[ROW]
    if (
        out.height
        and rows.is_sorted()
        and rows[0] == 0
        and rows[-1] == out.height - 1
        and rows.n_unique() == out.height
    ):
        # the batches came in row order (every source's): the lengths are a column beside the
        # posts, not a join (which copied every column; ingest's peak is set later, unchanged)
        return out.with_columns(
            lengths[checks.TEXT_CHARS], lengths[checks.FIRST_NEGATIVE], lengths[DECLARES_MINOR]
        )
    return out.join(lengths, on=ROW, how="left", maintain_order="left")


def one_source(
    src: Source,
    key: bytes,
    opt_out: set[str],
    params: IngestParams,
    names: Callable[[], privacy.NameRedactor | None],
    now: datetime,
    linked: frozenset[str] = frozenset(),
) -> IngestResult:
    """One dump through steps 1-5 of ingest, on its posts' skeleton, every row counted.

    ``posts`` of the result is the skeleton (no texts) with ``_row`` naming each post's raw row;
    ``analysis.ingest.plan`` checks the counts reconcile and assembles the run. ``names`` gives
    the run's name redactor (None: names are not redacted) when the rejects' reasons are
    scrubbed, the last step: ``plan`` builds it on another thread meanwhile. ``linked``: raw
    ids removed because the link table makes them the same person as an id removed in another
    dump (``analysis.ingest.linked_removals``).
    """
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

    skel = skeleton(t, params.batch_rows if params.engine == "streaming" else None)
    # an author who says, in a text of their own (not a repost's), that they are under 18; read
    # before validation: a rejected post's words are the person's too
    declared_minor = set(
        skel.filter(pl.col(DECLARES_MINOR) & (pl.col("kind") != "repost").fill_null(True))[
            "account_id"
        ]
        .drop_nulls()
        .to_list()
    )
    posts, post_rejects = checks._validate_posts(
        skel.drop(DECLARES_MINOR), now, params.max_text_chars
    )
    del skel
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
    is_opted = privacy_opt_out.opted_out_expr(
        "account_id", key, opt_out
    ) | privacy_opt_out.opted_out_expr("handle", key, opt_out)
    removed_minor = set(flagged.filter(pl.col("is_minor").fill_null(False))["account_id"].to_list())
    if declared_minor - removed_minor:
        log.info(
            "%s: %d account(s) state an age under 18 in their own words (privacy_minors)",
            ns,
            len(declared_minor - removed_minor),
        )
    removed_minor |= declared_minor
    removed_opt = set(flagged.filter(is_opted)["account_id"].to_list())
    # Opt-out entries may also name accounts that are absent from the accounts list.
    post_authors = posts.select(pl.col("account_id").unique())
    extra = post_authors.filter(~pl.col("account_id").is_in(accounts["account_id"].implode()))
    removed_opt |= set(
        extra.filter(privacy_opt_out.opted_out_expr("account_id", key, opt_out))[
            "account_id"
        ].to_list()
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
    # the same person as an account removed in another dump (link table): removed here too
    removed_linked = set(linked)
    removed = removed_minor | removed_opt | removed_consent | removed_rejected | removed_linked
    if removed_linked:
        log.info(
            "%s: removing %d account(s) linked to an account removed in another dump and all "
            "they wrote",
            ns,
            len(removed_linked),
        )
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

    # the raw rows of every post of a removed account (rejected ones too: their words are the
    # person's) and of every post below one: their quotes are cut from the kept texts later
    # (nobody removed: nothing to walk; 0.47 s of a 1M-post dump's ingest)
    no_rows = pl.Series(ROW, [], pl.UInt32)
    removed_rows, below_rows = (
        ingest_quotes.below_removed(
            t.posts.select("post_id", "parent_post_id", "account_id"), removed
        )
        if removed
        else (no_rows, no_rows)
    )
    by_removed = pl.col("account_id").is_in(list(removed)).fill_null(False)
    counts["posts"]["removed_privacy"] = posts.filter(by_removed).height
    gone_posts = posts.filter(by_removed).select("post_id", "account_id")
    posts = posts.filter(~by_removed)

    # -- detach replies whose parent was removed (privacy) or is not valid
    # the author of every raw post id: the validated row's where the id passed the checks (a
    # duplicate id keeps its first row there: the later rows' authors did not write the post
    # that was kept), else the id's first raw row (a rejected parent still names its addressee)
    valid = pl.concat([posts.select("post_id", "account_id"), gone_posts])
    raw_first = (
        t.posts.select("post_id", "account_id")
        .filter(pl.col("post_id").is_not_null())
        .unique("post_id", keep="first", maintain_order=True)
        .join(valid, on="post_id", how="anti")
    )
    author_of = pl.concat([valid, raw_first]).rename(
        {"post_id": "parent_post_id", "account_id": "_parent_author"}
    )
    posts = posts.join(author_of, on="parent_post_id", how="left", maintain_order="left")
    del valid, raw_first, author_of  # they hold the unjoined skeleton's ids: let go here
    kept_ids = posts["post_id"]
    posts = posts.with_columns(
        (
            pl.col("parent_post_id").is_not_null()
            & ~pl.col("parent_post_id").is_in(kept_ids.implode())
        ).alias("_orphan")
    )
    orphan = pl.col("_orphan")
    # and replies dated before their parent, detached by the checks
    n_detached = int(posts["_orphan"].sum()) + int(posts[checks.DETACHED_EARLY].sum())
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
    # reply_to_account_id from the parent's author for every linked reply.
    posts = posts.with_columns(
        pl.when(pl.col("parent_post_id").is_not_null())
        .then(parent_author)
        .otherwise(pl.col("reply_to_account_id"))
        .alias("reply_to_account_id"),
    ).drop("_parent_author", "_orphan", checks.DETACHED_EARLY)
    # the thread's top by the kept links, or the adapter's root where the parent link is gone
    posts = posts.with_columns(checks.thread_roots(posts))

    # -- participants: accounts that authored at least one kept post
    authors = posts["account_id"].unique(maintain_order=True)
    participants = set(authors.to_list())
    known_accounts = set(accounts["account_id"].to_list())
    # in the order of their first kept post, not of a set: a set of strings iterates in the
    # order of the process's hash seed, and the accounts table must not depend on it
    missing_rows = [a for a in authors.to_list() if a not in known_accounts]
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
    # looked up among the kept ids the reactions name (a semi join of the kept ids to the
    # reactions' distinct ones), not in a set of every kept id: built whatever the reactions,
    # that set of 10M ids took 8 s and +0.4 GiB for none (session 62); the same answers
    named = (
        kept_ids.to_frame().join(
            reactions.select(pl.col("post_id").drop_nulls().unique()), on="post_id", how="semi"
        )["post_id"]
        if reactions.height
        else kept_ids.clear()
    )
    unknown = ~pl.col("post_id").is_in(named.implode()).fill_null(False)
    bad, reactions = checks._split(reactions, unknown)
    del kept_ids, gone_posts, named
    if bad.height:
        rejects.append(checks._reject(bad, "reactions", "post_id not in the dump"))
    reactions, own = checks._self_votes(reactions, posts)
    rejects += own
    reactions = reactions.with_columns(account_ref("actor_account_id").alias("actor_account_id"))

    # -- pseudonyms (texts are scrubbed later, batch by batch where streaming: ingest_texts)
    posts, reactions, accounts = ingest_pseudonyms.pseudonymise(posts, reactions, accounts, key, ns)
    posts = posts.select(*SKELETON_COLUMNS, ROW)
    accounts = accounts.with_columns(pl.lit(True).alias("is_participant"))
    rej = ingest_pseudonyms.safe_rejects(rejects, t, key, ns, names())

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
    counts["accounts"]["removed_linked"] = len(removed_linked & known_accounts)
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
        removed_rows=removed_rows,
        below_removed=below_rows,
    )
