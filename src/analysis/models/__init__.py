"""Influence models, one module per model, all behind ``analysis.models.base.Model``.

Each module exposes ``NAME``, ``TITLE`` (plain-language), ``UNIT``, ``COMPONENTS`` (component
column -> what it counts) and ``score(tables, params, as_of) -> DataFrame``.
"""

from __future__ import annotations

from types import ModuleType

from analysis.models import (
    conversation,
    conversation_eb,
    conversation_rate,
    engagement,
    klout_like,
    network,
    network_topic,
    reach,
    volume,
)

#: Model name -> module, in the order reports list them (naive first, ours last).
MODELS: dict[str, ModuleType] = {
    m.NAME: m
    for m in (
        volume,
        reach,
        klout_like,
        engagement,
        conversation,
        network,
        network_topic,
        conversation_rate,
        conversation_eb,
    )
}


def get(name: str) -> ModuleType:
    """The model module called ``name``; a clear error listing the known ones otherwise."""
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(MODELS)}") from None
