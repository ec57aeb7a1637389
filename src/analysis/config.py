"""Typed, frozen views of params.yaml.

Shared sections (``source``, ``privacy``, ``ingest``, ``demo``) are modelled here; a stage's own
section is modelled next to the stage's logic (for example ``TopicsParams`` in ``topics.py``) and
read with :func:`section`, so that adding a knob touches one module and params.yaml only.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from analysis import paths

DEFAULT_PARAMS = Path("params.yaml")
#: The top-level sections of params.yaml, one per stage or shared concern.
SECTIONS = (
    "demo",
    "source",
    "privacy",
    "ingest",
    "embed",
    "models",
    "validate",
    "topics",
    "topic_eval",
    "divergence",
    "compare",
    "report",
    "compute",
)

M = TypeVar("M", bound=BaseModel)


class Frozen(BaseModel):
    """Base for params models: immutable, and unknown keys are an error (typos fail loudly)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class SourceSpec(Frozen):
    """One dump to ingest."""

    format: str = "canonical"
    path: str = paths.DEMO_RAW.as_posix()
    #: Namespace for pseudonyms: the same raw id in two dumps gives two accounts.
    name: str | None = None

    def namespace(self) -> str:
        """The pseudonym namespace of this dump (its name, else format + folder name)."""
        return self.name or f"{self.format}:{Path(self.path).name}"


class SourceParams(SourceSpec):
    """``source``: the primary dump plus any others ingested together."""

    extra: tuple[SourceSpec, ...] = ()
    #: Optional explicit link table (CSV: namespace_a, id_a, namespace_b, id_b) joining accounts
    #: across dumps. Nothing is ever linked without it.
    link_table: str | None = None
    #: Folder of the primary dump's ground truth (``accounts.parquet``, ``posts.parquet``:
    #: planted roles and subjects), read by the evaluation stages only; None: no ground truth.
    #: The demo's is ``data/raw/demo_truth``; a real dump has none.
    truth_path: str | None = None

    @model_validator(mode="after")
    def _truth_belongs_to_source(self) -> SourceParams:
        demo_truth = paths.DEMO_TRUTH.as_posix()
        demo_raw = paths.DEMO_RAW.as_posix()
        truth = None if self.truth_path is None else Path(self.truth_path).as_posix().rstrip("/")
        if truth == demo_truth and Path(self.path).as_posix().rstrip("/") != demo_raw:
            raise ValueError(
                f"source.truth_path is the simulated demo's ground truth ({demo_truth}) but "
                f"source.path is {self.path}: set source.truth_path: null for a real dump"
            )
        return self

    def all(self) -> list[SourceSpec]:
        """Every dump, primary first."""
        return [SourceSpec(format=self.format, path=self.path, name=self.name), *self.extra]


class PrivacyParams(Frozen):
    """``privacy``: keys, opt-outs and publication thresholds."""

    #: ``secret``: the key from ``key_env`` or ``key_file`` (every real dump). ``demo``: the
    #: published ``privacy_keys.DEMO_KEY``, refused for any source but the simulated demo.
    key_source: Literal["secret", "demo"] = "secret"
    key_env: str = "RESONANCE_KEY"
    key_file: str = "~/.config/resonance/key"
    #: Create a key file on first run (with one log line) instead of stopping.
    create_key: bool = True
    opt_out_path: str = "data/optout/opt_out.txt"
    #: Publication outputs suppress every cell that covers fewer than k accounts.
    min_cell_k: int = Field(10, ge=2)
    #: Redact known handles and display names of any account found in post texts.
    redact_known_names: bool = True
    #: Times that leave the machine (reports/public, the writeup, reports/metrics) are
    #: truncated to this resolution (a polars duration: "1h", "1d"): exact times link
    #: pseudonyms to a public copy of the dump.
    time_resolution: str = "1h"


class IngestParams(Frozen):
    """``ingest``: validation limits."""

    #: Stop when more than this share of any table's rows is rejected.
    max_reject_share: float = Field(0.25, ge=0, le=1)
    #: A post whose text is longer than this (in characters) is rejected with its reason: no
    #: real post is that long, and a 50 MB "text" is an attack on the scrubber, not a message.
    max_text_chars: int = Field(100_000, ge=1_000)
    #: How ingest holds the posts' texts, never what it writes (both engines write the same
    #: tables: tests/unit/test_ingest_engines.py). ``memory``: every text at once.
    #: ``streaming``: every decision is taken on the posts without their texts (ids, links,
    #: times, flags), then texts are scrubbed ``batch_rows`` at a time and the posts table is
    #: written from sorted buckets, so memory does not grow with the volume of text. Canonical
    #: Parquet texts, and the platform's measures beside them (views, score, likes...), are
    #: then read from the file in batches; other adapters still read whole.
    #: ``auto``: ``streaming`` for a run of more than ``streaming_above_posts`` posts read (every
    #: dump together), ``memory`` for the others (:meth:`for_posts`).
    engine: Literal["auto", "memory", "streaming"] = "auto"
    #: ``engine: auto``'s size. Streaming takes ~1.5x the memory engine's time at every size
    #: and ~0.6x its peak (synthetic posts of ~100 characters, 2 cores, session 55: 1M 15.6
    #: against 10.1 s, 1.1 against 1.6 GiB; 3M 44 against 30 s, 2.6 against 4.2 GiB; 10M 184
    #: against 124 s, 7.5 against 12.0 GiB): above 5M posts the memory engine's peak (~1.2 GiB
    #: per million short posts) outgrows an ordinary machine's memory first. docs/scaling.md.
    streaming_above_posts: int = Field(5_000_000, ge=0)
    #: Posts whose texts the streaming engine holds at once.
    batch_rows: int = Field(20_000, ge=1)
    #: A run of this many consecutive words (holding a letter) of a post removed for privacy
    #: is cut from every kept text that repeats it (a reply quoting a minor or an erased
    #: person: ``analysis.ingest_quotes``), unless a kept post wrote it before the removed
    #: post did. 8, as the publication check's quotes (``publish.MIN_QUOTE_WORDS``); fewer
    #: cuts more common phrases of other people.
    removed_quote_words: int = Field(8, ge=3)

    def for_posts(self, n_posts: int) -> IngestParams:
        """These params with ``engine`` resolved for a run of ``n_posts`` posts read: ``auto``
        becomes ``streaming`` above ``streaming_above_posts``, ``memory`` at or below it; a
        chosen engine stays. Both write the same tables: only time and memory differ."""
        if self.engine != "auto":
            return self
        engine = "streaming" if n_posts > self.streaming_above_posts else "memory"
        return self.model_copy(update={"engine": engine})


class DemoParams(Frozen):
    """``demo``: the simulated community with planted ground truth."""

    seed: int = 42
    n_accounts: int = Field(200, ge=40)
    n_days: int = Field(120, ge=45)
    start: date = date(2026, 3, 2)
    #: Hidden trait (true influence, drives later adoptions no model reads): correlation of each
    #: account's reply propensity with it, 0..1. None: the planted roles alone (the old demo).
    reply_trait_correlation: float | None = Field(None, ge=0, le=1)
    #: With the trait: spread (log sd) of the per-account reply multiplier, weekend activity
    #: relative to weekdays (every role), and adoptions per post at an average trait.
    reply_spread: float = Field(0.8, ge=0)
    weekend_activity: float = Field(0.6, ge=0, le=1)
    adoptions_per_post: float = Field(0.1, ge=0)
    #: Adoptions grow by exp(trait_effect) per standard deviation of the trait.
    trait_effect: float = Field(1.0, ge=0)
    #: Grid of reply_trait_correlation for the hidden-trait check (analysis.demo_check).
    trait_grid: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)


def load_params(path: Path | str = DEFAULT_PARAMS) -> dict[str, Any]:
    """Read params.yaml as a plain dict."""
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh) or {}


class ParamsError(ValueError):
    """A params.yaml section that does not validate: one line naming the section and the key."""


def _known_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys the model accepts at ``loc`` (the parent of the offending key), when known."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return []
        ann = field.annotation
        inner = [a for a in getattr(ann, "__args__", ()) if isinstance(a, type)]
        current = next(
            (a for a in (ann, *inner) if isinstance(a, type) and issubclass(a, BaseModel)), None
        )
        if current is None:
            return []
    return sorted(getattr(current, "model_fields", {}))


def describe_error(name: str, model: type[BaseModel], err: ValidationError) -> str:
    """One readable line per problem of ``err`` (no pydantic URL), naming section and key."""
    lines = []
    for e in err.errors(include_url=False):
        loc = tuple(e["loc"])
        key = "".join(f"[{x}]" if isinstance(x, int) else f".{x}" for x in loc).lstrip(".")
        where = f"params.yaml section '{name}'"
        if e["type"] == "extra_forbidden":
            known = _known_keys(model, loc[:-1])
            hint = f" (known keys: {', '.join(known)})" if known else ""
            lines.append(f"{where}: unknown key '{key}'{hint}")
        else:
            got = e.get("input")
            shown = f" (got {got!r})" if got is not None and not isinstance(got, dict) else ""
            lines.append(f"{where}, key '{key}': {e['msg']}{shown}")
    return "; ".join(lines)


def params_record(params: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The sections ``names`` of ``params`` as given (what DVC tracks for a stage: a key left
    to its default is absent), in JSON values (a date from YAML as its ISO text). An
    evaluation stage records it in its result, so that the report can tell a frozen result
    computed with other params (``report.freshness.params_changes``)."""
    import json

    return {n: json.loads(json.dumps(params.get(n), default=str, sort_keys=True)) for n in names}


def section(params: dict[str, Any], name: str, model: type[M]) -> M:
    """Validate one section of params into its typed, frozen model (absent -> defaults).

    Raises:
        ParamsError: a key is unknown (a typo such as ``fromat``) or a value is invalid; the
            message names the section, the key and the keys that section knows.
    """
    try:
        return model.model_validate(params.get(name) or {})
    except ValidationError as err:
        raise ParamsError(describe_error(name, model, err)) from None
