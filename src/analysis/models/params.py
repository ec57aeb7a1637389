"""Typed ``models`` section of params.yaml, read by the ``score``, ``validate`` and ``explain`` stages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from analysis.config import Frozen, section

DEFAULT_NAMES = (
    "volume",
    "reach",
    "klout_like",
    "engagement",
    "conversation",
    "network",
    "network_topic",
    "conversation_rate",
    "conversation_eb",
)


class ModelParams(Frozen):
    """``models``: which influence models run, and how time is weighted."""

    #: Models scored by the pipeline (one ``score`` stage each).
    names: tuple[str, ...] = DEFAULT_NAMES
    #: Scoring date (UTC). Only activity strictly before it counts. None: last post + 1 s.
    as_of: datetime | None = None
    #: Exponential decay: an action ``half_life_days`` old counts half.
    half_life_days: float = Field(30.0, gt=0)
    #: A hard window instead of decay (Klout used 90 days, PeerIndex 120): every action inside
    #: counts fully, everything older counts nothing. None: decay only.
    window_days: float | None = Field(None, gt=0)
    #: Klout's published window; the ``klout_like`` baseline always uses it (no decay).
    klout_window_days: float = Field(90.0, gt=0)
    #: PageRank damping factor, convergence tolerance (L1) and iteration cap.
    damping: float = Field(0.85, gt=0, lt=1)
    pagerank_tol: float = Field(1e-10, gt=0)
    pagerank_max_iter: int = Field(200, ge=1)
    #: ``validate``: scores at T = as_of - delta against what happens in (T, T + delta].
    validate_delta_days: float = Field(30.0, gt=0)
    #: ``validate`` on the demo: planted roles to recover (positives vs negatives).
    roles_positive: tuple[str, ...] = ("expert", "conversationalist")
    roles_negative: tuple[str, ...] = ("gamer", "broadcaster")
    #: ``conversation_eb``: memory in the account's own items (an item 30 items old counts
    #: half), prior weight of its long-run rate (in items), exponent of the clique discount,
    #: and the published bands (quintiles, edges from the scores this many days earlier).
    eb_half_life_items: float = Field(30.0, gt=0)
    eb_own_prior_items: float = Field(10.0, gt=0)
    eb_clique_power: float = Field(2.0, ge=0)
    #: ``conversation_eb``: a replier found in n of the account's threads counts n ** -power in
    #: each (0: every thread fully; 0.5: n threads count sqrt(n) in all).
    eb_repeat_power: float = Field(0.5, ge=0)
    #: ``conversation_eb``: read each item's outcome against the community's mean for its weekday.
    eb_weekday_adjust: bool = True
    eb_n_bands: int = Field(5, ge=1)
    eb_band_refresh_days: float = Field(7.0, gt=0)


def model_params(params: Any) -> ModelParams:
    """Accept a :class:`ModelParams`, the whole params dict, or the ``models`` dict itself."""
    if isinstance(params, ModelParams):
        return params
    if params is None:
        return ModelParams()
    if isinstance(params, dict):
        if "models" in params and isinstance(params["models"], dict | None):
            return section(params, "models", ModelParams)
        known = set(ModelParams.model_fields)
        if set(params) <= known:
            return ModelParams.model_validate(params)
        return ModelParams()
    raise TypeError(f"model params must be ModelParams or dict, got {type(params).__name__}")
