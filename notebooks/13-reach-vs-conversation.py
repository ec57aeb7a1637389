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
# # 13 Method: reach versus conversation
#
# An audience is not a conversation: where each account stands on reach and on conversation, and how the quadrants fill. Reads `data/processed/divergence.parquet` and `divergence.json` (the divergence stage).

# %% tags=["parameters"]
root = ".."  # the project folder (pipeline outputs under data/ and reports/)

# %%
import json
from pathlib import Path

import plotly.io as pio
import polars as pl

from analysis import contracts, paths, plots, report
from analysis.config import load_params

pio.renderers.default = "notebook"  # inlines plotly.js: figures survive nbconvert --to html
ROOT = Path(root)
params = load_params(ROOT / "params.yaml")

# %%
divergence = pl.read_parquet(ROOT / paths.DIVERGENCE)
split = contracts.load(contracts.DivergenceResult, ROOT / paths.DIVERGENCE_RESULT)
points = report.divergence_points(divergence)
plots.reach_vs_conversation(points, split.thresholds_pct["reach"])

# %%
quadrants = report.quadrant_table(split)
quadrants

# %%
results = {"n_accounts": points.height, "n_quadrants": quadrants.height,
           "quadrant_total": int(quadrants["n_accounts"].sum())}
print("RESULTS " + json.dumps(results))
