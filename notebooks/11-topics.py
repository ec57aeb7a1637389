# ---
# jupyter:
#   jupytext:
#     notebook_metadata_filter: kernelspec,-jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (Resonance .venv)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 11 Method: topics and evidence-based experts
#
# Topics of the posts, their map, and who is credited with each topic by evidence (several posts, several people engaging) rather than by a single post. Reads `data/processed/` from the topics stage.

# %% tags=["parameters"]
root = ".."  # the project folder (pipeline outputs under data/ and reports/)

# %%
import json
from pathlib import Path

import plotly.io as pio
import polars as pl

from analysis import explain, paths, plots, report
from analysis.config import load_params

pio.renderers.default = "notebook"  # inlines plotly.js: figures survive nbconvert --to html
ROOT = Path(root)
params = load_params(ROOT / "params.yaml")

# %%
topics = pl.read_parquet(ROOT / paths.TOPICS)
# each topic's mean vector over its primary posts, summed by the topics stage
means = topics["mean_embedding"].to_numpy()
topic_map = report.topic_coordinates(report.keywords_text(topics.drop("mean_embedding")), means)
plots.topic_map(topic_map)

# %% [markdown]
# Naive attribution (any post counts, as Klout did) against the evidence method:

# %%
account_topics = pl.read_parquet(ROOT / paths.ACCOUNT_TOPICS)
account_topics.group_by("method").agg(pairs=pl.len(), attributed=pl.col("is_attributed").sum())

# %%
experts = report.topic_experts(account_topics, topics, per_topic=3)
plots.topic_experts(experts.head(30))

# %%
results = {"n_topics": topics.height, "n_experts": experts.height,
           "n_attributed_evidence": int(account_topics.filter(pl.col("method") == "evidence")["is_attributed"].sum())}
print("RESULTS " + json.dumps(results))
