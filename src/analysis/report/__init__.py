"""The report side: ``reports/index.html``, ``reports/methodology.{md,html}``,
``reports/figures/``, ``reports/public/`` and the report's DVC plot data.

One room, each module with one job; the stage ``analysis.stages.report`` reads the files
and calls them:

* :mod:`~analysis.report.frames` and :mod:`~analysis.report.results`: tidy frames from the
  pipeline's data and from the typed stage results (no I/O, no prose; nothing an upstream
  stage computed is recomputed);
* :mod:`~analysis.report.params`: :class:`ReportParams` and the other sections it prints;
* :mod:`~analysis.report.public`: publication tables, small-cell and complementary
  suppression, Markdown tables and the DVC plot data;
* :mod:`~analysis.report.figures`: static figures (kaleido, or plain SVGs without a browser);
* :mod:`~analysis.report.analyst`: the analyst page;
* :mod:`~analysis.report.methodology`: the methodology writeup.

Prose lives in the Jinja2 templates of ``templates/`` (rendered through
:mod:`~analysis.report.fmt`, which also formats every number). Following a report parameter
from ``params.yaml`` to the page: ``analysis.report.params`` (typed) ->
``analysis.stages.report`` (validated once) -> ``analysis.report.analyst`` ->
``templates/index.html.j2``.

Adding a section: a frame function (``frames`` for the pipeline's data, ``results`` for a stage
result) and its line in :func:`~analysis.report.frames.build`; a publication table in
``public.public_tables`` if it is published (and an ``ADDITIVE`` entry if its counts add up to a
total shown elsewhere); a ``Section`` in ``analyst.sections``; its title, caption and note in
``templates/index.html.j2`` (and a paragraph in ``templates/methodology.md.j2``).

The frame functions are re-exported here for the notebooks (``report.weekly_activity(...)``).
"""

from analysis.report.frames import (
    Inputs,
    build,
    experts_by_topic,
    ingest_counts,
    keywords_text,
    privacy_removals,
    topic_coordinates,
    topic_experts,
    topic_table,
    weekly_activity,
)
from analysis.report.params import ReportParams
from analysis.report.results import (
    agreement_frame,
    auc_frame,
    divergence_points,
    effect_frame,
    oot_frame,
    quadrant_table,
    score_agreement,
)

__all__ = [
    "Inputs",
    "ReportParams",
    "agreement_frame",
    "auc_frame",
    "build",
    "divergence_points",
    "effect_frame",
    "experts_by_topic",
    "ingest_counts",
    "keywords_text",
    "oot_frame",
    "privacy_removals",
    "quadrant_table",
    "score_agreement",
    "topic_coordinates",
    "topic_experts",
    "topic_table",
    "weekly_activity",
]
