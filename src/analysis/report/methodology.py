"""The methodology writeup of the report stage: ``reports/methodology.{md,html}``.

Publication mode: aggregates only, from the public tables (``analysis.report.public``) and the
typed results of the same run. The prose is the template ``templates/methodology.md.j2``; this
module gathers what it prints: the params (typed, :class:`analysis.report.params.Params`: a
misspelt key fails instead of printing "n/a"), the stage results, the rendered tables and the
figures.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from analysis import publish
from analysis.contracts import CompareResult, DivergenceResult, TopicEval, ValidityResult
from analysis.models.params import ModelParams, own_params
from analysis.report import fmt
from analysis.report.freshness import Lag, ParamsChange
from analysis.report.params import Params
from analysis.report.public import md_table

#: Traits Resonance never infers, listed in the methodology and in the report footer.
NEVER_INFERRED = (
    "gender",
    "age",
    "ethnicity",
    "health",
    "politics",
    "religion",
    "sexuality",
    "location",
)


@dataclass
class WriteupContext:
    """What the methodology is written from (all from the same run)."""

    params: Params
    ingest: dict[str, Any] | None
    topics_metrics: dict[str, Any] | None
    validity: ValidityResult | None
    compare: CompareResult | None
    divergence: DivergenceResult | None
    tables: dict[str, pl.DataFrame]
    figures: dict[str, str]  # figure name -> path relative to reports/
    #: the error that kept kaleido from starting a browser ("" when the figures are full); the
    #: writeup says only whether there was one, so both writeups are known before the export
    figure_fallback: str = ""
    #: the topics against ground truth (stage ``topic_eval``); None: not run
    topic_eval: TopicEval | None = None
    #: evaluations computed with other params than params.yaml's now (``report.freshness``)
    params_changed: Sequence[ParamsChange] = ()
    model_docs: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (title, doc)
    #: evaluations (validate, compare) of another date than the scores' (``report.freshness``)
    lags: Sequence[Lag] = ()
    #: the accounts tied at the lowest reach (``results.reach_floor``), None where few tie
    reach_floor: Mapping[str, Any] | None = None


def own_params_line(name: str, module: Any, params: ModelParams) -> str:
    """The sentence naming model ``name``'s own params as this run used them (its
    ``models.scored`` line with the defaults of its ``Params`` filled in), "" when it has none.

    The docstrings name the params (``half_life_items``, ``window_days``) but not their values:
    without this line the writeup never said which were used in the run it describes.
    """
    values = own_params(params, name, module.Params).model_dump()
    if not values:
        return ""

    def show(v: Any) -> str:
        if isinstance(v, bool):
            return str(v).lower()
        return f"{v:g}" if isinstance(v, float) else str(v)

    listed = ", ".join(f"`{k}` = {show(v)}" for k, v in values.items())
    return f"Params of this run (`models.scored.{name}`): {listed}."


def fitted_line(fit: Mapping[str, Any] | None, k: int) -> str:
    """The sentence naming what a model fitted from everyone's data in the score stage
    (``scores.json``'s entry: :mod:`analysis.models.fits`), "" when it fitted nothing.

    A fit over fewer than ``k`` accounts is a statistic of a small group: its values are not
    printed, only that there was one."""
    if not fit:
        return ""
    skip = {"method", "n_accounts"}
    n = int(fit.get("n_accounts") or 0)
    if n < k:
        return f"Fitted at `as_of` over fewer than {k} accounts: its values are not published."
    values = ", ".join(f"`{name}` = {v:.4g}" for name, v in fit.items() if name not in skip)
    return f"Fitted at `as_of` over {n:,} accounts ({fit.get('method', '')}): {values}."


def model_docs(
    names: Sequence[str],
    params: ModelParams | None = None,
    fitted: Mapping[str, Mapping[str, Any]] | None = None,
    k: int = 1,
) -> dict[str, tuple[str, str]]:
    """Each model's plain-language title and its module docstring (the definition and formulas),
    followed, when ``params`` are given, by the values of its own params in this run, and by
    what it fitted from the run's data where ``fitted`` (``scores.json``'s models) holds it
    (the values hidden below ``k`` accounts)."""
    from analysis.models import MODELS

    docs = {}
    for name in names:
        module = MODELS.get(name)
        if module is None:
            continue
        doc = inspect.getdoc(module) or ""
        if name == "network_topic" and "network" in MODELS:
            # Its module defers to network's docstring. Quote only the paragraphs about the
            # topic variant; the graph and the maths are in the network section already, and
            # repeating them made the two sections word-for-word duplicates.
            parts = (inspect.getdoc(MODELS["network"]) or "").split("\n\n")
            own = [x for x in parts[1:] if "network_topic" in x]
            doc = "\n\n".join(
                [
                    doc.replace("; see ``network``.", "."),
                    "The reply graph, its decay and the PageRank iteration are those of "
                    "``network`` (previous section).",
                    *own,
                ]
            )
        lines = [
            own_params_line(name, module, params) if params is not None else "",
            fitted_line((fitted or {}).get(name), k),
        ]
        text = "\n\n".join([doc.strip(), *(x for x in lines if x)])
        docs[name] = (getattr(module, "TITLE", name), text)
    return docs


#: The attribution table for publication: ``topics.json`` holds it suppressed already (the
#: topics stage), one written by an earlier version may not (the function is idempotent).
attribution_counts = publish.attribution_counts


def tag_truth(gt: Mapping[str, Any] | None, k: int) -> dict[str, Any] | None:
    """The Stack Exchange answer-tag check of topic attribution (``TopicEval.answer_tags``,
    stage ``topic_eval``: :func:`analysis.attribution_eval.evaluate_tags`) for publication.

    ``rows``: per method, the answerers it credits and its precision at the cut-off and MAP,
    over them and over the answerers both methods credit (statistics over fewer than ``k``
    answerers hidden); ``paired``: the two methods at the same list length on the same
    answerers, the difference (evidence - naive) with its interval and what it shows
    (``better``, ``worse``, ``no difference shown``, or ``None`` without an interval); hidden
    under ``k`` answerers. ``None`` without the check (no answers in the dump).
    """
    if not gt:
        return None
    rows = []
    common = (gt.get("evidence") or {}).get("n_answerers_credited")
    for method in ("naive", "evidence"):
        r = gt.get(method)
        if not r:
            continue
        n = r.get("n_answerers_credited")
        at = next(
            (
                key
                for key in r
                if key.startswith("precision_at_") and "common" not in key and "interval" not in key
            ),
            "",
        )
        own = n is not None and n >= k
        shared = common is not None and common >= k
        rows.append(
            {
                "method": method,
                "n_answerers": n if own else None,
                "precision": r.get(at) if own else None,
                "precision_interval": r.get(f"{at}_interval") if own else None,
                "map_interval": r.get("map_interval") if own else None,
                "map": r.get("map") if own else None,
                "precision_common": r.get(f"{at}_common") if shared else None,
                "map_common": r.get("map_common") if shared else None,
                "hidden": not own,
                "hidden_common": not shared,
            }
        )
    pa = _shows(gt.get("paired_at_evidence_length"), k)
    popular = dict(gt.get("popular_tags") or {})
    if popular and (popular.get("n_answerers") or 0) < k:
        popular = {"n_answerers": None}
    at_pop = next((key for key in popular if key.startswith("precision_at_")), None)
    if at_pop and not at_pop.endswith("_interval"):
        popular["precision"] = popular.get(at_pop)
        popular["precision_interval"] = popular.get(f"{at_pop}_interval")
    vs = {m: _shows(v, k) for m, v in (gt.get("vs_popular") or {}).items()}
    cutoff = next(
        (
            key.removeprefix("precision_at_")
            for key in gt.get("naive") or {}
            if key.startswith("precision_at_") and "common" not in key and "interval" not in key
        ),
        "k",
    )
    return {
        "n_answerers_with_truth": gt.get("n_answerers_with_truth"),
        # a sample evaluated (topic_eval.max_answerers): its size, else None
        "n_answerers_evaluated": (
            gt.get("n_answerers_evaluated")
            if gt.get("n_answerers_evaluated") not in (None, gt.get("n_answerers_with_truth"))
            else None
        ),
        "cutoff": cutoff,
        "rows": rows,
        "paired": pa or None,
        "labels_out_of_sample": gt.get("topic_labels") == "leave-threads-out",
        "popular": popular or None,
        "vs_popular": vs or None,
    }


def _shows(comparison: Mapping[str, Any] | None, k: int) -> dict[str, Any]:
    """A paired comparison for publication: hidden under ``k`` answerers; ``shows`` what its
    interval shows (``better``, ``worse``, ``no difference shown``; ``None`` without one)."""
    pa = dict(comparison or {})
    if not pa:
        return pa
    if (pa.get("n_answerers") or 0) < k:
        pa = {"n_answerers": None}
    lo, hi = pa.get("ci_low"), pa.get("ci_high")
    pa["shows"] = (
        None
        if lo is None or hi is None
        else "better"
        if lo > 0
        else "worse"
        if hi < 0
        else "no difference shown"
    )
    return pa


def methodology_markdown(ctx: WriteupContext) -> str:
    """The methodology writeup (publication mode) as Markdown."""
    mm = ctx.validity
    return (
        fmt.render(
            "methodology.md.j2",
            p=ctx.params,
            k=ctx.params.privacy.min_cell_k,
            res=ctx.params.privacy.time_resolution,
            ingest=ctx.ingest,
            tm=ctx.topics_metrics,
            attribution=attribution_counts(
                (ctx.topics_metrics or {}).get("attribution") or {},
                ctx.params.privacy.min_cell_k,
                (ctx.ingest or {}).get("n_participants"),
            ),
            demo_truth=publish.demo_truth_counts(
                ctx.topic_eval.demo if ctx.topic_eval is not None else None,
                ctx.params.privacy.min_cell_k,
            ),
            tags=tag_truth(
                ctx.topic_eval.answer_tags if ctx.topic_eval is not None else None,
                ctx.params.privacy.min_cell_k,
            ),
            mm=mm,
            wt=mm.within_thread if mm is not None else {},
            cm=ctx.compare,
            dv=ctx.divergence,
            floor=ctx.reach_floor,
            tables=ctx.tables,
            figures=ctx.figures,
            figure_fallback=ctx.figure_fallback,
            model_docs=ctx.model_docs,
            md_table=md_table,
            never_inferred=NEVER_INFERRED,
            lags=ctx.lags,
            params_changed=ctx.params_changed,
        ).rstrip("\n")
        + "\n"
    )


def methodology_html(markdown_text: str, title: str) -> str:
    """The methodology Markdown rendered as a standalone HTML page (figures linked relatively)."""
    import markdown

    body = markdown.markdown(markdown_text, extensions=["tables", "fenced_code"])
    return fmt.render("methodology.html.j2", title=title, body=body)
