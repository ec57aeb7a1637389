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
# # 12 Method: influence models and their validity
#
# Every model's scores, how well each predicts next month (and, on the demo, finds the planted roles), and a plain-language explanation of one account. Reads `data/processed/scores/` and the validate stage's typed result `data/processed/validity.json`.

# %% tags=["parameters"]
root = ".."  # the project folder (pipeline outputs under data/ and reports/)

# %%
import json
from pathlib import Path

import plotly.io as pio
import polars as pl

from analysis import contracts, explain, paths, plots, report
from analysis.config import load_params
from analysis.models.params import model_params

pio.renderers.default = "notebook"  # inlines plotly.js: figures survive nbconvert --to html
ROOT = Path(root)
params = load_params(ROOT / "params.yaml")

# %%
names = model_params(params).names
scores = {n: pl.read_parquet(ROOT / paths.score_file(n)) for n in names
          if (ROOT / paths.score_file(n)).exists()}
validity = contracts.load(contracts.ValidityResult, ROOT / paths.VALIDITY)
auc, oot = report.auc_frame(validity), report.oot_frame(validity)
plots.validity_chart(auc, oot)

# %%
agreement = report.score_agreement(scores)
plots.agreement_heatmap(agreement, order=names)

# %% [markdown]
# Why does the top account under `conversation` score what it scores?

# %%
top = scores["conversation"].sort("score", descending=True)["account_id"][0]
text = explain.explain(top, scores, params)
print(text)

# %%
results = {"n_models": len(scores), "n_oot_rows": oot.height,
           "explained_models": sum(f"[{n}]" in text for n in scores)}
print("RESULTS " + json.dumps(results))
