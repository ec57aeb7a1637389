"""What an interaction means on each platform: who credits whom (read by every model and by
``validate``; pure functions, no I/O).

The canonical tables link an item to its ``parent_post_id`` and to the account it addresses
(``reply_to_account_id``), but a link does not mean the same thing everywhere. On Reddit a comment
is someone talking *with* the parent's author; on Stack Exchange an answer is the *answerer*
contributing to the asker's question: the asker's question drew it, and the credit belongs to the
answerer. Treating both as "a reply to the parent's author" made ``conversation`` and ``network``
reward asking questions (on quantumcomputing, repliers received correlated with questions asked
at 0.67 and with answers given at 0.11).

:data:`MEANINGS` is the one table of these meanings. Each (platform, kind) maps to a
:class:`Meaning`: its *channel* and which side is credited.

========================  ==================  =====================================================
channel                   credited            meaning
========================  ==================  =====================================================
``conversation``          the parent's author a reply or comment: someone talks with them
``answer``                the responder       a Stack Exchange answer: the asker -> the answerer,
                                              weighted by the answer's votes and acceptance
                                              *before the scoring date*
``quote``                 the parent's author attention with commentary (Twitter quote), not a
                                              conversation with the quoted author
``amplification``         the parent's author a repost or boost: spreads the post to the
                                              reposter's audience; approval/reach, never
                                              conversation
========================  ==================  =====================================================

Models choose channels: conversation models read ``conversation`` and ``answer``; the network
models add ``quote`` (attention given); nothing but reach/approval outcomes reads
``amplification``. ``docs/data-format.md`` documents the same table for users.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

CONVERSATION = "conversation"
ANSWER = "answer"
QUOTE = "quote"
AMPLIFICATION = "amplification"
CHANNELS = (CONVERSATION, ANSWER, QUOTE, AMPLIFICATION)
#: ``channel`` as the models hold it: one byte a post, where text took a 16-byte view (every
#: model's scoped posts and edges carry it), its categories in the order of :data:`CHANNELS`.
CHANNEL = pl.Enum(CHANNELS)
#: What the conversation models count (talking with someone, or answering them).
CONVERSATIONAL = (CONVERSATION, ANSWER)
#: What the reply-graph (PageRank) models count: conversation plus attention with commentary.
ATTENTION = (CONVERSATION, ANSWER, QUOTE)


@dataclass(frozen=True)
class Meaning:
    """What an item of one kind, on one platform, means for the accounts it links."""

    channel: str
    #: True: the responder (the item's author) is credited, by the parent's author
    #: (Stack Exchange answers). False: the parent's author is credited, by the responder.
    credits_responder: bool
    note: str


_REPLY = Meaning(CONVERSATION, False, "a reply: the replier talks with the parent's author")
_COMMENT = Meaning(CONVERSATION, False, "a comment: conversation with the commented post's author")
_QUOTE = Meaning(QUOTE, False, "a quote: attention to the quoted author, not a conversation")
_REPOST = Meaning(
    AMPLIFICATION, False, "a repost/boost: amplification of the original, not a conversation"
)
_ANSWER = Meaning(
    ANSWER,
    True,
    "an answer credits the answerer once it is received: asker -> answerer, weighted by "
    "accepted + log(1 + upvotes), both counted from timed votes before the scoring date (an "
    "answer nobody accepted or voted up credits no one; without vote rows, every answer 1)",
)

#: (platform, kind) -> meaning. Kinds without a parent or addressee (posts, questions) start
#: threads and mean nothing here. Platforms not listed use :data:`DEFAULT`.
MEANINGS: dict[tuple[str, str], Meaning] = {
    ("stackexchange", "answer"): _ANSWER,
    ("stackexchange", "comment"): _COMMENT,
    ("reddit", "comment"): _COMMENT,
    ("reddit", "reply"): _REPLY,
    ("hackernews", "comment"): _COMMENT,
    ("hackernews", "reply"): _REPLY,
    ("usenet", "reply"): _REPLY,
    ("twitter", "reply"): _REPLY,
    ("twitter", "quote"): _QUOTE,
    ("twitter", "repost"): _REPOST,
    ("mastodon", "reply"): _REPLY,
    ("mastodon", "quote"): _QUOTE,
    ("mastodon", "repost"): _REPOST,
    ("demo", "reply"): _REPLY,
}
#: kind -> meaning on any other platform (canonical dumps brought by users).
DEFAULT: dict[str, Meaning] = {
    "reply": _REPLY,
    "comment": _COMMENT,
    "answer": _ANSWER,
    "quote": _QUOTE,
    "repost": _REPOST,
}


#: Platforms where a reply thread is one conversation (replies form a tree under a source post):
#: its replies compete with each other in the within-thread test. Elsewhere responses to the
#: same parent compete (answers to one question, sibling comments).
THREAD_COMPETITION = ("twitter", "mastodon")


def meaning(platform: str, kind: str) -> Meaning | None:
    """The meaning of an item of ``kind`` on ``platform`` (None: it starts a thread)."""
    return MEANINGS.get((platform, kind), DEFAULT.get(kind))


def table() -> pl.DataFrame:
    """The semantics as a frame (platform, kind, channel, credits_responder, note)."""
    rows = [
        dict(
            platform=pl_,
            kind=k,
            channel=m.channel,
            credits_responder=m.credits_responder,
            note=m.note,
        )
        for (pl_, k), m in MEANINGS.items()
    ] + [
        dict(
            platform="*",
            kind=k,
            channel=m.channel,
            credits_responder=m.credits_responder,
            note=m.note,
        )
        for k, m in DEFAULT.items()
    ]
    return pl.DataFrame(rows)


def _lookup() -> pl.DataFrame:
    return table().select("platform", "kind", pl.col("channel").cast(CHANNEL), "credits_responder")


def with_channel(posts: pl.DataFrame) -> pl.DataFrame:
    """Add ``channel`` and ``credits_responder`` to posts (null for items that link nothing).

    An item links something when it has a parent or an addressee; a kind that the table gives a
    channel (an answer, a repost) keeps it even when its parent is outside the dump.
    """
    lk = _lookup()
    specific = lk.filter(pl.col("platform") != "*")
    generic = lk.filter(pl.col("platform") == "*")
    links = pl.col("parent_post_id").is_not_null() | pl.col("reply_to_account_id").is_not_null()
    out = {}
    for col in ("channel", "credits_responder"):
        # a hand-built frame without platforms (tests, counterfactuals): the generic meanings
        meant = _looked_up(generic, col, by_platform=False)
        if "platform" in posts.columns:
            meant = pl.coalesce(_looked_up(specific, col, by_platform=True), meant)
        out[col] = pl.when(links).then(meant)
    return posts.with_columns(**out)


def _looked_up(lookup: pl.DataFrame, col: str, by_platform: bool) -> pl.Expr:
    """``col`` of the lookup's row matching each post's kind (and platform), else null.

    A chain of literal branches, not a join: the lookup has 19 rows, and a join of every post
    to it on (platform, kind) held 1.2 GiB at 10M posts (its keys encoded per row).
    """
    dtype = lookup.schema[col]
    expr = pl.lit(None, dtype=dtype)
    for row in lookup.iter_rows(named=True):
        match = pl.col("kind") == row["kind"]
        if by_platform:
            match = match & (pl.col("platform") == row["platform"])
        expr = pl.when(match).then(pl.lit(row[col], dtype=dtype)).otherwise(expr)
    return expr


def answer_credit(
    answers: pl.DataFrame, reactions: pl.DataFrame | None, as_of: datetime | None
) -> pl.DataFrame:
    """``post_id, credit``: accepted + log(1 + upvotes) per answer, from votes before ``as_of``.

    An answer is credited when it is received: accepted or voted up. One that nobody took up
    by ``as_of`` has credit 0 (:func:`interactions` then drops its edge): answering more, with
    answers that draw nothing, buys no score (before, every answer carried a base credit of 1
    from its asker, so nine unvoted answers raised conversation 0.28 -> 1.52). Comments on an
    answer are conversation of their own, credited apart. Where the reactions table is empty
    nothing tells a received answer from another, and every answer keeps credit 1 (any
    reaction row, a downvote or a like too, makes the votes decide).

    Only timed votes count (Stack Exchange ``Votes.xml`` has dates): the export-time ``Score``
    includes votes cast after the scoring date and is never read here.
    """
    base = answers.select("post_id")
    if reactions is None or reactions.height == 0:
        return base.with_columns(credit=pl.lit(1.0))
    votes = (
        _votes_before(reactions, as_of)
        .join(base, on="post_id", how="semi")
        .group_by("post_id")
        .agg(
            n_up=(pl.col("kind") == "upvote").sum(),
            is_accepted=(pl.col("kind") == "accept").any(),
        )
    )
    return base.join(votes, on="post_id", how="left").select(
        "post_id",
        credit=pl.col("is_accepted").fill_null(False).cast(pl.Float64)
        + pl.col("n_up").fill_null(0).cast(pl.Float64).log1p(),
    )


def _votes_before(reactions: pl.DataFrame, as_of: datetime | None) -> pl.DataFrame:
    """The timed upvotes and accepts before ``as_of`` (all of them where None)."""
    return reactions.filter(
        pl.col("kind").is_in(["upvote", "accept"])
        & pl.col("created_at").is_not_null()
        & (pl.lit(as_of is None) | (pl.col("created_at") < as_of))
    )


def dated_answer_edges(
    edges: pl.DataFrame, reactions: pl.DataFrame | None, as_of: datetime | None
) -> pl.DataFrame:
    """Credit edges (:func:`interactions` without votes) with each answer's edge dated from
    when the answer was received, for a model that cuts one set of edges at several dates.

    An answer credits its answerer once it is received (:func:`answer_credit`): accepted or
    voted up, by votes before ``as_of``. Its edge (channel ``answer``, ``target_post_id`` the
    answer) here takes the later of its own time and the first such vote as ``created_at``, and
    the edge of an answer nobody took up is dropped; every other edge is left as it is. So at
    any date ``d`` up to ``as_of``, the edges dated before ``d`` are those :func:`interactions`
    credits at ``as_of = d``. Where the reactions table is empty every answer keeps its edge,
    as :func:`answer_credit` then gives every answer credit 1 (the same test: any reaction row,
    not only votes, makes the votes decide).
    """
    if reactions is None or reactions.height == 0 or not (edges["channel"] == ANSWER).any():
        return edges  # nothing to date (a platform without answers: nothing joined)
    is_answer = pl.col("channel") == ANSWER
    received = (
        _votes_before(reactions, as_of)
        .group_by("post_id")
        .agg(_received_at=pl.col("created_at").min())
        .rename({"post_id": "target_post_id"})
    )
    return (
        edges.join(received, on="target_post_id", how="left", maintain_order="left")
        .filter(~is_answer | pl.col("_received_at").is_not_null())
        .with_columns(
            created_at=pl.when(is_answer)
            .then(pl.max_horizontal("created_at", "_received_at"))
            .otherwise(pl.col("created_at"))
        )
        .drop("_received_at")
    )


def by_actor(edges: pl.DataFrame) -> pl.DataFrame:
    """Credit edges (:func:`interactions`) as who addressed whom: ``src`` wrote to ``dst``.

    Credit runs from the credited item's addressee to its author, except a Stack Exchange
    answer's, which runs from the asker to the answerer although the answerer wrote: read by
    credit, "A answered B" is B addressing A. Reciprocity is about who wrote to whom, so the
    conversation models read these pairs (``w`` and the other columns kept)."""
    flip = pl.col("channel") == ANSWER
    return edges.with_columns(
        src=pl.when(flip).then(pl.col("dst")).otherwise(pl.col("src")),
        dst=pl.when(flip).then(pl.col("src")).otherwise(pl.col("dst")),
    )


def interactions(
    scoped: pl.DataFrame,
    channels: tuple[str, ...] = CONVERSATIONAL,
    reactions: pl.DataFrame | None = None,
    as_of: datetime | None = None,
) -> pl.DataFrame:
    """Credit edges between accounts, by the platform's meaning of each item.

    Args:
        scoped: posts with ``w`` (time weight) and ``reply_to_account_id`` filled from the
            parent's author (``models.common.scoped_posts``).
        channels: which channels to return.
        reactions: timed reactions, used to weight answers (Stack Exchange votes).
        as_of: the scoring date (votes at or after it are ignored).

    Returns:
        ``post_id`` (the responding item), ``target_post_id`` (the credited post: the parent, or
        the answer itself), ``parent_post_id``, ``root_post_id``, ``src`` (who gives credit),
        ``dst`` (who is credited), ``channel``, ``w`` (time weight times answer credit),
        ``credit`` (the answer credit alone: 1 for every other item), ``created_at``. Self-credit and links to nobody are dropped.
    """
    s = scoped if "channel" in scoped.columns else with_channel(scoped)
    responder = pl.col("credits_responder")
    # one lazy query over the columns it reads: the eager filter copied every column of the
    # linked posts before the select (at 1M posts +304 MiB and 0.35 s, now +83 MiB and 0.08 s);
    # in one chunk, as the models' group-bys and joins then hold less (at 10M, conversation
    # peaked at 5.90 GiB with the rechunk, 6.69 without)
    edges = (
        s.lazy()
        .filter(
            pl.col("channel").is_in(list(channels)) & pl.col("reply_to_account_id").is_not_null()
        )
        .select(
            "post_id",
            target_post_id=pl.when(responder)
            .then(pl.col("post_id"))
            .otherwise(pl.col("parent_post_id")),
            parent_post_id=pl.col("parent_post_id"),
            root_post_id=pl.col("root_post_id"),
            src=pl.when(responder)
            .then(pl.col("reply_to_account_id"))
            .otherwise(pl.col("account_id")),
            dst=pl.when(responder)
            .then(pl.col("account_id"))
            .otherwise(pl.col("reply_to_account_id")),
            channel=pl.col("channel"),
            w=pl.col("w"),
            credit=pl.lit(1.0),
            created_at=pl.col("created_at"),
        )
        .filter(pl.col("src") != pl.col("dst"))
        .collect()
        .rechunk()
    )
    voted = reactions is not None and reactions.height > 0  # else every answer's credit is 1
    if ANSWER in channels and voted and (edges["channel"] == ANSWER).any():
        answers = edges.select("post_id").filter(edges["channel"] == ANSWER)  # all it reads
        credit = answer_credit(answers, reactions, as_of)
        # only the answers whose credit is not 1, looked up for the one column (an edge per
        # responding post: one row each); a join of every edge copied every column (7M at 10M)
        credit = credit.filter(pl.col("credit") != 1.0)
        c = (
            edges.select("post_id")
            .join(credit, on="post_id", how="left", maintain_order="left")["credit"]
            .fill_null(1.0)
        )
        # an answer nobody took up credits no one (answer_credit)
        edges = edges.with_columns(credit=c, w=pl.col("w") * c).filter(pl.col("credit") > 0)
    return edges
