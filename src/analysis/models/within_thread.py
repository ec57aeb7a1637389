"""The within-thread competition test: the headline validity check (stage ``validate``; pure).

An account-level correlation between a score and next month's replies mostly rewards
persistence: whoever keeps posting keeps being answered. Here, everything about the place and
the moment is held fixed: after a scoring date ``T``, take every *competition* where at least
two scored authors respond to the same parent (Stack Exchange answers to one question, sibling
comments on Reddit and Hacker News, replies in one PHEME thread). Within each, ask whose
response draws more, given the authors' scores at ``T``:

* **conversation**: distinct other accounts replying to the response within ``follow_days``;
* **approval**: positive reactions on it within ``follow_days`` (timed votes, likes, retweets);
  on platforms with no timed reactions, the score or points the export reports (eventual
  approval; ``approval_source`` says which).

A conditional Poisson model with one fixed effect per competition (the multinomial form of the
Poisson likelihood within each group; statsmodels' ``ConditionalPoisson`` gives the same point
estimate, checked by a test) regresses each outcome on the author's standardised score,
controlling for arrival order, text length and the author's prior posting volume. The
coefficient is a log rate ratio per standard deviation of the score.

Intervals: a pigeonhole bootstrap (Owen 2007) resamples competitions *and* authors at once, so
that neither many answers by one prolific author nor one big thread carries the result; every
model is refitted on the same draws, which gives paired intervals for differences between
models. Placebo: scores are shuffled among authors of similar prior activity (quantile bins)
and refitted; a coefficient that survives shuffling is activity, not the score.

Several rolling origins ``T`` (``validate.origins``) split the later part of the dump's
activity into windows of equal numbers of posts.

Where each part lives: the origins and the response table in
``analysis.models.within_thread_responses``; the design arrays, fits, bootstrap and placebo in
``analysis.models.within_thread_fit``; the estimator in ``analysis.models.conditional_poisson``.
This module holds the params of stage ``validate``, runs the whole test (:func:`within_thread`)
and reads the double-dissociation claim off its paired intervals (:func:`dissociation`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import polars as pl
from pydantic import Field, field_validator

from analysis.compute import Engine
from analysis.config import Frozen
from analysis.models.base import Tables
from analysis.models.within_thread_fit import design, run_test
from analysis.models.within_thread_responses import (
    OUTCOMES,
    approval_source,
    fitted_z,
    origins,
    responses,
)

log = logging.getLogger(__name__)


#: The naive baselines (activity, audience, the Klout re-creation): comparators of every
#: validity test and of the rule, never candidates, whatever ``validate.comparators`` says.
BASELINES: tuple[str, ...] = ("volume", "reach", "klout_like")


class ValidateParams(Frozen):
    """``validate``: origins, windows, bootstrap and the comparators of the validity tests."""

    #: Scoring origins T, at quantiles of post times after ``history_share`` of the posts.
    origins: int = Field(4, ge=1)
    #: Share of the dump's posts kept as history before the first origin.
    history_share: float = Field(0.5, gt=0, lt=1)
    #: A response's outcomes count what happens within this many days after it.
    follow_days: float = Field(7.0, gt=0)
    #: A competition needs at least this many distinct scored authors.
    min_authors: int = Field(2, ge=2)
    n_boot: int = Field(200, ge=10)
    n_placebo: int = Field(20, ge=1)
    #: Quantile bins of prior posting volume within which the placebo shuffles scores.
    placebo_bins: int = Field(5, ge=1)
    seed: int = 11
    #: Two-sided coverage of every interval.
    interval: float = Field(0.95, gt=0.5, lt=1)
    #: Models that are baselines: reported and compared against, never recommended. The
    #: :data:`BASELINES` are always among them, whatever params list (a list without
    #: ``reach`` made reach a candidate that the rule could recommend).
    comparators: tuple[str, ...] = ("volume", "reach", "klout_like")
    #: Minimum responses (and competitions) for a fit to be reported.
    min_responses: int = Field(30, ge=5)
    #: The single split of the account ranking check: this quantile of root-post times.
    ranking_split: float = Field(0.7, gt=0, lt=1)
    #: The within-thread test fits at most this many competitions: a random sample of them,
    #: drawn in a key-independent order with ``seed``, above it (null: all). Its fits (the
    #: bootstrap and the placebo refit every model 220 times) then cost the same on any larger
    #: dump; the sample and the whole count are reported beside the results.
    max_competitions: int | None = Field(20_000, ge=10)
    #: The incremental check fits at most this many accounts (every origin of each), a random
    #: sample drawn the same way above it (null: all).
    max_accounts: int | None = Field(20_000, ge=10)

    @field_validator("comparators")
    @classmethod
    def _baselines_are_comparators(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        """The baselines first, then the others params list (each once)."""
        return tuple(dict.fromkeys((*BASELINES, *v)))


def within_thread(
    tables: Tables,
    scores_at: Callable[[datetime], dict[str, pl.DataFrame]],
    p: ValidateParams,
    engine: Engine | None = None,
) -> dict[str, Any]:
    """The whole test: origins, responses, standardised scores, fits, intervals, placebo.

    Args:
        tables: the interim tables.
        scores_at: T -> model (or peer) name -> score frame (``account_id``, ``score``) at T.
        p: the ``validate`` params.
        engine: where the fits run (``compute`` in params.yaml); None: this process.
    """
    posts = tables.posts
    end = posts["created_at"].max()
    origs = origins(posts, p)
    frames, zs = [], {}
    for o in origs:
        resp = responses(tables, o, p, end)
        if not resp.height:
            continue
        active = posts.filter(pl.col("created_at") < o.scored_at).select("account_id").unique()
        who = resp.select("account_id").unique()  # the authors who respond
        for name, s in scores_at(o.scored_at).items():
            zs.setdefault(name, []).append(fitted_z(s, active, who, o.scored_at))
        frames.append(resp)
    base = {
        "origins": [o.scored_at.isoformat() for o in origs],
        "window_days": [
            round((o.window_end - o.scored_at).total_seconds() / 86400, 2) for o in origs
        ],
        "follow_days": p.follow_days,
        "outcomes": {
            "conversation": "distinct other accounts replying to the response within follow_days",
            "approval": None,
        },
    }
    resp = pl.concat(frames) if frames else None
    if resp is None or resp.height < p.min_responses:
        n = 0 if resp is None else resp.height
        return {
            **base,
            "n_responses": n,
            "skipped": f"{n} responses in competitions (< {p.min_responses})",
        }
    base["outcomes"]["approval"] = approval_source(tables)
    d = design(resp, {k: pl.concat(v) for k, v in zs.items()}, posts, p.max_competitions, p.seed)
    if d.n_groups < (d.n_groups_total or 0):
        log.info(
            "within-thread: fitting a random %d of %d competitions (validate.max_competitions)",
            d.n_groups,
            d.n_groups_total,
        )
    out = run_test(d, p, engine)
    out["dissociation"] = dissociation(out)
    return {
        **base,
        "n_responses": len(d.groups),
        "n_competitions": d.n_groups,
        "n_authors": d.n_authors,
        # the whole test's size; above validate.max_competitions the counts above are a sample's
        "n_responses_total": resp.height,
        "n_competitions_total": d.n_groups_total,
        "mean_outcome": {o: float(d.y[o].mean()) for o in OUTCOMES},
        **out,
    }


#: The models the double-dissociation claim calls "conversation models".
CONVERSATION_FAMILY = ("conversation", "conversation_rate", "network", "network_topic")
#: ... and the audience/activity scores it sets them against.
AUDIENCE_FAMILY = ("reach", "volume", "klout_like")


def _verdict(ci: dict[str, Any] | None) -> str:
    if ci is None or ci.get("ci_low") is None:
        return "untestable"
    if ci["ci_low"] > 0:
        return "holds"
    if ci["ci_high"] < 0:
        return "reversed"
    return "inconclusive"


def dissociation(result: dict[str, Any]) -> dict[str, Any]:
    """The double-dissociation claim, part by part, from the paired intervals.

    (a) on *conversation*, some conversation model beats every audience/activity score;
    (b) on *approval*, reach beats conversation. Each part: holds / reversed / inconclusive /
    untestable (a score without variation or an outcome without events).
    """
    paired = result.get("paired") or {}
    conv = paired.get("conversation") or {}
    best: dict[str, Any] = {"verdict": "untestable"}
    rank = {"holds": 3, "inconclusive": 2, "reversed": 1, "untestable": 0}
    for m in CONVERSATION_FAMILY:
        vs = {k: conv.get(f"{m}-{k}") for k in AUDIENCE_FAMILY if conv.get(f"{m}-{k}")}
        if not vs:
            continue
        verdicts = [_verdict(v) for v in vs.values()]
        v = (
            "holds"
            if all(x == "holds" for x in verdicts)
            else "reversed"
            if any(x == "reversed" for x in verdicts)
            else "inconclusive"
        )
        if rank[v] > rank[best["verdict"]]:
            best = {"verdict": v, "model": m, "versus": vs}
    appr = (paired.get("approval") or {}).get("reach-conversation")
    return {
        "conversation_models_win_conversation": best,
        "reach_wins_approval": {"verdict": _verdict(appr), "reach_minus_conversation": appr},
    }
