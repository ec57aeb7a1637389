"""Typed params of the report stage: ``report`` (:class:`ReportParams`) and every other section
the outputs print (:class:`Params`), validated once by the stage.

A key that a section does not declare fails with its name (``analysis.config.section``); a
template that names a value the context lacks fails too (``StrictUndefined``): nothing prints
"n/a" for a typo.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from analysis.config import Frozen, PrivacyParams, SourceParams, section
from analysis.embed import EmbedParams
from analysis.models.params import ModelParams, model_params
from analysis.models.within_thread import ValidateParams


class ReportParams(Frozen):
    """``report``: what the report shows and how figures are exported."""

    title: str = "Resonance: who do people actually talk with?"
    #: Evidence-based experts listed per topic (analyst report only; never published), and
    #: every account tied with the last of them (``frames.topic_experts``).
    experts_per_topic: int = Field(3, ge=1)
    #: Static figures for the methodology: png, svg, or none (kaleido + a headless Chromium).
    figure_format: str = Field("png", pattern="^(png|svg|none)$")
    figure_width: int = Field(900, ge=300)
    figure_scale: float = Field(1.5, gt=0)
    #: Seed of the topic map's layout (metric MDS).
    seed: int = 0


@dataclass(frozen=True)
class Params:
    """The params sections the report's outputs print, typed."""

    report: ReportParams
    source: SourceParams
    privacy: PrivacyParams
    embed: EmbedParams
    models: ModelParams
    validate: ValidateParams

    @classmethod
    def of(cls, params: Mapping[str, Any]) -> Params:
        """Validate every section the outputs print (a misspelt key fails with its name)."""
        p = dict(params)
        return cls(
            report=section(p, "report", ReportParams),
            source=section(p, "source", SourceParams),
            privacy=section(p, "privacy", PrivacyParams),
            embed=section(p, "embed", EmbedParams),
            models=model_params(p),
            validate=section(p, "validate", ValidateParams),
        )

    @property
    def is_simulated(self) -> bool:
        """Is this run on the simulated demo dump alone (the default source)?"""
        from analysis.privacy_keys import is_demo_source

        return is_demo_source(self.source.format, self.source.path) and not self.source.extra
