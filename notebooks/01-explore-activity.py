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
# # 01 Explore: activity
#
# What the ingest kept and removed, and how activity is spread over time. Reads `reports/metrics/ingest.json` and `data/interim/`.

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
ingest = json.loads((ROOT / paths.INGEST_METRICS).read_text())
report.ingest_counts(ingest).pivot(on="outcome", index="table", values="n")

# %% [markdown]
# What the privacy rules removed (minors, opt-outs) and who was merged into the non-participant placeholder. These are the published counts: `null` is a count suppressed because it covers fewer than `privacy.min_cell_k` accounts (the report prints `<k`), kept in the table so that a removal never looks like none; the full counts stay on this machine in `data/interim/ingest_counts.json`.

# %%
report.privacy_removals(ingest).filter((pl.col("n") > 0) | pl.col("n").is_null())

# %%
posts = pl.read_parquet(ROOT / paths.POSTS, columns=["account_id", "created_at"])
reactions = pl.read_parquet(ROOT / paths.REACTIONS, columns=["created_at", "actor_account_id"])
weekly = report.weekly_activity(posts, reactions)
plots.activity_timeline(weekly)

# %%
results = {"n_posts": int(weekly["n_posts"].sum()), "n_weeks": weekly.height,
           "n_participants": ingest["n_participants"]}
print("RESULTS " + json.dumps(results))
