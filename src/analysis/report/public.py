"""Publication tables of the report stage: ``reports/public/*.csv``, the tables of the
methodology writeup and the DVC plot data drawn from them.

Aggregates only. Every cell computed over fewer than ``privacy.min_cell_k`` accounts is
suppressed (:func:`suppress`), and so is a complement wherever a suppressed cell could be
recovered by subtraction from a total or from the cells beside it (complementary suppression,
issue 13 item 8: 472 - 466 - 0 - 0 = 6). :data:`ADDITIVE` names, for each table, the columns
that add up to a total shown elsewhere and the groups within which they add up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from analysis import publish
from analysis.publish import complement
from analysis.report import fmt

#: table -> (the column that decides suppression: accounts a row covers, the additive columns,
#: the columns within whose values those add up to a total shown elsewhere)
ADDITIVE: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    # weekly posts and reactions add up to the run's totals (the writeup prints them)
    "activity_weekly": ("n_accounts", ("n_posts", "n_reactions"), ()),
    # read = accepted + rejected + removed + merged, per source and table
    "privacy_removals": ("n_accounts", ("n",), ("source", "table")),
    # posts per topic add up to the embedded posts
    "topics": ("n_accounts", ("n_posts",), ()),
    # quadrants add up to the accounts placed (the OLS n); shares to 1
    "quadrants": ("n_accounts", ("n_accounts", "share"), ()),
    # planted roles add up to the planted accounts of the AUC (gamers + broadcasters = the
    # negatives): treated as one group with a known total
    "planted_role_rates": ("n_accounts", ("n_accounts",), ()),
}


def suppress(df: pl.DataFrame, name: str, k: int, value_cols: Sequence[str]) -> pl.DataFrame:
    """Suppress table ``name``: rows covering fewer than ``k`` accounts (by its
    :data:`ADDITIVE` size column; a row whose counts are all zero stays) lose ``value_cols``
    and the size; their complements (:func:`complement`) lose the additive columns only (a
    complement covers k accounts or more: its label may show, its count may not).

    ``is_suppressed`` is true on both; renderers print their nulls as ``<k``.
    """
    size, additive, groups = ADDITIVE[name]
    rows = df.to_dicts()
    small = [
        r[size] is None or (r[size] < k and any((r[c] or 0) != 0 for c in additive)) for r in rows
    ]
    hide = complement(rows, small, additive, groups)
    is_small = pl.Series(small, dtype=pl.Boolean)
    is_hidden = pl.Series("is_suppressed", hide, dtype=pl.Boolean)
    cols = dict.fromkeys([*value_cols, size, *additive])
    return df.with_columns(
        *[
            pl.when(is_small | (is_hidden & pl.lit(c in additive)))
            .then(None)
            .otherwise(pl.col(c))
            .alias(c)
            for c in cols
        ],
        is_hidden,
    )


#: seed of the hash that orders the suppressed topics (content only: no key, no size)
TOPIC_ORDER_SEED = 20_240_101


def public_topics(topics: pl.DataFrame, k: int) -> pl.DataFrame:
    """The topic table for publication: :func:`suppress`, then an order that tells nothing.

    Shown rows come first, largest first (ties by label). Suppressed rows and their
    complements come last, ordered by a seeded hash of their label and keywords: kept in their
    place in a table sorted by ``n_posts`` they would be bounded by their neighbours (exactly,
    when those are equal), and the complement's count would follow from the published total.
    ``topic_id`` is left out: the topics stage numbers topics by size (0 = largest), so an id
    ranks a hidden topic as well as its position would.
    """
    t = topics.with_columns(
        pl.col("n_accounts").fill_null(0),
        _h=pl.struct(pl.col("label").cast(pl.String), pl.col("keywords").cast(pl.String)).hash(
            seed=TOPIC_ORDER_SEED
        ),
    )
    s = suppress(t, "topics", k, ["label", "keywords", "n_posts"])
    return s.sort(
        "is_suppressed",
        pl.when(pl.col("is_suppressed")).then(None).otherwise(-pl.col("n_posts")),
        pl.when(pl.col("is_suppressed")).then(pl.col("_h")),
        pl.when(pl.col("is_suppressed")).then(None).otherwise(pl.col("label")),
        nulls_last=True,
    ).drop("_h", "topic_id", strict=False)


def public_tables(frames: Mapping[str, Any], k: int) -> dict[str, pl.DataFrame]:
    """Publication versions of the aggregate tables of :func:`analysis.report.frames.build`.

    Counts are suppressed with their complements (:func:`suppress`); statistics over a small
    group with :func:`analysis.publish.suppress_small_cells` (the counterfactual curves, medians
    over the real accounts altered, among them); model-level fits over every response
    (within-thread, the recommendation) are published as they are.
    """
    out: dict[str, pl.DataFrame] = {}
    f = {name: df for name, df in frames.items() if df is not None}
    if "activity" in f:
        out["activity_weekly"] = suppress(
            f["activity"].with_columns(pl.col("week").cast(pl.String)),
            "activity_weekly",
            k,
            ["n_posts", "n_reactions"],
        )
    if "removals" in f:
        # a null count is one ingest suppressed already (``publish.suppress_ingest_counts``,
        # with its own complements: beer's 1-9 posts cut from quotes): it prints <k, not n/a
        out["privacy_removals"] = (
            suppress(f["removals"], "privacy_removals", k, ["n"])
            .with_columns(pl.col("is_suppressed") | f["removals"]["n"].is_null())
            .sort("source", "table", "rule")
        )
    if "topics" in f:
        out["topics"] = public_topics(f["topics"], k)
    if "quadrants" in f:
        out["quadrants"] = suppress(f["quadrants"], "quadrants", k, ["share"])
    if "planted_role_rates" in f:
        out["planted_role_rates"] = suppress(
            f["planted_role_rates"], "planted_role_rates", k, ["rate", "ci_low", "ci_high"]
        )
    if "validity_auc" in f:
        # positives and negatives apart would be the totals of the planted-role counts (and
        # small ones on their own): the AUC is published over all of them together
        v = f["validity_auc"].select(
            pl.exclude("n_positive", "n_negative"),
            n_accounts=pl.col("n_positive") + pl.col("n_negative"),
        )
        out["validity_planted_roles"] = publish.suppress_small_cells(
            v, "n_accounts", k, ["auc", "ci_low", "ci_high", "auc_experts"]
        )
    if "validity_oot" in f:
        out["validity_out_of_time"] = publish.suppress_small_cells(
            f["validity_oot"],
            "n_accounts",
            k,
            ["spearman", "ci_low", "ci_high", "coef_per_sd", "p_value"],
        )
    if "agreement" in f:
        out["agreement"] = f["agreement"]
    for name in ("weekend_off", "gaming"):
        if name in f:
            out[name] = publish.suppress_small_cells(
                f[name].drop("note", strict=False), "n_accounts", k, ["value"]
            )
    for name in ("recommendation", "exclusions", "within_thread"):
        if name in f:
            out[name] = f[name]
    # the counterfactual curves are medians over a sample of real accounts altered (a ring of
    # 5 members, a small dump's few active accounts): over fewer than k they are hidden as the
    # gaming table hides the ring's gain (the adversary's ring at strength 5 is the same 5
    # accounts and printed the very number the gaming table hid)
    if "stability" in f:
        out["stability"] = publish.suppress_small_cells(
            f["stability"],
            "n_accounts",
            k,
            [c for c in f["stability"].columns if c not in ("scenario", "model", "n_accounts")],
        )
    if "adversaries" in f:
        out["adversaries"] = publish.suppress_small_cells(
            f["adversaries"], "n_targets", k, ["gain", "gain_low", "gain_high"]
        )
    if "gates" in f:
        out["gates"] = f["gates"]
    return out


def md_table(
    df: pl.DataFrame,
    digits: int = 3,
    headers: Mapping[str, str] | None = None,
    bools: tuple[str, str] = ("yes", "no"),
    drop: Sequence[str] = (),
) -> str:
    """A Markdown table for readers.

    A null prints ``<k`` only in a row that was suppressed (``is_suppressed``); elsewhere a
    null is a fit that failed or a number not computed and prints ``n/a``. Booleans print as
    ``bools``, p-values as ``< 0.001``.
    """
    headers = headers or {}
    cols = [c for c in df.columns if c != "is_suppressed" and c not in drop]
    flags = (
        df["is_suppressed"].fill_null(False).to_list()
        if "is_suppressed" in df.columns
        else [False] * df.height
    )
    lines = [
        "| " + " | ".join(headers.get(c, c) for c in cols) + " |",
        "|" + "|".join("---" for _ in cols) + "|",
    ]
    for row, suppressed in zip(df.select(cols).iter_rows(), flags, strict=True):
        cells = (
            fmt.show(c, v, suppressed, digits, bools).replace("|", "/")
            for c, v in zip(cols, row, strict=True)
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


#: DVC plot files of the report stage (declared in dvc.yaml) -> their columns.
DVC_PLOTS = {
    "validity_auc.csv": ["model", "auc", "ci_low", "ci_high"],
    "validity_out_of_time.csv": ["model", "spearman_n_repliers_next", "spearman_n_reactions_next"],
    "topic_sizes.csv": ["label", "n_posts", "n_accounts"],
    "activity_weekly.csv": ["week_number", "week", "n_posts", "n_reactions", "n_accounts"],
}


def dvc_plot_frames(tables: Mapping[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """The data behind the DVC plots (publication tables, suppressed rows left out). Every
    declared file is present (header only when its input is missing): DVC expects them all."""
    frames: dict[str, pl.DataFrame] = {}
    if "validity_planted_roles" in tables:
        frames["validity_auc.csv"] = tables["validity_planted_roles"].filter(
            ~pl.col("is_suppressed")
        )
    if "validity_out_of_time" in tables:
        oot = tables["validity_out_of_time"].filter(~pl.col("is_suppressed"))
        if oot.height:
            frames["validity_out_of_time.csv"] = oot.pivot(
                on="outcome", index="model", values="spearman"
            ).rename(lambda c: c if c == "model" else f"spearman_{c}")
    if "topics" in tables:
        frames["topic_sizes.csv"] = tables["topics"].filter(~pl.col("is_suppressed"))
    if "activity_weekly" in tables:
        # DVC's linear template needs a numeric x: weeks are numbered from the first one.
        frames["activity_weekly.csv"] = (
            tables["activity_weekly"]
            .with_row_index("week_number", offset=1)
            .filter(~pl.col("is_suppressed"))
        )
    out = {}
    for name, cols in DVC_PLOTS.items():
        df = frames.get(name, pl.DataFrame())
        out[name] = (
            df.select(
                [pl.col(c) if c in df.columns else pl.lit(None, pl.String).alias(c) for c in cols]
            )
            if df.height
            else pl.DataFrame(schema={c: pl.String for c in cols})
        )
    return out


def write_dvc_plot_data(tables: Mapping[str, pl.DataFrame], folder: Path) -> list[Path]:
    """Write :func:`dvc_plot_frames` as CSV files under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, df in dvc_plot_frames(tables).items():
        df.write_csv(folder / name)
        written.append(folder / name)
    return written


def readme(
    tables: Mapping[str, pl.DataFrame],
    k: int,
    lags: Sequence[Any] = (),
    res: str = "1d",
    params_changed: Sequence[Any] = (),
) -> str:
    """``reports/public/README.md``: what the folder holds and the rule every table follows.

    ``lags``: evaluation results of another date than the scores' (``freshness.Lag``, e.g.
    validate and compare frozen): the tables they feed say so here too, as the writeup does (a
    reader of the folder alone took a frozen evaluation for the run's); dates at ``res``
    (``privacy.time_resolution``). ``params_changed``: those computed with other params
    (``freshness.ParamsChange``)."""
    heights = {n: df.height for n, df in tables.items()}
    return fmt.render(
        "public_readme.md.j2",
        k=k,
        tables=heights,
        lags=lags,
        res=res,
        params_changed=params_changed,
    )
