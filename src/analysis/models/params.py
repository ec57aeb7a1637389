"""Typed ``models`` section of params.yaml, read by the ``score``, ``validate`` and ``explain`` stages.

The section has the knobs every model shares (the scoring date and how time is weighted) and,
under ``scored``, one line per model the pipeline runs: its name and its own params, typed by
the ``Params`` class of its module (``analysis.models.<name>``). A model's own params are read
with :func:`own_params`. A line naming no model fails when the section is loaded; a misspelt
key in a model's line fails where that model runs (its score stage, validate, compare), with
the line, the key and the known keys: checking it earlier would import every model's module.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, Field, ValidationError, field_validator

from analysis.config import SECTIONS, Frozen, section

P = TypeVar("P", bound=BaseModel)

#: The keys of ``models`` the score stage reads besides ``scored`` (dvc.yaml lists exactly
#: these for stage ``score``; a model reads a subset).
SCORE_SHARED_KEYS = ("as_of", "half_life_days", "window_days")


class NoParams(Frozen):
    """The own params of a model that has none (its ``scored`` line is ``{}``)."""


class ModelParams(Frozen):
    """``models``: which influence models run, and how time is weighted."""

    #: Scoring date (UTC). Only activity strictly before it counts. None: last post + 1 s.
    as_of: datetime | None = None
    #: Exponential decay: an action ``half_life_days`` old counts half.
    half_life_days: float = Field(30.0, gt=0)
    #: A hard window instead of decay (Klout used 90 days, PeerIndex 120): every action inside
    #: counts fully, everything older counts nothing. None: decay only.
    window_days: float | None = Field(None, gt=0)
    #: ``validate``: scores at T = as_of - delta against what happens in (T, T + delta].
    validate_delta_days: float = Field(30.0, gt=0)
    #: ``validate`` on the demo: planted roles to recover (positives vs negatives).
    roles_positive: tuple[str, ...] = ("expert", "conversationalist")
    roles_negative: tuple[str, ...] = ("gamer", "broadcaster")
    #: Models scored by the pipeline, in report order (one score file each), each
    #: with its own params (``{}`` = the defaults of its ``Params``). None: every model of the
    #: registry with its defaults.
    scored: dict[str, dict[str, Any]] | None = None

    @field_validator("scored")
    @classmethod
    def _known_models(cls, scored: dict[str, dict[str, Any]] | None) -> Any:
        # Names only: checking a model's own params imports its module, which loading params
        # must not do (own_params checks them where they are read: score, validate, compare).
        from analysis.models import MODELS

        known = MODELS.available()
        for name in scored or {}:
            if name not in known:
                raise ValueError(
                    f"unknown model {name!r} (no module analysis.models.{name}; known models: "
                    f"{', '.join(MODELS)})"
                )
        return scored

    @property
    def names(self) -> tuple[str, ...]:
        """The models scored, in report order."""
        if self.scored is None:
            from analysis.models import MODELS

            return tuple(MODELS)
        return tuple(self.scored)


def own_params(params: ModelParams, name: str, cls: type[P]) -> P:
    """Model ``name``'s own params (its ``models.scored.<name>`` line) as its ``Params``; a
    misspelt or invalid key is a ValueError naming the line, the key and the known keys."""
    try:
        return cls.model_validate((params.scored or {}).get(name) or {})
    except ValidationError as err:
        problems = "; ".join(
            f"'{'.'.join(map(str, e['loc']))}': {e['msg']}" for e in err.errors(include_url=False)
        )
        raise ValueError(
            f"params.yaml models.scored.{name}: {problems} (keys of {name}: "
            f"{', '.join(cls.model_fields) or 'none'})"
        ) from None


def model_params(params: ModelParams | Mapping[str, Any] | None) -> ModelParams:
    """A :class:`ModelParams` from itself, the whole params dict or the ``models`` dict.

    A dict that is neither (no ``models`` key, and keys that are not those of ``models``) is
    an error naming the unknown keys: it is a mistake, never a request for the defaults.
    """
    if isinstance(params, ModelParams):
        return params
    if params is None:
        return ModelParams()
    if isinstance(params, Mapping):
        if "models" in params or (params and set(params) <= set(SECTIONS)):
            return section(dict(params), "models", ModelParams)  # the whole params dict
        unknown = sorted(set(params) - set(ModelParams.model_fields))
        if unknown:
            raise ValueError(
                f"model params: unknown key(s) {', '.join(map(repr, unknown))}; expected the "
                f"whole params dict (sections: {', '.join(SECTIONS)}) or the 'models' section "
                f"itself (keys: {', '.join(ModelParams.model_fields)})"
            )
        return section({"models": dict(params)}, "models", ModelParams)
    raise TypeError(f"model params must be ModelParams or dict, got {type(params).__name__}")
