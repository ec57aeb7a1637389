"""Stage ``compare``: stability and gaming tests of every model, as bias with intervals (pure).

Each test alters the interim tables for a few accounts, re-runs the model functions on the
altered :class:`~analysis.models.base.Tables` (all else equal) and compares each altered
account's score with its baseline. The altered account is ranked against the **frozen**
baseline scores of everyone else (``pct_frozen``), so accounts altered in the same batch never
shift each other's percentiles; the change is read three ways: in percentile points
(``pts``), relative to the baseline percentile (``rel``, the old unit of the gates) and in units
of the model's own standard error (``z``, where the model publishes ``score_se``).

Stability scenarios (accounts active in the ``active_window_days`` before T only, sampled in a
key-independent order):

* **weekend off**: the account's own posts on Saturday and Sunday (UTC) are removed, with what
  others wrote in reply to them and the reactions on them (``drop_responses``);
* **weekend placebo**: as much of the account's *weekday* activity, drawn at random, is
  removed instead (a removed post takes its own follow-ups below it, so the placebo matches
  the weekend off unit by unit, by size and the kinds of the posts: ``stability.placebo_off``):
  any score loses something when posts vanish, and the weekend test is read as the *extra*
  change beyond this placebo (paired per account), on the accounts from which both took as
  many of their own posts (:func:`matched`; the time off likewise);
* **weekend moved**: the weekend posts are moved to the Friday before (nothing is lost);
* **time off** and its placebo: the ``vacation_days`` before T, against as much of the
  account's activity drawn at random from before the time off (unit by unit, likewise).

Per scenario and model, over the sampled accounts the scenario takes something from (weekend
posts before T; posts in the time off): signed median change (bias), median absolute change
(noise), both with distribution-free intervals over accounts (order statistics,
``cf_stats.median_interval``), and the share of accounts whose score leaves
the model's own 95 % interval. The old figures (percentiles re-ranked inside the altered
tables, relative change) are kept beside them for comparison.

The scenarios are in :mod:`analysis.stability`, the statistics in :mod:`analysis.cf_stats`,
the sampling and re-scoring in :mod:`analysis.cf_rescore`.
Adversaries (``analysis.adversaries``) are curves: gain of the targets at each strength.
Gates (:class:`GateParams`) apply to the bias beyond placebo, to the extra share of changes
outside the model's own interval, and to each adversary's gain at a set strength
(:func:`gate_results`).

Why each account is altered alone. The counterfactual is one account's change while everyone
else stays as they are, so each sampled account (each target) is altered in a re-scoring of
its own (``batch_share`` None, the default): ``n_sample`` re-scorings per stability scenario and
``n_targets`` per adversary strength, each ranked against everyone else's frozen baseline.
``batch_share`` (a share of the participants) restores the old, faster design that altered
the sample in batches; batch-mates then alter each other's scores: a batch-mate's removed
posts take the replies the account wrote below them, a spam pool or a reply-to-everyone reaches
batch-mates, the puppets of every target in the batch enter the community priors
(conversation_eb, engagement) and PageRank together. Measured on the demo (196 participants,
batches of 9; ``benchmarks/cf_batches.py``), batched against alone: 5 of 89 gates changed
(conversation_eb passed the puppets gate batched, median gain -0.01 [-0.05, 0.00], and fails it
alone, 0.24 [0.19, 0.37]; network passed time off, -0.014 [-0.038, 0], and fails it alone,
-0.031 [-0.064, -0.017]), and network's gain from spam drawing replies was halved (0.54 against
1.11). On the beer site (1,352 participants, 6 accounts sampled and 6 targets, one batch each:
every gate untested either way) the medians moved as much: conversation_rate's weekend-off
bias 0.00 batched against 25.0 alone, its exchange gain 25.3 against 0.64, conversation_eb's
weekend-off bias -0.78 against -0.33. Batches of accounts that never met (no shared thread, no reaction between them) left
2 of those 5 gates changed: the community-wide refits still tie batch-mates. The cost: on the
demo 863 re-scorings instead of 117 (117 s against 18 s), spread by the compute engine; on a
large dump, where one batch held the whole sample, 863 instead of 26 (at 1M posts 6.5-12 s a
re-scoring, sessions 41 and 38: 1.6-2.9 h of one core against 3-5 min; the log counts them down
with the time left). A share buys that time back at the bias measured.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import polars as pl
from pydantic import Field

from analysis import adversaries, cf_report, cf_stats, stability
from analysis.adversaries import inject_posts, reaction_ring
from analysis.cf_rescore import RESCORE_SCHEMA, Transform, batches, rescore_many, sample_accounts
from analysis.compute import Engine, LocalEngine
from analysis.config import Frozen
from analysis.models import circle_delta
from analysis.models.base import Model, Tables

log = logging.getLogger(__name__)

# The scenarios and statistics live in their own modules; the names the stage and the tests
# use are re-exported here.
descendants = stability.descendants
remove_posts = stability.remove_posts
weekend_off = stability.weekend_off
time_off = stability.time_off
placebo_off = stability.placebo_off
weekend_placebo = stability.weekend_placebo
time_off_placebo = stability.time_off_placebo
weekend_moved = stability.weekend_moved
relative_change = cf_stats.relative_change
shift_summary = cf_stats.shift_summary
gaming_summary = cf_stats.gaming_summary
ring_summary = cf_stats.ring_summary
with_changes = cf_stats.with_changes
boot_interval = cf_stats.boot_interval
stability_summary = cf_stats.stability_summary
adversary_curve = cf_stats.adversary_curve
gain_at = cf_stats.gain_at

# The gates and the reporting of the results live in :mod:`analysis.cf_report`; re-exported.
AdversaryGate = cf_report.AdversaryGate
GateParams = cf_report.GateParams
ADVERSARIES = cf_report.ADVERSARIES
headline = cf_report.headline
stability_table = cf_report.stability_table
adversary_table = cf_report.adversary_table
robustness_table = cf_report.robustness_table
gate_results = cf_report.gate_results
GATE_NOTES = cf_report.GATE_NOTES
LEGACY_GATES = cf_report.LEGACY_GATES


# ---------------------------------------------------------------------------------------------
# Params


class CounterfactualParams(Frozen):
    """``compare.counterfactual``: the stability tests and the adversaries."""

    #: Accounts altered by the stability tests (sampled among active accounts; capped).
    n_sample: int = Field(100, ge=1)
    #: None: each altered account (and each adversary's target) is altered alone, in a
    #: re-scoring of its own. A share of the participants: the old batched design, that many
    #: accounts altered per re-scoring (faster; batch-mates alter each other's scores, see
    #: "Why each account is altered alone" above).
    batch_share: float | None = Field(None, gt=0, le=1)
    seed: int = 7
    #: Only accounts with at least ``min_active_posts`` posts in the ``active_window_days``
    #: before T are sampled: a silent account has nothing to take off.
    active_window_days: float = Field(30.0, gt=0)
    min_active_posts: int = Field(2, ge=1)
    #: Length of the time off that ends at the scoring date.
    vacation_days: float = Field(14.0, gt=0)
    #: Also remove what others wrote in reply to a removed post and the reactions on it.
    drop_responses: bool = True
    #: Bootstrap resamples of the altered accounts for the interval of the extra share outside
    #: the model's own interval (the medians' intervals are order statistics: no resampling).
    n_boot: int = Field(500, ge=0)
    #: A score change is "outside the model's own interval" past this many standard errors.
    z_outside: float = Field(1.96, gt=0)
    #: Relative changes of score_pct are taken against at least this many points.
    floor_pct: float = Field(1.0, gt=0)
    #: Adversaries: accounts that game (sampled among active accounts, own seed), per curve.
    n_targets: int = Field(20, ge=1)
    #: Extra low-value posts drawing nothing, as a share of the account's own posts (volume).
    gaming_multipliers: tuple[float, ...] = (0.5, 1.0, 4.0)
    #: Spam that draws replies: extra posts (this share of own posts), each drawing
    #: Poisson(spam_replies_per_post) replies from a pool of this share of the participants.
    spam_multiplier: float = Field(1.0, gt=0)
    spam_replier_shares: tuple[float, ...] = (0.02, 0.1, 0.3)
    spam_replies_per_post: float = Field(1.0, ge=0)
    #: Reply-to-everyone: how many others each target replies to.
    reply_all_sizes: tuple[int, ...] = (10, 20, 50)
    #: Self-reply chains under the target's 3 latest root posts, and two-person exchanges under
    #: its latest root post: replies per chain.
    self_chain_lengths: tuple[int, ...] = (5, 10, 30)
    exchange_lengths: tuple[int, ...] = (5, 20, 50)
    #: Sockpuppet farms (new accounts replying to and liking the target's latest posts).
    puppet_sizes: tuple[int, ...] = (5, 20, 50)
    puppet_posts: int = Field(5, ge=1)
    #: Reaction rings (existing accounts replying to and liking each other).
    ring_sizes: tuple[int, ...] = (5, 20, 50)
    ring_replies_per_pair: int = Field(3, ge=0)
    ring_likes_per_pair: int = Field(5, ge=0)
    #: The ring size quoted by the old figures (``ring`` in compare.json's legacy summaries).
    ring_size: int = Field(5, ge=2)


# ---------------------------------------------------------------------------------------------
# All tests


#: Every scenario of :func:`run_all`, in the order its ``changes`` lists them.
SCENARIOS = (
    "weekend_off",
    "weekend_placebo",
    "weekend_moved",
    "time_off",
    "time_off_placebo",
    "gaming",
    "spam_replies",
    "reply_all",
    "self_chain",
    "exchange",
    "puppets",
    "ring",
)


def run_all(
    tables: Tables,
    models: Mapping[str, Model],
    params: Any,
    as_of: datetime,
    cf: Any,
    engine: Engine | None = None,
) -> dict[str, Any]:
    """Every stability test and adversary for every model (``cf``: ``CounterfactualParams``).

    ``engine`` (None: this process) re-scores the batches; the result does not depend on it.

    Returns:
        ``baseline`` (model -> score frame), ``sample`` and ``targets``; ``changes``: scenario
        -> strength -> the :func:`~analysis.cf_rescore.rescore` frame; ``stability``: scenario
        -> model -> :func:`stability_summary`; ``adversaries``: adversary -> model -> curve;
        ``volume``: model -> :func:`gaming_summary` (frozen ranking); ``legacy``: the old
        summaries.
    """
    started = time.perf_counter()
    # on the local engine the baseline's circle counts (conversation_eb) are kept for the
    # re-scorings to update, each one alteration away from them (``models.circle_delta``);
    # a cluster's workers keep the first graph each lists
    local = engine is None or isinstance(engine, LocalEngine)
    circle_delta.forget()
    with circle_delta.reusing() if local else contextlib.nullcontext():
        baseline = {name: m.score(tables, params, as_of) for name, m in models.items()}
    baseline_seconds = time.perf_counter() - started
    n_part = tables.participants().height
    window = (cf.active_window_days, cf.min_active_posts)
    sample = sample_accounts(tables, cf.n_sample, cf.seed, as_of, *window)
    groups = batches(sample, n_part, cf.batch_share, cf.seed)  # batches of one by default
    start = as_of - timedelta(days=cf.vacation_days)
    drop = cf.drop_responses

    # Every (scenario, strength) is a job of batches; all batches of all jobs are re-scored in
    # one map of the compute engine, then filed back under their scenario and strength.
    jobs: list[tuple[str, float, list[list[str]], Transform, str]] = []

    def add(scenario: str, strength: float, gs: list[list[str]], t: Transform, label: str) -> None:
        jobs.append((scenario, strength, gs, t, label))

    add("weekend_off", 0, groups, lambda t, g: weekend_off(t, g, drop), "weekend off")
    add(
        "weekend_placebo",
        0,
        groups,
        lambda t, g: weekend_placebo(t, g, as_of, cf.seed + 11, drop),
        "weekend placebo",
    )
    add("weekend_moved", 0, groups, weekend_moved, "weekend moved to Friday")
    add("time_off", 0, groups, lambda t, g: time_off(t, g, start, as_of, drop), "time off")
    add(
        "time_off_placebo",
        0,
        groups,
        lambda t, g: time_off_placebo(t, g, start, as_of, cf.seed + 12, drop),
        "time-off placebo",
    )
    targets = sample_accounts(tables, cf.n_targets, cf.seed + 1, as_of, *window)
    tgroups = batches(targets, n_part, cf.batch_share, cf.seed + 1)
    for k, m in enumerate(cf.gaming_multipliers):
        add(
            "gaming",
            m,
            tgroups,
            lambda t, g, m=m, k=k: inject_posts(t, g, m, as_of, cf.seed + 1000 * (k + 1)),
            f"gaming +{100 * m:g} %",
        )
    for k, sh in enumerate(cf.spam_replier_shares):
        add(
            "spam_replies",
            sh,
            tgroups,
            lambda t, g, sh=sh, k=k: inject_posts(
                t, g, cf.spam_multiplier, as_of, cf.seed + 2000 + k, sh, cf.spam_replies_per_post
            ),
            f"spam drawing replies from {100 * sh:g} %",
        )
    for k, n in enumerate(cf.reply_all_sizes):
        add(
            "reply_all",
            n,
            tgroups,
            lambda t, g, n=n, k=k: adversaries.reply_to_everyone(
                t, g, n, as_of, cf.seed + 3000 + k
            ),
            f"reply to {n} others",
        )
    for n in cf.self_chain_lengths:
        add(
            "self_chain",
            n,
            tgroups,
            lambda t, g, n=n: adversaries.self_reply_chains(t, g, n, as_of),
            f"self-reply chains of {n}",
        )
    for n in cf.exchange_lengths:
        add(
            "exchange",
            n,
            tgroups,
            lambda t, g, n=n: adversaries.two_person_exchange(t, g, n, as_of),
            f"two-person exchange of {n}",
        )
    for n in cf.puppet_sizes:
        add(
            "puppets",
            n,
            tgroups,
            lambda t, g, n=n: adversaries.sockpuppet_farm(t, g, n, as_of, cf.puppet_posts),
            f"{n} sockpuppets",
        )
    members: dict[int, list[str]] = {}
    for n in sorted(set(cf.ring_sizes) | {cf.ring_size}):
        members[n] = sample_accounts(tables, n, cf.seed + 100 + n, as_of, *window)
        add(
            "ring",
            n,
            [members[n]],
            lambda t, g: reaction_ring(
                t, g, as_of, cf.ring_replies_per_pair, cf.ring_likes_per_pair
            ),
            f"reaction ring of {n}",
        )
    frames = rescore_many(
        tables,
        models,
        params,
        as_of,
        [(gs, t, label) for _, _, gs, t, label in jobs],
        baseline,
        engine,
        baseline_seconds,
    )
    if local:
        done = circle_delta.tally()
        log.info(
            "conversation_eb's circle counts: %d updated from the baseline's, %d listed in full",
            done["updated"],
            done["listed"],
        )
    circle_delta.forget()  # the graph kept, ~35 MB at 1M posts
    # in SCENARIOS order (the changes table lists them so), a scenario without strengths empty
    ch: dict[str, dict[float, pl.DataFrame]] = {sc: {} for sc in SCENARIOS}
    for (scenario, strength, *_), frame in zip(jobs, frames, strict=True):
        ch[scenario][strength] = frame
    rings = ch["ring"]
    out: dict[str, Any] = {"baseline": baseline, "sample": sample, "targets": targets}
    out["members"] = members
    out["changes"] = ch
    pairs = {"weekend_off": "weekend_placebo", "time_off": "time_off_placebo"}
    # each scenario is read on the accounts it takes something from (weekend posts; posts in
    # the time off, before T): the others' changes are only their batch-mates' doing; a
    # scenario and its placebo on those from which both took as many of their own posts (a
    # pair that took more from one than from the other would measure the posts lost)
    took = {
        "weekend_moved": stability.with_posts_where(tables, sample, stability.IS_WEEKEND, as_of),
        "weekend": matched(sample, ch["weekend_off"][0], ch["weekend_placebo"][0]),
        "time_off": matched(sample, ch["time_off"][0], ch["time_off_placebo"][0]),
    }

    reads = {
        "weekend_off": "weekend",
        "weekend_placebo": "weekend",
        "weekend_moved": "weekend_moved",
        "time_off": "time_off",
        "time_off_placebo": "time_off",
    }

    def treated(sc: str) -> pl.DataFrame:
        return ch[sc][0].filter(pl.col("account_id").is_in(took[reads[sc]]))

    out["stability"] = {
        sc: stability_summary(
            treated(sc), treated(pairs[sc]) if sc in pairs else None, cf, cf.seed + i
        )
        for i, sc in enumerate(
            ("weekend_off", "weekend_placebo", "weekend_moved", "time_off", "time_off_placebo")
        )
    }
    out["adversaries"] = {adv: adversary_curve(ch[adv], cf) for adv in ADVERSARIES}
    frozen_gaming = {
        m: df.with_columns(pct_cf=pl.col("pct_frozen"), pct_base=pl.col("pct_base_frozen"))
        for m, df in ch["gaming"].items()
    }
    out["volume"] = gaming_summary(frozen_gaming, cf.floor_pct) if frozen_gaming else {}
    out["legacy"] = {
        "weekend_off": shift_summary(ch["weekend_off"][0], cf.floor_pct),
        "time_off": shift_summary(ch["time_off"][0], cf.floor_pct),
        "gaming": gaming_summary(ch["gaming"], cf.floor_pct) if ch["gaming"] else {},
        "ring": ring_summary(rings[cf.ring_size], cf.floor_pct),
    }
    out["seconds"] = time.perf_counter() - started
    log.info("counterfactual tests: %.1f s", out["seconds"])
    return out


def matched(sample: list[str], scenario: pl.DataFrame, placebo: pl.DataFrame) -> list[str]:
    """The accounts of ``sample`` (in its order) from which a scenario took some of their own
    posts and its placebo as many (``own_posts_removed`` of their re-scoring rows).

    With ``drop_responses`` each removed post takes the replies below it, the account's own
    follow-ups included: on stackexchange-ai an account that answered on a Sunday and wrote
    five comments below its answer on Monday lost all six to a weekend off. The placebo
    matches such units (``stability.placebo_off``), but not always: an account that only posts
    at weekends loses everything to one and nothing to the other, one whose weekday posts all
    carry follow-ups has no unit as small as a lone weekend comment. Read in, the change beyond
    the placebo would count posts lost (7 of the 27 accounts the weekend test read on ai when
    the placebo drew by count alone).
    """

    def took(rows: pl.DataFrame) -> dict[str, int]:
        return dict(rows.select("account_id", "own_posts_removed").unique().iter_rows())

    a, b = took(scenario), took(placebo)
    return [x for x in sample if a.get(x, 0) > 0 and a.get(x) == b.get(x)]


def changes_table(result: dict[str, Any]) -> pl.DataFrame:
    """Every re-scored (scenario, strength, model, account) in one long frame (for
    ``data/processed/``; the headline numbers go to compare.json)."""
    frames = [
        df.with_columns(scenario=pl.lit(sc), strength=pl.lit(float(s)))
        for sc, by in result["changes"].items()
        for s, df in by.items()
    ]
    if not frames:
        return pl.DataFrame(
            schema={"scenario": pl.String, "strength": pl.Float64, **RESCORE_SCHEMA}
        )
    return pl.concat(frames).select("scenario", "strength", *RESCORE_SCHEMA)
