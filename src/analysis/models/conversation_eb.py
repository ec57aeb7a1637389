"""Model ``conversation_eb``: how many independent people does a typical contribution draw in?

Built to survive the robustness tests of the ``compare`` stage honestly, by construction rather
than by tuning a threshold:

* **Per-contribution outcome.** An account's *item* is its contribution to one thread (all its
  posts in that thread, the thread keyed by its root); the outcome of an item is the weighted
  number of distinct other accounts who replied to the account's posts in that thread. Posting
  more items that nobody answers lowers the rate; a long exchange or a self-reply chain stays
  one item with the same repliers.
* **Read against the day's audience.** With ``weekday_adjust``, an item's outcome is scaled
  by the community's mean outcome over the mean for items started on the same weekday, so a
  weekend item that draws less because fewer people are around counts as an average item.
* **Memory in the person's own items, not in calendar days.** Item ``j`` (0 = the latest, by
  the time of the account's first post in the thread) weighs ``0.5 ** (j / half_life_items)``,
  so silent days (weekends, holidays) change nothing: only items count.
* **Shrinkage toward the person's own history.** The long-run rate (every item, equal weight)
  is shrunk toward the community with a gamma-Poisson prior fitted by the method of moments
  (prior variance = variance of the rates minus ``m · mean(1/E)``); the recent, item-weighted
  rate is then shrunk toward that long-run rate with ``own_prior_items`` items of weight.
* **Replies from dense cliques discounted.** A replier ``r`` of account ``a`` weighs
  ``d_r · (1 - x_ra) ** clique_power``: with ``o_ra`` the share of ``r``'s replies that go
  to ``a`` or to ``a``'s circle (everyone ``a`` replied to or heard from) and ``c_a`` the share
  a replier choosing at random would send there (``a``'s partners over all accounts),
  ``x_ra = o_ra - c_a`` (clipped to 0..1) is how much more ``r`` stays inside ``a``'s circle
  than chance: members of a ring who mostly answer each other weigh little,
  while a central account's many repliers are not punished for its centrality; ``d_r = q / (q + 1)`` with ``q`` the number of
  accounts other than ``a`` that ``r`` talks with, so an account that only ever answers ``a``
  (a sockpuppet) weighs nothing.
* **A published band.** ``band`` (1 = lowest quintile .. ``n_bands``) is the score's
  mid-rank quintile among the scores ``band_refresh_days`` earlier (tied scores share a band:
  :func:`bands`); it stays the earlier ``band_previous`` while the score's 95 % interval still
  reaches that band, and moves only when the interval leaves it (one step of hysteresis: the
  earlier band is itself read without hysteresis).

``score`` = posterior mean of weighted distinct repliers per item = ``c_own`` (the account's own
evidence, ``B · recent rate``) + ``c_prior`` (what is borrowed from its long-run rate, itself
shrunk to the community). ``score_se`` is the gamma posterior standard deviation. Only posts
before ``as_of`` are read, and export-time totals not at all. Reactions are read for one thing:
a Stack Exchange answer draws its asker in only once it is received (accepted or voted up before
the date, ``semantics.answer_credit``), as in the other models; before, every answer counted
its asker, so answering more with answers nobody took up raised the score of half the sampled
accounts on quantumcomputing (+50 % volume: median +1.3 %; ``compare``'s volume gate failed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
from pydantic import Field

from analysis import schema, semantics
from analysis.config import Frozen
from analysis.models import common, fits
from analysis.models import replier_weights as rw
from analysis.models.base import Model, Tables
from analysis.models.params import ModelParams, model_params, own_params

NAME = "conversation_eb"
TITLE = "Independent conversation per contribution (clique-discounted, shrunk to own history)"
UNIT = "weighted distinct repliers per thread contributed to"
OBS = "threads it contributed to"
COMPONENTS = {
    "c_own": "the account's own recent evidence (its shrinkage weight times its recent rate)",
    "c_prior": "what is borrowed from its long-run rate (itself shrunk to the community)",
}


class Params(Frozen):
    """``models.scored.conversation_eb``."""

    #: Memory in the account's own items: an item ``half_life_items`` items old counts half.
    half_life_items: float = Field(30.0, gt=0)
    #: Prior weight of the account's long-run rate, in items.
    own_prior_items: float = Field(10.0, gt=0)
    #: Exponent of the clique discount.
    clique_power: float = Field(2.0, ge=0)
    #: A replier found in n of the account's threads counts n ** -power in each (0: every
    #: thread fully; 0.5: n threads count sqrt(n) in all).
    repeat_power: float = Field(0.5, ge=0)
    #: Read each item's outcome against the community's mean for its weekday.
    weekday_adjust: bool = True
    #: Published bands (quintiles), edges from the scores this many days earlier.
    n_bands: int = Field(5, ge=1)
    band_refresh_days: float = Field(7.0, gt=0)


EXTRA = ("recent_rate", "long_run_rate", "n_items", "band", "band_previous")
#: The type of the codes :class:`Coded`'s frames hold (``accounts`` keeps Int64 codes).
CODE = pl.Int32


@dataclass(frozen=True)
class Coded:
    """The scoped posts as :func:`item_outcomes` reads them, on integer codes.

    ``own``: ``a, t, created_at``, the accounts' own posts (no reposts, no placeholder) with
    the account ``a`` and the thread ``t`` as codes; ``credit``: ``s, d, created_at``, the
    credit edges (``common.reply_edges``: who credits whom, at the responding item's time; a
    Stack Exchange answer's from when it was received, ``semantics.dated_answer_edges``) with
    ``s`` and ``d`` as codes; ``direct``: ``s, d, t, created_at, target_at``, the credit each
    own post drew (``d``, ``t``: its account and thread; ``target_at``: its time), self-credit
    and the placeholder's left out; ``accounts``: the codes
    (``replier_weights.account_codes``). The groups and joins then hash integers, not the
    pseudonyms' and post ids' text, and the credit meets the posts it goes to once, on the
    post ids, for every date (:meth:`before`).
    """

    own: pl.DataFrame
    credit: pl.DataFrame
    direct: pl.DataFrame
    accounts: pl.DataFrame

    @classmethod
    def of(
        cls,
        posts: pl.DataFrame,
        reactions: pl.DataFrame | None = None,
        as_of: datetime | None = None,
    ) -> Coded:
        """Code the scoped posts ``posts`` (``common.scoped_posts``). ``reactions``: the votes
        that tell when an answer was received, those before ``as_of``
        (``semantics.dated_answer_edges``; None: every answer is received when written)."""
        placeholder = schema.NONPARTICIPANT_ID
        # Only the columns read below (a filter copies every column, texts included), and the
        # credit edges built once for the weights and the items.
        own = posts.select("post_id", "account_id", "kind", "root_post_id", "created_at").filter(
            (pl.col("kind") != "repost") & (pl.col("account_id") != placeholder)
        )
        own = own.with_columns(thread_id=pl.coalesce("root_post_id", "post_id"))
        # an answer's edge dated from when it was received (a cut at an earlier date then
        # holds what the votes before that date credit), one nobody took up dropped
        credit = semantics.dated_answer_edges(common.reply_edges(posts), reactions, as_of).select(
            "target_post_id", "src", "dst", "created_at"
        )
        accounts = rw.account_codes(own["account_id"], credit["src"], credit["dst"])
        # The frames held hold their codes as 32-bit integers (an account's and a thread's
        # code is below their count): at 10M posts ~0.2 GiB of their ~0.86. Every code read
        # from them is widened first: a pair of codes by ``common.pair_key`` (cast to Int64
        # before it multiplies), a span by ``common.key_span``; ``accounts`` keeps Int64 codes
        # for the joins of what is computed from them.
        codes = accounts.with_columns(pl.col("a").cast(CODE))
        threads = (
            own["thread_id"]
            .unique()
            .to_frame()
            .with_row_index("t")
            .with_columns(pl.col("t").cast(CODE))
        )
        own = (
            own.join(codes, on="account_id")
            .join(threads, on="thread_id")
            .select("post_id", "a", "t", "created_at")
        )
        credit = rw.code_edges(credit, codes).select("target_post_id", "s", "d", "created_at")
        # Credit each item drew, by the platform's meaning (``analysis.semantics``): replies to
        # it; for a Stack Exchange answer, the asker's credit and the comments on it.
        nobody = rw.placeholder_code(accounts)  # never counts as a replier
        direct = (
            credit.select(pl.col("target_post_id").alias("post_id"), "s", "created_at")
            .join(
                own.select("post_id", pl.col("a").alias("d"), "t", target_at="created_at"),
                on="post_id",
            )
            .filter((pl.col("s") != pl.col("d")) & (pl.col("s") != nobody))
            .select("s", "d", "t", "created_at", "target_at")
        )
        return cls(
            own=own.drop("post_id"),
            credit=credit.drop("target_post_id"),
            direct=direct,
            accounts=accounts,
        )

    def before(self, at: datetime) -> Coded:
        """What the posts strictly before ``at`` give: the same rows as coding those posts
        (every row is a function of its own post, an edge is dated by the responding item, an
        answer's by its first vote too, and an item's credit by both its posts), on the same
        codes, which nothing computed from them depends on. The band's earlier scores read this,
        not a second scoping, coding and join of the credit to the posts (at 1M posts 0.5 s and
        0.2 s)."""
        early = pl.col("created_at") < at
        return Coded(
            self.own.filter(early),
            self.credit.filter(early),
            self.direct.filter(early & (pl.col("target_at") < at)),
            self.accounts,
        )


def item_outcomes(
    posts: pl.DataFrame | Coded,
    clique_power: float,
    repeat_power: float = 0.0,
    weights: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One row per (account, thread) item: ``a, t, first_at, y`` (weighted distinct repliers to
    the account's posts in that thread), and the accounts' codes (``account_id, a``).

    ``posts``: the scoped posts, or them already coded (:class:`Coded`; scoped posts are coded
    without votes, so every Stack Exchange answer counts its asker: the model passes its own
    coding, which reads them). A replier found in ``n`` of the account's threads counts
    ``n ** -repeat_power`` in each (a few loyal repliers are not a community). ``weights``: the
    replier weights of these coded posts (``replier_weights.coded_weights_at``) when the caller
    has them."""
    coded = posts if isinstance(posts, Coded) else Coded.of(posts)
    accounts = coded.accounts
    if weights is None:
        weights = rw.coded_weights(coded.credit, accounts, clique_power)
    # The item (account, thread) and the pair (replier, account) each as one integer key,
    # ``common.pair_key``: the groups, distinct rows and joins below hash one column instead of
    # two (the same rows; ``benchmarks.hot_paths``, 1M synthetic posts: 0.55 -> 0.24 s).
    n_t = max(common.key_span(coded.own["t"]), common.key_span(coded.direct["t"]))
    item = common.pair_key("a", "t", n_t)
    # Lazy where nothing is summed (a minimum, distinct rows, a join, counts): half the
    # eager steps' memory; the sums are eager (``common.ordered_sum``: a lazy group-by may
    # add in another order).
    first = coded.own.lazy().group_by(item.alias("k")).agg(first_at=pl.col("created_at").min())
    n_a = common.key_span(accounts["a"])
    pair = common.pair_key("s", "d", n_a)
    direct = (
        coded.direct.lazy()
        .select(k=common.pair_key("d", "t", n_t), sd=pair)
        .unique(["k", "sd"])
        .join(weights.lazy().select(sd=pair, weight="weight"), on="sd", how="left")
        .with_columns(n_threads=pl.len().over("sd").cast(pl.Float64))
        .collect()
    )
    # an account's repliers in one thread: mostly one or two (``common.group_sums``)
    y = pl.col("weight").fill_null(0.0) * pl.col("n_threads").pow(-repeat_power)
    direct = common.group_sums(direct, ["k"], y=y).with_columns(pl.col("y").round(12))
    items = (
        first.join(direct.lazy(), on="k", how="left")
        .select(
            a=pl.col("k") // n_t,
            t=pl.col("k") % n_t,
            first_at="first_at",
            y=pl.col("y").fill_null(0.0),
        )
        .collect()
    )
    return items, accounts


def rates(
    tables: Tables,
    p: ModelParams,
    as_of: datetime,
    coded: Coded | None = None,
    weights: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Per account with an item before ``as_of``: ``score`` (posterior mean), ``score_se``,
    ``c_own``, ``c_prior``, ``recent_rate``, ``long_run_rate``, ``n_items``, ``n_obs``.

    ``coded``: the posts before ``as_of`` already coded (:meth:`Coded.before` of a later
    date's); else the posts of ``tables`` are scoped and coded here. ``weights``: their
    replier weights, when computed with another date's
    (``replier_weights.coded_weights_at``)."""
    own = own_params(p, NAME, Params)
    if coded is None:
        scoped = common.scoped_posts(tables.posts, as_of, p.half_life_days, None)
        coded = Coded.of(scoped, tables.reactions, as_of)
    items, accounts = item_outcomes(coded, own.clique_power, own.repeat_power, weights)
    if items.height == 0:
        return pl.DataFrame(
            schema={
                # the tables' id type (categorical as the stages hold them): joined to them
                "account_id": tables.posts.schema["account_id"],
                **{c: pl.Float64 for c in ("score", "score_se", *COMPONENTS)},
                "recent_rate": pl.Float64,
                "long_run_rate": pl.Float64,
                "n_items": pl.Int64,
                "n_obs": pl.Int64,
            }
        )
    if own.weekday_adjust:
        # The audience is smaller on some days (weekends): an item's outcome is read against
        # the community's mean outcome for items started on the same weekday (UTC), so a
        # weekend item that draws less because fewer people are around is not a worse item.
        dow = pl.col("first_at").dt.weekday()
        mean_dow = common.ordered_mean(pl.col("y")).over(dow)
        items = items.with_columns(
            y=pl.when(mean_dow > 0)
            .then(pl.col("y") * common.ordered_mean(pl.col("y")) / mean_dow)
            .otherwise(pl.col("y"))
            .round(12)
        )
    # Items started at the same instant share their age in items (a tie broken by thread id
    # would depend on the pseudonyms, which change with the secret key), so the rows' order
    # is never read: the ranks are within each account and the sums are ordered.
    items = items.with_columns(
        j=(pl.col("first_at").rank("min", descending=True).over("a") - 1).cast(pl.Float64),
    ).with_columns(v=pl.lit(0.5).pow(pl.col("j") / own.half_life_items))
    # Sums in a fixed order (``common.ordered_sum``: a group-by hands rows over in an order
    # that varies with the thread count), rounded to 1e-12 as before.
    per = items.group_by("a").agg(
        e_all=pl.len().cast(pl.Float64),
        y_all=common.ordered_sum(pl.col("y")).round(12),
        e=common.ordered_sum(pl.col("v")).round(12),
        y=common.ordered_sum(pl.col("v") * pl.col("y")).round(12),
        n_items=pl.len().cast(pl.Int64),
    )
    per = per.join(accounts, on="a").drop("a")
    m, k = common.gamma_poisson(pl.col("y_all"), pl.col("e_all"), per)
    fits.note(
        NAME,
        as_of,
        f"long-run prior: {common.GAMMA_POISSON} ({common.gamma_poisson_state(m, k)})",
        per.height,
        community_rate=m,
        prior_items=k,
    )
    k_own = own.own_prior_items
    long_run = (pl.col("y_all") + k * m) / (pl.col("e_all") + k)
    return (
        per.with_columns(long_run_rate=long_run)
        .with_columns(
            recent_rate=pl.col("y") / pl.col("e"),
            b=pl.col("e") / (pl.col("e") + k_own),
            score=(pl.col("y") + k_own * pl.col("long_run_rate")) / (pl.col("e") + k_own),
            score_se=(pl.col("y") + k_own * pl.col("long_run_rate")).sqrt() / (pl.col("e") + k_own),
            n_obs=pl.col("n_items"),
        )
        .with_columns(
            c_own=pl.col("b") * pl.col("recent_rate"),
            c_prior=(1 - pl.col("b")) * pl.col("long_run_rate"),
        )
    )


def bands(score: pl.Series | np.ndarray, reference: np.ndarray, n_bands: int) -> np.ndarray:
    """Band 1..``n_bands`` of each score among the ``reference`` scores (sorted ascending):
    its mid-rank share (the share of reference scores below it, plus half the share equal to
    it) cut in ``n_bands`` equal steps.

    Tied scores share a band, at the middle of the tie. Quantile edges put every score on an
    edge into the band above, and a tie spans several edges: on the Reddit dump 6,842 of 8,595
    accounts (one item each, nobody replied) tie at the community prior, every quintile edge
    equalled it, and the band published them all in the top quintile (5,752 accounts in band 5,
    the rest in band 1: no band between); a weekend off, taking an account's one weekend post,
    moved 72 % of the sampled accounts' bands.
    """
    s = np.asarray(score, dtype=float)
    below = np.searchsorted(reference, s, side="left")
    upto = np.searchsorted(reference, s, side="right")
    share = (below + upto) / (2.0 * len(reference))
    return np.minimum(np.floor(share * n_bands).astype(np.int64) + 1, n_bands)


def score(tables: Tables, params: ModelParams, as_of: datetime) -> pl.DataFrame:
    """Score every participant by the independent conversation a typical item draws."""
    p = model_params(params)
    own = own_params(p, NAME, Params)
    # The scoping copies the posts before the date where it is before the last post
    # (validate's rolling origins), cut first to the columns read (``common.edge_posts``);
    # the copy is let go once coded, and the date's coding once the earlier date's is cut
    # from it. Held, they stood through the weights and both dates' rates: validate's peak.
    scoped = common.scoped_posts(common.edge_posts(tables.posts), as_of, p.half_life_days, None)
    coded = Coded.of(scoped, tables.reactions, as_of)
    del scoped
    earlier = as_of - timedelta(days=own.band_refresh_days)
    # the replier weights of both dates from one listing of the triangles
    w_now, w_before = rw.coded_weights_at(
        coded.credit, coded.accounts, own.clique_power, [None, earlier]
    )
    now = rates(tables, p, as_of, coded, w_now)
    del w_now
    early = coded.before(earlier)
    del coded
    before = rates(tables, p, earlier, early, w_before)
    del early, w_before
    n_bands = own.n_bands
    # the bands are read among the earlier scores (among today's while too few are earlier)
    ref = before if before.height >= n_bands else now
    reference = np.sort(ref["score"].to_numpy().astype(float))
    if len(reference) < n_bands:
        reference = np.zeros(0)

    def band_of(values: pl.Series) -> pl.Series:
        if not len(reference):
            return pl.Series(values.name, np.ones(len(values), dtype=np.int64))
        return pl.Series(values.name, bands(values.fill_null(np.nan), reference, n_bands))

    prev = before.select("account_id", band_previous=band_of(before["score"]))
    now = now.with_columns(band_now=band_of(now["score"])).join(prev, on="account_id", how="left")
    # the band holds while the 95 % interval reaches it: band() is monotone in the score, so the
    # interval [score - z, score + z] overlaps the earlier band's scores exactly when the bands
    # of its two ends enclose it
    z = 1.96 * now["score_se"].fill_null(0.0)
    low, high = band_of(now["score"] - z), band_of(now["score"] + z)
    overlaps = (pl.lit(low) <= pl.col("band_previous")) & (pl.col("band_previous") <= pl.lit(high))
    now = now.with_columns(
        band=pl.when(pl.col("band_previous").is_not_null() & overlaps)
        .then(pl.col("band_previous"))
        .otherwise(pl.col("band_now"))
        .cast(pl.Int64),
        band_previous=pl.col("band_previous").cast(pl.Int64),
    )
    per = now.select("account_id", "score", "score_se", "n_obs", *COMPONENTS, *EXTRA)
    return common.finish(per, tables, NAME, as_of, None, None, [], extra=EXTRA)


if TYPE_CHECKING:  # a type checker verifies this module against the model protocol
    from analysis.models import conversation_eb as _self

    _protocol_check: Model = _self
