"""Every file and folder the pipeline stages read or write, relative to the project root.

One place for the layout that ``dvc.yaml`` declares: stage code imports these names and never
spells a path itself, and ``tests/unit/test_dvc_wiring.py`` parses ``dvc.yaml`` and checks that
each stage's deps and outs are exactly the paths its code uses. Inputs chosen in params
(``source.path``, ``source.truth_path``, ``privacy.opt_out_path``, ``embed.cache_dir``) are not
here: they come from params.
"""

from __future__ import annotations

from pathlib import Path

# ------------------------------------------------------------------ raw (stage demo)
DEMO_RAW = Path("data/raw/demo")
#: The demo's planted ground truth; read only when ``source.truth_path`` points at it.
DEMO_TRUTH = Path("data/raw/demo_truth")

# ------------------------------------------------------------------ interim (inputs, ingest)
INTERIM = Path("data/interim")
INPUTS = INTERIM / "inputs.json"
ACCOUNTS = INTERIM / "accounts.parquet"
POSTS = INTERIM / "posts.parquet"
REACTIONS = INTERIM / "reactions.parquet"
REJECTS = INTERIM / "rejects.parquet"
INGEST_COUNTS = INTERIM / "ingest_counts.json"  # unsuppressed; stays on the machine
#: The canonical tables by name, as ingest writes them and every later stage reads them.
INTERIM_TABLES = {"accounts": ACCOUNTS, "posts": POSTS, "reactions": REACTIONS}

# ------------------------------------------------------------------ processed
PROCESSED = Path("data/processed")
EMBEDDINGS = PROCESSED / "embeddings"  # one Parquet part per month (stage embed)
#: The fitted topics (stage ``topic_fit``): ``analysis.contracts.TopicFit``.
TOPIC_MODEL = PROCESSED / "topic_model.json"
#: Stage ``topics``' memo of each month's assignment (``analysis.topics_months``): not an
#: output (like the embedding cache, deleting it costs a full pass, never a result).
TOPICS_CACHE = Path("data/cache/topics")
#: Stage ``report``'s memo of the last run's static figures, by what they draw
#: (``analysis.report.figures``): a figure whose data and settings did not change is copied,
#: not drawn again by the browser.
FIGURES_CACHE = Path("data/cache/figures")
#: The memos above: never a dep or an out of a stage (``tests/unit/test_dvc_wiring.py``).
CACHES = (TOPICS_CACHE, FIGURES_CACHE)
TOPICS = PROCESSED / "topics.parquet"
POST_TOPICS = PROCESSED / "post_topics.parquet"
ACCOUNT_TOPICS = PROCESSED / "account_topics.parquet"
#: One ``<model>.parquet`` per model of ``models.scored`` (stage ``score``: the folder).
SCORES = PROCESSED / "scores"
DIVERGENCE = PROCESSED / "divergence.parquet"
CHANGES = PROCESSED / "counterfactual_changes.parquet"
#: The typed results of validate, divergence and compare (``analysis.contracts``).
VALIDITY = PROCESSED / "validity.json"
DIVERGENCE_RESULT = PROCESSED / "divergence.json"
COMPARE_RESULT = PROCESSED / "compare.json"
#: The topics against ground truth (stage ``topic_eval``): ``analysis.contracts.TopicEval``.
TOPIC_EVAL = PROCESSED / "topic_eval.json"
#: The topics stage's three tables by name.
TOPIC_TABLES = {"topics": TOPICS, "post_topics": POST_TOPICS, "account_topics": ACCOUNT_TOPICS}

# ------------------------------------------------------------------ metrics and plot data
METRICS = Path("reports/metrics")
INGEST_METRICS = METRICS / "ingest.json"
TOPICS_METRICS = METRICS / "topics.json"
TOPIC_EVAL_METRICS = METRICS / "topic_eval.json"
MODELS_METRICS = METRICS / "models.json"
SCORES_METRICS = METRICS / "scores.json"
DIVERGENCE_METRICS = METRICS / "divergence.json"
COMPARE_METRICS = METRICS / "compare.json"
DIVERGENCE_PLOTS = Path("reports/plots/divergence")
COMPARE_PLOTS = Path("reports/plots/compare")
REPORT_PLOTS = Path("reports/plots/report")

# ------------------------------------------------------------------ report
REPORTS = Path("reports")
DVC_PLOTS_TEMPLATE = REPORTS / "templates" / "dvc_plots.html"


def score_file(model: str) -> Path:
    """The score file of one model."""
    return SCORES / f"{model}.parquet"
