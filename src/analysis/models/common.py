"""Helpers shared by the influence models: time weighting, reply edges, reactions, output frame.

Every model sees activity strictly before ``as_of``. Each action gets a weight ``w``:
``0.5 ** (age_days / half_life_days)`` (exponential decay), or, when a hard window is asked for
(``window_days``, or Klout's own 90 days), 1 inside the window and nothing outside it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Literal, cast

import numpy as np
import polars as pl

from analysis import schema, semantics
from analysis.models.base import SCORE_COLUMNS, Tables
from analysis.models.params import ModelParams

#: Reaction kinds that count as a positive response to a post (views and downvotes do not).
POSITIVE_REACTIONS = ("upvote", "like", "favourite", "boost", "accept", "bounty")
#: Post kinds that are responses to someone else even when the parent is missing.
REPLY_KINDS = ("answer", "comment", "reply", "quote")
#: Extra, non-component columns every model writes after its components.
META_COLUMNS: dict[str, pl.DataType] = {
    "as_of": schema.UTC_TIME,
    "window_start_at": schema.UTC_TIME,  # null when decay-weighted
    "half_life_days": pl.Float64(),  # null when hard-windowed
    "missing_inputs": pl.String(),  # comma-separated inputs the platform lacks ("" when none)
}
_US_PER_DAY = 86_400 * 1_000_000


def resolve_as_of(params: ModelParams, posts: pl.DataFrame) -> datetime:
    """The scoring date: ``params.as_of``, else the last post time plus one second."""
    if params.as_of is not None:
        as_of = params.as_of
        return as_of if as_of.tzinfo else as_of.replace(tzinfo=schema.MIN_TIME.tzinfo)
    last = posts.select(pl.col("created_at").max()).item()
    if last is None:
        raise ValueError("posts: no post has a created_at; cannot choose as_of (set models.as_of)")
    return last + timedelta(seconds=1)


def weight_expr(
    col: str, as_of: datetime, half_life_days: float | None, window_days: float | None
) -> pl.Expr:
    """Weight of an action at ``col``: decay, or 1 inside a hard window (0 before it)."""
    if window_days is not None:
        start = as_of - timedelta(days=window_days)
        return pl.when(pl.col(col) >= start).then(1.0).otherwise(0.0)
    age_days = (pl.lit(as_of) - pl.col(col)).dt.total_microseconds() / _US_PER_DAY
    return pl.lit(0.5).pow(age_days / half_life_days)


def timing(params: ModelParams) -> tuple[float | None, float | None]:
    """(half_life_days, window_days) in force: a hard window switches decay off."""
    if params.window_days is not None:
        return None, params.window_days
    return params.half_life_days, None


def scoped_posts(
    posts: pl.DataFrame, as_of: datetime, half_life_days: float | None, window_days: float | None
) -> pl.DataFrame:
    """Posts strictly before ``as_of`` (and inside the window), with their weight ``w``.

    ``reply_to_account_id`` is filled from the parent's author where ingest left it null (a
    counterfactual table built by hand), and self-replies are marked so models can skip them.

    Each model scopes for itself. The counterfactual tests once shared one scoping (and the
    edges) between the nine models of a batch; once the scoping no longer joined whole frames
    (session 17) that saved a fifth of the re-scoring on the 2.6k-post demo, nothing at 1M, and
    held every variant through the batch: compare at 1M 415 -> 381 s and 2.5 -> 2.1 GiB without
    it, one 10M batch's models 8.1 -> 4.4 GiB, the same outputs (``docs/scaling-log.md``).
    """
    before = posts.filter(pl.col("created_at") < as_of)
    # annotated once for the whole table (:func:`annotate`), or here
    annotated = before if is_annotated(posts) else _annotate(before, posts)
    own = [c for c in posts.columns if c not in ANNOTATION]
    out = annotated.with_columns(w=weight_expr("created_at", as_of, half_life_days, window_days))
    if window_days is not None:
        out = out.filter(pl.col("w") > 0)
    # the posts' own columns, then w, then the annotation (the order models have always had)
    return out.select(*own, "w", *ANNOTATION)


#: The columns :func:`_annotate` adds, in its order (it also fills ``reply_to_account_id``).
ANNOTATION = ("channel", "credits_responder", "is_reply", "is_self_reply")


#: The posts' columns :func:`scoped_posts` and :func:`reply_edges` read (with the annotation,
#: :data:`ANNOTATION`, where it ran).
EDGE_COLUMNS = (
    "post_id",
    "platform",
    "account_id",
    "kind",
    "parent_post_id",
    "root_post_id",
    "reply_to_account_id",
    "created_at",
)


def edge_posts(posts: pl.DataFrame) -> pl.DataFrame:
    """``posts`` cut to :data:`EDGE_COLUMNS` and the annotation where it ran, for a model that
    reads no other column of its scoped posts: the cut copies nothing, and the scoping then
    copies these alone. At a date before the last post the scoping copies every column of the
    earlier posts (the export totals and the texts' digest are half the table's bytes:
    validate's rolling origins at 10M posts)."""
    return posts.select([c for c in posts.columns if c in EDGE_COLUMNS or c in ANNOTATION])


def is_annotated(posts: pl.DataFrame) -> bool:
    """Whether ``posts`` carries :data:`ANNOTATION` (:func:`annotate` ran on it)."""
    return set(ANNOTATION) <= set(posts.columns)


def annotate(posts: pl.DataFrame) -> pl.DataFrame:
    """``posts`` with what :func:`scoped_posts` adds that does not depend on the scoring date,
    for the whole table at once: :func:`scoped_posts` then only filters it.

    Each annotation is a function of a post's own row and its parent's (looked up in the whole
    table either way), so annotating before or after the date's filter gives the same rows.
    For a table that several models score as it is (the ``score`` stage: nine scopings of 0.1 s
    each at 1M posts; compare's re-scoring, each altered copy once it is altered). Never for a
    table that is altered afterwards: an altered copy (a post's kind, parent or addressee
    changed) would carry the annotation of the original, so compare annotates the copy, never
    the tables it alters, and a model that alters the posts it is handed drops
    :data:`ANNOTATION` first (``docs/adding-a-model.md``).
    """
    return posts if is_annotated(posts) else _annotate(posts, posts)


def _annotate(frame: pl.DataFrame, posts: pl.DataFrame) -> pl.DataFrame:
    """The rows of ``frame`` with what does not depend on the scoring date.

    ``reply_to_account_id`` filled from the parent's author (looked up in ``posts``),
    ``channel`` and ``credits_responder`` (the platform's meaning of the link), ``is_reply`` and
    ``is_self_reply``: each a function of the post's own row and its parent's.
    """
    # Only a reply with a parent and no addressee needs its parent's author (ingest fills every
    # other; a counterfactual table built by hand may not), and only those parents are looked up:
    # a join of every post to every post on their text ids held 1.2 GiB at 10M posts
    need = pl.col("parent_post_id").is_not_null() & pl.col("reply_to_account_id").is_null()
    out = frame
    if frame.select(need.any()).item():
        wanted = frame.filter(need).get_column("parent_post_id").unique().implode()
        parents = posts.filter(pl.col("post_id").is_in(wanted)).select(
            pl.col("post_id").alias("parent_post_id"), pl.col("account_id").alias("_parent_author")
        )
        parent_author = frame.select("parent_post_id").join(
            parents, on="parent_post_id", how="left", maintain_order="left"
        )["_parent_author"]
        if parent_author.len() != frame.height:
            raise ValueError("post ids are not unique: a reply's parent is ambiguous")
        out = frame.with_columns(
            reply_to_account_id=pl.coalesce(pl.col("reply_to_account_id"), parent_author)
        )
    # What each link means on its platform (``analysis.semantics``): a reply, a Stack Exchange
    # answer, a quote and a repost credit different people in different ways.
    return semantics.with_channel(out).with_columns(
        is_reply=pl.col("channel").is_in(list(semantics.CONVERSATIONAL)).fill_null(False),
        is_self_reply=pl.col("reply_to_account_id") == pl.col("account_id"),
    )


def reply_edges(
    scoped: pl.DataFrame,
    channels: tuple[str, ...] = semantics.CONVERSATIONAL,
    reactions: pl.DataFrame | None = None,
    as_of: datetime | None = None,
) -> pl.DataFrame:
    """Credit edges ``src`` -> ``dst`` (who credits whom) by each platform's meaning.

    See :func:`analysis.semantics.interactions`: a reply credits the parent's author, a Stack
    Exchange answer credits the answerer (weighted by votes and acceptance before ``as_of`` when
    ``reactions`` are given), reposts are never conversation.
    """
    return semantics.interactions(scoped, channels, reactions, as_of)


#: Export-time totals: snapshots taken when the dump was exported, with no timestamp. Scoring at
#: a date before the export must not read them (they include what happened after that date).
EXPORT_TOTALS = {
    "posts": ("n_views", "score", "n_likes", "n_reposts", "n_comments_reported"),
    "accounts": ("follower_count", "platform_score"),
}


def totals_taken_at(tables: Tables) -> datetime | None:
    """When the export-time totals were taken: ``tables.totals_at``, else the last activity."""
    if tables.totals_at is not None:
        return tables.totals_at
    last = tables.posts.select(pl.col("created_at").max()).item()
    return None if last is None else last + timedelta(seconds=1)


def timed_view(tables: Tables, as_of: datetime) -> tuple[Tables, list[str]]:
    """The tables as they could be known at ``as_of``.

    Export-time totals (views, scores, likes, follower counts of accounts, reputation) include
    what happened after they were taken: a post's are nulled where they were taken after
    ``as_of`` (its ``totals_taken_at``, where the dump says: Pushshift fetched Reddit items
    months or years after they were written; else the export, :func:`totals_taken_at`), the
    accounts' where the export is after ``as_of``. Before the export, reaction rows without a
    date are dropped too (a like in an archive that does not say when it was given may have come
    after ``as_of``). Timed rows (posts, dated reactions, ``posts.follower_count`` taken at
    posting time) stay.

    Returns:
        The tables, and the names of the totals that were excluded (for ``missing_inputs``).
    """
    taken = totals_taken_at(tables)
    if taken is None:
        return tables, []
    posts = tables.posts
    # a post's capture time where the dump gives one, else the export's
    has_own = "totals_taken_at" in posts.columns
    captured = pl.col("totals_taken_at").fill_null(taken) if has_own else pl.lit(taken)
    own = cast(datetime | None, posts["totals_taken_at"].max()) if has_own else None
    latest = max(taken, own or taken)
    if as_of >= latest:
        return tables, []
    excluded = []
    frames: dict[str, Any] = {}
    late = captured > as_of
    n_late = posts.select(late.sum()).item()
    if n_late:
        cols = [c for c in EXPORT_TOTALS["posts"] if c in posts.columns]
        present = [c for c in cols if posts.select((pl.col(c).is_not_null() & late).any()).item()]
        excluded += [f"posts.{c}" for c in present]
        frames["posts"] = posts.with_columns(
            pl.when(late).then(None).otherwise(pl.col(c)).alias(c) for c in present
        )
    if as_of < taken:
        accounts = tables.accounts
        present = [
            c
            for c in EXPORT_TOTALS["accounts"]
            if c in accounts.columns and accounts[c].null_count() < accounts.height
        ]
        excluded += [f"accounts.{c}" for c in present]
        frames["accounts"] = accounts.with_columns(
            pl.lit(None, dtype=accounts.schema[c]).alias(c) for c in present
        )
        undated = tables.reactions["created_at"].null_count()
        if undated:
            excluded.append(f"reactions without a date ({undated:,})")
            frames["reactions"] = tables.reactions.filter(pl.col("created_at").is_not_null())
    if 0 < n_late < posts.height:
        excluded.append(f"on {n_late:,} of {posts.height:,} posts, taken after {as_of.date()}")
    note = (
        ["export-time totals excluded before the export (" + "; ".join(excluded) + ")"]
        if excluded
        else []
    )
    return replace(tables, **frames), note


def latest_follower_count() -> pl.Expr:
    """Per group of an account's posts: the follower count of its latest post that has one (at
    one instant the largest: row order must not choose)."""
    return pl.col("follower_count").sort_by("created_at", "follower_count").last()


def post_reactions(scoped: pl.DataFrame, reactions: pl.DataFrame, as_of: datetime) -> pl.DataFrame:
    """Positive reactions received per scoped post: ``post_id, account_id, w, n_reactions``.

    Two sources, the larger wins per post: individual reaction rows (timed, before ``as_of``, not
    by the author) and the platform's reported totals (``n_likes + n_reposts``, else a positive
    ``score``: the net vote of others, the adapters having removed an author's automatic
    self-vote). Reported totals are snapshots taken at export time, so they may include reactions
    after ``as_of``: a small leak the platform data does not let us avoid.
    """
    counted = (
        reactions.filter(
            pl.col("kind").is_in(list(POSITIVE_REACTIONS))
            & (pl.col("created_at").is_null() | (pl.col("created_at") < as_of))
        )
        .join(scoped.select("post_id", pl.col("account_id").alias("_author")), on="post_id")
        .filter(
            pl.col("actor_account_id").is_null() | (pl.col("actor_account_id") != pl.col("_author"))
        )
        .group_by("post_id")
        .agg(n_counted=pl.len().cast(pl.Float64))
    )
    has_likes = pl.col("n_likes").is_not_null() | pl.col("n_reposts").is_not_null()
    reported = (
        pl.when(has_likes)
        .then(pl.col("n_likes").fill_null(0) + pl.col("n_reposts").fill_null(0))
        .otherwise(pl.col("score").clip(lower_bound=0))
        .cast(pl.Float64)
    )
    return (
        scoped.select("post_id", "account_id", "w", reported.alias("_reported"))
        .join(counted, on="post_id", how="left")
        .with_columns(
            n_reactions=pl.max_horizontal(
                pl.col("n_counted").fill_null(0), pl.col("_reported").fill_null(0)
            )
        )
        .drop("_reported", "n_counted")
    )


def missing_reaction_inputs(posts: pl.DataFrame, reactions: pl.DataFrame) -> list[str]:
    """Names of the reaction inputs this platform lacks entirely."""
    if (
        reactions.height
        or posts.select(
            pl.any_horizontal(pl.col("n_likes", "n_reposts", "score").is_not_null()).any()
        ).item()
    ):
        return []
    return ["reactions (no reaction rows, n_likes, n_reposts or score)"]


#: Significant digits of every score: what the score stage writes and what percentiles rank.
#: Parallel or reordered float sums differ in the last bits; ten digits are far above that
#: noise and far below any difference a score means.
SCORE_DIGITS = 10


def present_at(tables: Tables, as_of: datetime) -> pl.DataFrame:
    """``account_id`` of the participants that existed at ``as_of``: those a score ranks.

    An account is left out only on evidence that it came later: created at or after ``as_of``
    and nothing of it dated before (a post, a reaction it gave), or, where the dump does not
    say when it was created, every dated act of it at or after ``as_of`` and none undated. At
    the default ``as_of`` (the last post + 1 s) nobody is; at an earlier ``models.as_of`` the
    accounts that joined later, scored 0, were ranked too, so that every other account's
    percentile counted who joined after the date (beer at its 0.6 quantile: 464 of 1,352
    participants; volume's percentiles 17 points higher at the median, up to 33).

    Computed once per tables and date (:attr:`Tables.derived`): every model's :func:`finish`
    asks (compare's re-scoring on the demo: 567 calls, 2.1 of its 18 s).
    """
    key = ("present_at", as_of)
    if key not in tables.derived:
        tables.derived[key] = _present_at(tables, as_of)
    return tables.derived[key]


def _present_at(tables: Tables, as_of: datetime) -> pl.DataFrame:
    parts = tables.participants().select("account_id", "created_at")
    posts, reactions = tables.posts, tables.reactions
    latest = [
        cast(datetime | None, parts["created_at"].max()),
        cast(datetime | None, posts["created_at"].max()),
        cast(
            datetime | None,
            reactions.filter(pl.col("actor_account_id").is_not_null())["created_at"].max(),
        ),
    ]
    if all(t is None or t < as_of for t in latest):  # nothing dated at or after as_of
        return parts.select("account_id")
    first_post = posts.group_by("account_id").agg(_post=pl.col("created_at").min())
    first_act = (
        reactions.filter(pl.col("actor_account_id").is_not_null())
        .group_by(pl.col("actor_account_id").alias("account_id"))
        .agg(_act=pl.col("created_at").min(), _undated=pl.col("created_at").is_null().any())
    )
    known = parts.join(first_post, on="account_id", how="left").join(
        first_act, on="account_id", how="left"
    )
    before = (
        (pl.col("created_at") < as_of)
        | (pl.col("_post") < as_of)
        | (pl.col("_act") < as_of)
        | pl.col("_undated")
    ).fill_null(False)
    dated = pl.any_horizontal(pl.col("created_at", "_post", "_act").is_not_null())
    return known.filter(before | ~dated).select("account_id")


def present_percentile(score: pl.Expr, ranked: pl.Expr) -> pl.Expr:
    """:func:`analysis.models.base.percentile` of ``score`` among the rows where ``ranked``
    holds; null on the others (to the bit the same as ``percentile`` where every row is ranked)."""
    x = pl.when(ranked).then(score)
    n = x.count()
    return (
        pl.when(n > 1)
        .then((x.rank("average") - 1) / (n - 1) * 100)
        .otherwise(pl.when(ranked).then(50.0))
    )


def rank_again(out: pl.DataFrame) -> pl.DataFrame:
    """``out`` (from :func:`finish`, its ``score`` changed since) with ``score_pct`` ranked
    again among the accounts :func:`finish` ranked (those present at ``as_of``)."""
    return out.with_columns(
        score_pct=present_percentile(pl.col("score"), pl.col("score_pct").is_not_null())
    )


def finish(
    per_account: pl.DataFrame,
    tables: Tables,
    model: str,
    as_of: datetime,
    half_life_days: float | None,
    window_days: float | None,
    missing: list[str],
    extra: tuple[str, ...] = (),
) -> pl.DataFrame:
    """One row per participant in the protocol's column order (absent accounts score 0).

    ``score_pct`` ranks the participants present at ``as_of`` (:func:`present_at`) among
    themselves; an account that joined later keeps its row (score 0) with a null percentile.

    ``per_account`` holds ``account_id``, ``score``, ``n_obs``, optional ``score_se``, the
    ``c_*`` components and the ``extra`` columns. Components and score of participants without
    activity are 0 (they did nothing that counts), their ``score_se`` stays null.
    """
    comps = [c for c in per_account.columns if c.startswith("c_")]
    parts = tables.participants().select("account_id")
    present = present_at(tables, as_of)
    if present.height < parts.height:
        parts = parts.with_columns(
            _present=pl.col("account_id").is_in(present["account_id"].implode())
        )
    else:
        parts = parts.with_columns(_present=pl.lit(True))
    df = parts.join(per_account, on="account_id", how="left")
    if "score_se" not in df.columns:
        df = df.with_columns(score_se=pl.lit(None, dtype=pl.Float64))
    df = df.with_columns(
        pl.col("score", *comps).cast(pl.Float64).fill_null(0.0),
        pl.col("n_obs").cast(pl.Int64).fill_null(0),
        pl.col("score_se").cast(pl.Float64),
    ).with_columns(
        # the score as written (SCORE_DIGITS), and its percentile of those: two accounts whose
        # sums differ in the last bits only (summed in another order: the graph's nodes are
        # numbered by pseudonym) tie, whatever the key (beer: two network_topic accounts tied
        # to the bit got percentiles 0.037 apart under another key)
        pl.col("score").round_sig_figs(SCORE_DIGITS)
    )
    window_start = None if window_days is None else as_of - timedelta(days=window_days)
    return df.select(
        "account_id",
        pl.lit(model).alias("model"),
        "score",
        present_percentile(pl.col("score"), pl.col("_present")).alias("score_pct"),
        "score_se",
        "n_obs",
        *comps,
        *extra,
        pl.lit(as_of, dtype=schema.UTC_TIME).alias("as_of"),
        pl.lit(window_start, dtype=schema.UTC_TIME).alias("window_start_at"),
        pl.lit(half_life_days, dtype=pl.Float64).alias("half_life_days"),
        pl.lit(", ".join(missing)).alias("missing_inputs"),
    ).sort("account_id")


def check_output(df: pl.DataFrame) -> None:
    """Assert the protocol's leading columns and dtypes (used by tests and the score stage)."""
    for name, dtype in SCORE_COLUMNS.items():
        if name not in df.columns or df.schema[name] != dtype:
            raise ValueError(f"score frame: column {name!r} missing or not {dtype}")
    if df.filter(pl.col("account_id") == schema.NONPARTICIPANT_ID).height:
        raise ValueError("score frame: the non-participant placeholder must never be scored")


def ordered_sum(expr: pl.Expr) -> pl.Expr:
    """``expr.sum()`` added in a fixed order: the values ascending.

    Float addition is not associative, and a group-by or a join hands a group's rows over in an
    order that varies with the thread count and the input's row order; sorted first, the sum
    is a function of the values alone (bit for bit), in a group-by as over a whole column.
    On eager frames only: in a lazy query polars' optimiser drops a sort whose order a sum does
    not observe (``check_order_observe``), and even with that flag off the lazy group-by added
    some groups differently from the eager one (61 of 49,445 accounts' sums in
    ``conversation_eb`` at 1M posts, last bits; polars 2.1).
    """
    return expr.sort().sum()


def group_sums(frame: pl.DataFrame, by: list[str], **sums: pl.Expr) -> pl.DataFrame:
    """``frame.group_by(by).agg(name=ordered_sum(expr), ...)``, the same numbers bit for bit,
    for group-bys whose groups are mostly of one or two rows (an account's repliers in one
    thread, the replies to one post).

    Only a group of three or more values depends on the order of its addition: ``a + b`` is
    ``b + a`` exactly (IEEE addition is commutative; only its associativity fails), so the
    groups of one or two rows are summed as they come and only the others are sorted first.
    The sort inside a group costs per group, whatever its size: at 1M synthetic posts
    ``conversation_eb``'s 711k (account, thread) groups of repliers (98.5 % of one row) took
    0.44-0.46 s sorted and 0.17-0.18 s split so, twice a scoring (two dates). The split costs a
    window count, more than it saves where most rows are in large groups (``python -m
    benchmarks.hot_paths``: 3.1-3.9x on groups mostly of one row, 0.7x on groups of ~20). The
    groups come in no particular order, as a group-by's do.
    """
    size, pair = "__group_sums_rows", "__group_sums_pair"
    if {size, pair} & {*by, *sums}:
        raise ValueError(f"group_sums: {size!r} and {pair!r} are its own columns' names")
    # two categorical ids grouped as one integer of their codes (:func:`ids_pair_key`: the
    # same groups; at 1M posts conversation's replies per post 0.20 -> 0.10 s)
    key = ids_pair_key(frame, by[0], by[1]) if len(by) == 2 else None
    group: list[str] = by if key is None else [pair]
    keys = [] if key is None else [pl.col(c).first() for c in by]
    # the values once, beside the keys only (a filter copies every column it keeps)
    values = frame.select(*by, **({} if key is None else {pair: key}), **sums)
    values = values.with_columns(pl.len().over(group).alias(size))
    small = values.filter(pl.col(size) <= 2).group_by(group)
    large = values.filter(pl.col(size) > 2).group_by(group)
    return pl.concat(
        [
            small.agg(*keys, *(pl.col(n).sum() for n in sums)),
            large.agg(*keys, *(ordered_sum(pl.col(n)) for n in sums)),
        ]
    ).select(*by, *sums)


def key_span(codes: pl.Series) -> int:
    """One more than the largest of ``codes`` (integer codes from 0, as
    ``replier_weights.account_codes`` and ``with_row_index`` give them; 1 when there are none):
    the span of :func:`pair_key`."""
    top = codes.max()
    return 1 if top is None else int(top) + 1  # type: ignore[arg-type]


def pair_key(
    first: str, second: str, span: int, first_from: int = 0, physical: bool = False
) -> pl.Expr:
    """The pair of integer codes ``first, second`` as one integer,
    ``(first - first_from) * span + second`` (``second`` from 0 and below ``span``; ``first``
    from ``first_from``): a group-by, a distinct or a join on it hashes one column instead of
    two, and a sort on it orders as on the two, with the same groups and rows (two codes below
    2^31 each never overflow 64 bits). ``key // span + first_from`` and ``key % span`` give the
    pair back. Codes (``first`` after ``first_from``) below 2^31 never overflow 64 bits; a null
    code makes a null key (callers pair codes without nulls). ``physical``: the columns are
    categorical, their codes are paired."""

    def code(name: str) -> pl.Expr:
        col = pl.col(name).to_physical() if physical else pl.col(name)
        return col.cast(pl.Int64)

    return (code(first) - first_from) * span + code(second)


def ids_span(*columns: pl.Series) -> int | None:
    """The span of :func:`pair_key` over id ``columns`` that are categorical of one mapping
    (one more than their largest code), or None where any is not (text ids, as in hand-built
    tables: the caller groups and joins on the columns themselves); None too where any holds a
    null id (a reply addressed to an account whose post is not in the dump has no target
    post): a null code would make a null key, one group for pairs the two columns keep apart."""
    dtype = columns[0].dtype
    if not isinstance(dtype, pl.Categorical) or any(c.dtype != dtype for c in columns):
        return None
    if any(c.null_count() for c in columns):
        return None
    return max(key_span(c.to_physical()) for c in columns)


def ids_pair_key(frame: pl.DataFrame, first: str, second: str) -> pl.Expr | None:
    """The id columns ``first, second`` of ``frame`` as one integer (their categorical codes
    paired, :func:`pair_key`, spanning :func:`ids_span` of the two), or None where they are not
    categorical of one mapping without nulls. Equal ids have equal codes in both columns (one
    mapping), so the key's groups are the two columns' (two frames joined on such keys need one
    span: :func:`pair_join`)."""
    span = ids_span(frame[first], frame[second])
    if span is None:
        return None
    return pair_key(first, second, span, physical=True)


def pair_group_by(frame: pl.DataFrame, first: str, second: str, **aggs: pl.Expr) -> pl.DataFrame:
    """``frame.group_by(first, second).agg(**aggs)`` with the pair of ids grouped as one
    integer (:func:`ids_pair_key`) where they are categorical without nulls: the same groups
    and rows (at 1M posts conversation's repliers 0.12 -> 0.08 s)."""
    key = ids_pair_key(frame, first, second)
    if key is None:
        return frame.group_by(first, second).agg(**aggs)
    return (
        frame.group_by(key.alias("__pair"))
        .agg(pl.col(first).first(), pl.col(second).first(), **aggs)
        .drop("__pair")
    )


def pair_join(
    left: pl.DataFrame,
    right: pl.DataFrame,
    left_on: tuple[str, str],
    right_on: tuple[str, str],
    how: Literal["inner", "left"] = "inner",
) -> pl.DataFrame:
    """``left.join(right, left_on=left_on, right_on=right_on, how=how)`` with each side's pair
    of ids as one integer (:func:`ids_pair_key`, one span for both sides) where all four are
    categorical without nulls: the same matches and columns (``left``'s, then ``right``'s
    others)."""
    span = ids_span(*(left[c] for c in left_on), *(right[c] for c in right_on))
    if span is None:
        return left.join(right, left_on=list(left_on), right_on=list(right_on), how=how)
    key = "__pair_join"
    return (
        left.with_columns(pair_key(*left_on, span, physical=True).alias(key))
        .join(
            right.select(pair_key(*right_on, span, physical=True).alias(key), pl.exclude(right_on)),
            on=key,
            how=how,
        )
        .drop(key)
    )


def ordered_mean(expr: pl.Expr) -> pl.Expr:
    """``expr.mean()`` in a fixed order (see :func:`ordered_sum`)."""
    return expr.sort().mean()


def h_index(counts: np.ndarray) -> int:
    """Largest h such that h items have at least h each (works on decay-weighted counts)."""
    c = np.sort(np.asarray(counts, dtype=float))[::-1]
    ranks = np.arange(1, c.size + 1)
    return int(np.sum(c >= ranks))


#: The clips of :func:`gamma_poisson`'s prior strength, in items: at the top the rates show no
#: excess variance (the prior is everything), at the bottom it is barely there.
PRIOR_ITEMS_MIN, PRIOR_ITEMS_MAX = 0.5, 1e6


#: How :func:`gamma_poisson` fits, in the writeup's words.
GAMMA_POISSON = "gamma-Poisson, method of moments over the accounts with an item's weight"


def gamma_poisson_state(m: float, k: float) -> str:
    """What a :func:`gamma_poisson` prior (mean ``m``, strength ``k`` items) came to, in words:
    at a clip it means something else than a fitted strength."""
    if m <= 0:
        return "no responses before the date: prior mean 0"
    if k >= PRIOR_ITEMS_MAX:
        return (
            "no variance between accounts beyond Poisson noise: the prior is as strong as its "
            "clip, every rate is the community's"
        )
    if k <= PRIOR_ITEMS_MIN:
        return "at its weakest clip: the accounts' own rates stand almost alone"
    return f"fitted, {k:.3g} items of weight"


def gamma_poisson(y: pl.Expr, e: pl.Expr, frame: pl.DataFrame) -> tuple[float, float]:
    """Method-of-moments prior (mean m, strength k in items) of per-item rates ``y/e``.

    With true rates of prior mean m and variance v, an account's observed rate ``y/e`` has
    variance ``v + m/e`` (Poisson noise), so the plain between-account variance of the rates
    is ``v + m * mean(1/e)``: the prior variance is that minus ``m * mean(1/e)`` (not
    ``m / mean(e)``, which understates the noise of small accounts and so shrinks too little);
    k = m / v. With no excess variance the prior is strong (k large). Accounts with less than
    one item's worth of weight (``e < 1``: a few old items) would dominate ``mean(1/e)`` with
    noise, so the moments are taken over the others (all of them when none reach 1).
    """
    fit = frame.filter(e >= 1.0)
    if fit.height < 2:
        fit = frame
    stats = fit.select(
        (ordered_sum(y) / ordered_sum(e)).alias("m"),
        (y / e).sort().var().alias("var_rate"),
        ordered_mean(1.0 / e).alias("inv_e_mean"),
    ).row(0, named=True)
    m = float(stats["m"] or 0.0)
    if m <= 0:
        return 0.0, 1.0
    excess = float(stats["var_rate"] or 0.0) - m * float(stats["inv_e_mean"] or 0.0)
    k = m / excess if excess > 1e-12 else PRIOR_ITEMS_MAX
    return m, float(min(max(k, PRIOR_ITEMS_MIN), PRIOR_ITEMS_MAX))
