"""Write the narrative notebooks of ``notebooks/`` (without outputs) from the cells below.

Run ``python notebooks/make_notebooks.py`` after editing a cell here; the notebooks are committed
without outputs. Each has one cell tagged ``parameters`` (papermill injects ``root``, the project
folder) and ends by printing one ``RESULTS {...}`` JSON line that tests/notebooks checks.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

PARAMS = 'root = ".."  # the project folder (pipeline outputs under data/ and reports/)'

SETUP = """import json
from pathlib import Path

import plotly.io as pio
import polars as pl

from analysis import explain, plots, report
from analysis.config import load_params

pio.renderers.default = "notebook"  # inlines plotly.js: figures survive nbconvert --to html
ROOT = Path(root)
params = load_params(ROOT / "params.yaml")"""

NOTEBOOKS: dict[str, list[tuple[str, str]]] = {
    "01-explore-activity.ipynb": [
        (
            "md",
            "# 01 Explore: activity\n\nWhat the ingest kept and removed, and how activity is spread "
            "over time. Reads `reports/metrics/ingest.json` and `data/interim/`.",
        ),
        ("params", PARAMS),
        ("code", SETUP),
        (
            "code",
            'ingest = json.loads((ROOT / "reports/metrics/ingest.json").read_text())\n'
            'report.ingest_counts(ingest).pivot(on="outcome", index="table", values="n")',
        ),
        (
            "md",
            "What the privacy rules removed (minors, opt-outs) and who was merged into the "
            "non-participant placeholder:",
        ),
        ("code", 'report.privacy_removals(ingest).filter(pl.col("n") > 0)'),
        (
            "code",
            'posts = pl.read_parquet(ROOT / "data/interim/posts.parquet", columns=["account_id", "created_at"])\n'
            'reactions = pl.read_parquet(ROOT / "data/interim/reactions.parquet", columns=["created_at", "actor_account_id"])\n'
            "weekly = report.weekly_activity(posts, reactions)\n"
            "plots.activity_timeline(weekly)",
        ),
        (
            "code",
            'results = {"n_posts": int(weekly["n_posts"].sum()), "n_weeks": weekly.height,\n'
            '           "n_participants": ingest["n_participants"]}\n'
            'print("RESULTS " + json.dumps(results))',
        ),
    ],
    "11-topics.ipynb": [
        (
            "md",
            "# 11 Method: topics and evidence-based experts\n\nTopics of the posts, their map, and "
            "who is credited with each topic by evidence (several posts, several people engaging) "
            "rather than by a single post. Reads `data/processed/` from the topics stage.",
        ),
        ("params", PARAMS),
        ("code", SETUP),
        (
            "code",
            'topics = pl.read_parquet(ROOT / "data/processed/topics.parquet")\n'
            'post_topics = pl.read_parquet(ROOT / "data/processed/post_topics.parquet")\n'
            'embeddings = pl.read_parquet(ROOT / "data/processed/embeddings.parquet", columns=["post_id", "embedding"])\n'
            "topic_map = report.topic_coordinates(report.keywords_text(topics), post_topics, embeddings)\n"
            "plots.topic_map(topic_map)",
        ),
        ("md", "Naive attribution (any post counts, as Klout did) against the evidence method:"),
        (
            "code",
            'account_topics = pl.read_parquet(ROOT / "data/processed/account_topics.parquet")\n'
            'account_topics.group_by("method").agg(pairs=pl.len(), attributed=pl.col("is_attributed").sum())',
        ),
        (
            "code",
            "experts = report.topic_experts(account_topics, topics, per_topic=3)\n"
            "plots.topic_experts(experts.head(30))",
        ),
        (
            "code",
            'results = {"n_topics": topics.height, "n_experts": experts.height,\n'
            '           "n_attributed_evidence": int(account_topics.filter(pl.col("method") == "evidence")["is_attributed"].sum())}\n'
            'print("RESULTS " + json.dumps(results))',
        ),
    ],
    "12-influence-models.ipynb": [
        (
            "md",
            "# 12 Method: influence models and their validity\n\nEvery model's scores, how well each "
            "predicts next month and finds the planted roles, and a plain-language explanation of "
            "one account. Reads `data/processed/scores/` and `reports/metrics/models.json`.",
        ),
        ("params", PARAMS),
        ("code", SETUP),
        (
            "code",
            'names = params["models"]["names"]\n'
            'scores = {n: pl.read_parquet(ROOT / f"data/processed/scores/{n}.parquet") for n in names\n'
            '          if (ROOT / f"data/processed/scores/{n}.parquet").exists()}\n'
            'validity = json.loads((ROOT / "reports/metrics/models.json").read_text())\n'
            "auc, oot = report.auc_frame(validity), report.oot_frame(validity)\n"
            "plots.validity_chart(auc, oot)",
        ),
        (
            "code",
            "agreement, source = report.agreement_frame(None, scores)\n"
            "plots.agreement_heatmap(agreement, order=names)",
        ),
        ("md", "Why does the top account under `conversation` score what it scores?"),
        (
            "code",
            'top = scores["conversation"].sort("score", descending=True)["account_id"][0]\n'
            "text = explain.explain(top, scores, params)\n"
            "print(text)",
        ),
        (
            "code",
            'results = {"n_models": len(scores), "n_oot_rows": oot.height,\n'
            '           "explained_models": sum(f"[{n}]" in text for n in scores)}\n'
            'print("RESULTS " + json.dumps(results))',
        ),
    ],
    "13-reach-vs-conversation.ipynb": [
        (
            "md",
            "# 13 Method: reach versus conversation\n\nAn audience is not a conversation: where "
            "each account stands on reach and on conversation, and how the quadrants fill. Reads "
            "`data/processed/divergence.parquet` (compare stage) or, before it has run, the score files.",
        ),
        ("params", PARAMS),
        ("code", SETUP),
        (
            "code",
            'div_path = ROOT / "data/processed/divergence.parquet"\n'
            "divergence = pl.read_parquet(div_path) if div_path.exists() else None\n"
            'scores = {n: pl.read_parquet(ROOT / f"data/processed/scores/{n}.parquet") for n in ("reach", "conversation")}\n'
            "points, source = report.divergence_points(divergence, scores, 50.0)\n"
            'print("source:", source)\n'
            "plots.reach_vs_conversation(points)",
        ),
        ("code", "quadrants = report.quadrant_counts(points)\nquadrants"),
        (
            "code",
            'results = {"n_accounts": points.height, "n_quadrants": quadrants.height,\n'
            '           "quadrant_total": int(quadrants["n_accounts"].sum())}\n'
            'print("RESULTS " + json.dumps(results))',
        ),
    ],
}


def build(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    """A notebook without outputs; the ``params`` cell is tagged ``parameters``."""
    nb = new_notebook()
    for kind, src in cells:
        if kind == "md":
            nb.cells.append(new_markdown_cell(src))
        else:
            cell = new_code_cell(src)
            if kind == "params":
                cell.metadata["tags"] = ["parameters"]
            nb.cells.append(cell)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (Resonance .venv)",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    for i, cell in enumerate(nb.cells):  # stable ids: regenerating gives no diff
        cell["id"] = f"cell-{i:02d}"
    return nb


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        nbformat.write(build(cells), HERE / name)


if __name__ == "__main__":
    main()
