"""Stage ``report``: ``reports/index.html``, ``reports/methodology.{md,html}``, figures, public tables.

Reads whatever the pipeline has produced so far (a missing input leaves its section out, with a
visible note): ``reports/metrics/{ingest,topics,models,compare}.json``, ``data/interim/*.parquet``,
``data/processed/{topics,post_topics,embeddings,account_topics,divergence}.parquet`` and
``data/processed/scores/*.parquet``. Writes

* ``reports/index.html``: the analyst report (pseudonyms allowed, no raw ids, no post text);
* ``reports/methodology.md`` / ``.html``, ``reports/figures/*.png`` and ``reports/public/*.csv``:
  publication mode (aggregates only, cells under ``privacy.min_cell_k`` accounts suppressed),
  checked with ``analysis.publish.publishable_problems`` before anything is written;
* ``reports/plots/report/*.csv``: data of the DVC plots declared in ``dvc.yaml``.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

import polars as pl

from analysis import plots, publish, report, writeup
from analysis.config import PrivacyParams, section
from analysis.io import read_json
from analysis.models import MODELS
from analysis.models.params import model_params
from analysis.templates import index_page

log = logging.getLogger(__name__)

REPORTS = Path("reports")
INTERIM = Path("data/interim")
PROCESSED = Path("data/processed")


class PublicationError(RuntimeError):
    """A publication output would list a pseudonym or quote post text."""


# ---------------------------------------------------------------- reading


def load_inputs(root: Path, params: dict[str, Any]) -> report.Inputs:
    """Read every pipeline output under ``root`` that exists; log what was read, in numbers."""
    inp = report.Inputs(params=params)

    def js(rel: str) -> dict[str, Any] | None:
        path = root / rel
        if not path.exists():
            log.info("absent: %s (its sections are omitted)", rel)
            return None
        inp.read[rel] = None
        return read_json(path)

    def pq(rel: str, columns: list[str] | None = None) -> pl.DataFrame | None:
        path = root / rel
        if not path.exists():
            log.info("absent: %s (its sections are omitted)", rel)
            return None
        df = pl.read_parquet(path, columns=columns)
        inp.read[rel] = df.height
        return df

    inp.ingest = js("reports/metrics/ingest.json")
    inp.topics_metrics = js("reports/metrics/topics.json")
    inp.models_metrics = js("reports/metrics/models.json")
    inp.compare_metrics = js("reports/metrics/compare.json")
    inp.accounts = pq("data/interim/accounts.parquet", ["account_id", "is_participant"])
    inp.posts = pq("data/interim/posts.parquet", ["post_id", "account_id", "created_at", "text"])
    inp.reactions = pq("data/interim/reactions.parquet", ["created_at", "actor_account_id"])
    inp.topics = pq("data/processed/topics.parquet")
    inp.post_topics = pq("data/processed/post_topics.parquet")
    if inp.topics is not None:
        inp.embeddings = pq("data/processed/embeddings.parquet", ["post_id", "embedding"])
    inp.account_topics = pq("data/processed/account_topics.parquet")
    inp.divergence = pq("data/processed/divergence.parquet")
    names = model_params(params).names
    for name in names:
        df = pq(f"data/processed/scores/{name}.parquet", ["account_id", "score", "score_pct"])
        if df is not None:
            inp.scores[name] = df
    log.info(
        "read %d inputs: %s",
        len(inp.read),
        ", ".join(f"{k} ({v:,} rows)" if v is not None else k for k, v in inp.read.items()),
    )
    return inp


# ---------------------------------------------------------------- building


def build(inp: report.Inputs, p: report.ReportParams, k: int) -> dict[str, Any]:
    """Every frame the outputs need (pure: no file is read or written here)."""
    out: dict[str, Any] = {}
    if inp.ingest is not None:
        out["counts"] = report.ingest_counts(inp.ingest)
        rem = report.privacy_removals(inp.ingest)
        # A removed row covers the accounts removed from the same source: that count decides
        # suppression (rejected rows cover at most as many accounts as rows).
        acc = {
            s: (t.get("accounts", {}).get("removed_privacy", 0))
            for s, t in inp.ingest.get("sources", {}).items()
        }
        out["removals"] = rem.with_columns(
            n_accounts=pl.when(pl.col("table") == "accounts")
            .then(pl.col("n"))
            .when(pl.col("rule") == "rejected")
            .then(pl.col("n"))
            .otherwise(pl.col("source").replace_strict(acc, default=0))
            .cast(pl.Int64)
        )
    if inp.posts is not None:
        out["activity"] = report.weekly_activity(inp.posts, inp.reactions)
    if inp.topics is not None:
        out["topics"] = report.topic_table(inp.topics, inp.post_topics, inp.posts)
        out["topic_map"] = report.topic_coordinates(
            report.keywords_text(inp.topics), inp.post_topics, inp.embeddings, p.seed
        )
        if inp.account_topics is not None:
            out["experts"] = report.topic_experts(
                inp.account_topics, inp.topics, p.experts_per_topic
            )
    split = report.split_pct(inp.compare_metrics, p.quadrant_split_pct)
    points, src = report.divergence_points(inp.divergence, inp.scores, split)
    # no follower counts and no views (Usenet): every reach percentile is 50; place nobody
    if ((inp.compare_metrics or {}).get("divergence") or {}).get("reach_missing"):
        out["reach_missing"], points = True, None
    if points is not None:
        out["points"], out["points_source"], out["split_pct"] = points, src, split
    # The counts the compare stage recorded are the metrics (`dvc metrics show`); recount only
    # when it has not run.
    quadrants = report.compare_quadrants(inp.compare_metrics)
    if quadrants is None and points is not None:
        quadrants = report.quadrant_counts(points)
    if quadrants is not None:
        out["quadrants"] = quadrants
    agreement, src = report.agreement_frame(inp.compare_metrics, inp.scores)
    if agreement is not None:
        out["agreement"], out["agreement_source"] = agreement, src
    if inp.models_metrics is not None:
        out["validity_auc"] = report.auc_frame(inp.models_metrics)
        out["validity_oot"] = report.oot_frame(inp.models_metrics)
        out["within_thread"] = report.within_thread_frame(inp.models_metrics)
    for test in ("weekend_off", "gaming"):
        df = report.effect_frame(inp.compare_metrics, test)
        if df is not None:
            out[test] = df
    out["recommended"], out["recommended_reason"] = report.recommended(inp.compare_metrics)
    out["recommendation"] = report.recommendation_table(inp.compare_metrics)
    out["exclusions"] = report.exclusion_table(inp.compare_metrics)
    out["stability"] = report.stability_frame(inp.compare_metrics)
    out["adversaries"] = report.adversary_frame(inp.compare_metrics)
    out["gates"] = report.gates_table(inp.compare_metrics)
    return out


def static_figures(b: dict[str, Any], tables: dict[str, pl.DataFrame], k: int) -> dict[str, Any]:
    """Publication figures (name -> figure), drawn from the suppressed tables only."""
    figs: dict[str, Any] = {}
    if "activity_weekly" in tables:
        figs["activity"] = plots.activity_timeline(tables["activity_weekly"])
    if "topics" in tables:
        t = tables["topics"].filter(~pl.col("is_suppressed"))
        figs["topics"] = plots.topic_sizes(t)
    if "validity_out_of_time" in tables or "validity_planted_roles" in tables:
        auc = tables.get("validity_planted_roles", b["validity_auc"].clear()).drop_nulls("auc")
        oot = tables.get("validity_out_of_time", b["validity_oot"].clear()).drop_nulls("spearman")
        if auc.height or oot.height:
            figs["validity"] = plots.validity_chart(auc, oot)
    if "agreement" in tables:
        figs["agreement"] = plots.agreement_heatmap(tables["agreement"], order=list(MODELS))
    for test, title in (("weekend_off", "Weekends off and time off"), ("gaming", "Gaming")):
        if test in tables and tables[test].drop_nulls("value").height:
            figs[test] = plots.model_bars(
                plots.as_percent(tables[test].drop_nulls("value")),
                title,
                "median change of the percentile score (%)",
            )
    return figs


def export_figures(
    figs: dict[str, Any], folder: Path, p: report.ReportParams
) -> tuple[dict[str, str], str]:
    """Write static figures with kaleido (headless Chromium); returns name -> relative path, note."""
    # The folder always exists (a DVC output), and never keeps figures of an earlier run.
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*"):
        old.unlink()
    if p.figure_format == "none" or not figs:
        (folder / "README.txt").write_text(
            "No static figures in this run (report.figure_format is none, or no input for any).\n"
        )
        return {}, ""
    import plotly.io as pio

    paths = [folder / f"{name}.{p.figure_format}" for name in figs]
    started = time.perf_counter()
    try:
        pio.write_images(
            list(figs.values()),
            paths,
            format=p.figure_format,
            width=p.figure_width,
            scale=p.figure_scale,
        )
    except Exception as exc:  # no browser: plain SVGs drawn from the figures' data instead
        log.warning("kaleido could not run (%s): writing fallback SVGs", exc)
        for path in paths:
            path.unlink(missing_ok=True)
        written = {}
        for name, fig in figs.items():
            svg = writeup.figure_to_svg(fig, p.figure_width)
            if svg is not None:
                (folder / f"{name}.svg").write_text(svg, encoding="utf-8")
                written[name] = f"figures/{name}.svg"
        log.info("wrote %d fallback SVG figures of %d", len(written), len(figs))
        return written, (
            "Static figures in this build are plain SVGs drawn without a browser (kaleido could "
            f"not start a headless Chromium: {type(exc).__name__}); install Chromium "
            "(`make browser`) and re-run for the full figures. The tables carry the same numbers."
        )
    log.info(
        "wrote %d static figures (%s) in %.1f s",
        len(paths),
        p.figure_format,
        time.perf_counter() - started,
    )
    return {name: f"figures/{path.name}" for name, path in zip(figs, paths, strict=True)}, ""


#: DVC plot files of this stage (declared in dvc.yaml) -> their columns.
DVC_PLOTS = {
    "validity_auc.csv": ["model", "auc", "ci_low", "ci_high"],
    "validity_out_of_time.csv": ["model", "spearman_n_repliers_next", "spearman_n_reactions_next"],
    "topic_sizes.csv": ["label", "n_posts", "n_accounts"],
    "activity_weekly.csv": ["week_number", "week", "n_posts", "n_reactions", "n_accounts"],
}


def dvc_plot_data(tables: dict[str, pl.DataFrame], folder: Path) -> list[Path]:
    """CSV files behind the DVC plots this stage declares (publication tables, suppressed rows
    left out). A file is written even when its input is missing (header only), because DVC
    expects every declared plot file."""
    folder.mkdir(parents=True, exist_ok=True)
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
    written = []
    for name, cols in DVC_PLOTS.items():
        df = frames.get(name, pl.DataFrame())
        df = (
            df.select(
                [pl.col(c) if c in df.columns else pl.lit(None, pl.String).alias(c) for c in cols]
            )
            if df.height
            else pl.DataFrame(schema={c: pl.String for c in cols})
        )
        df.write_csv(folder / name)
        written.append(folder / name)
    return written


def public_readme(tables: dict[str, pl.DataFrame], k: int) -> str:
    """What ``reports/public/`` holds and the rule every table follows."""
    lines = [
        "# Resonance: public tables",
        "",
        f"Aggregates only. Every cell covering fewer than k = {k} accounts is empty and its row has "
        "`is_suppressed = true`; no table lists an account or quotes a post. Generated by the "
        "`report` stage with `reports/methodology.md`, from the same run.",
        "",
        *(f"- `{name}.csv`: {df.height} rows" for name, df in tables.items()),
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------- the stage


def write_report(root: Path, params: dict[str, Any]) -> dict[str, Any]:
    """Build and write every report output under ``root``; returns a summary in numbers."""
    started = time.perf_counter()
    p = section(params, "report", report.ReportParams)
    k = section(params, "privacy", PrivacyParams).min_cell_k
    inp = load_inputs(root, params)
    b = build(inp, p, k)
    reports = root / REPORTS

    # Publication first: if anything would leak, nothing is written.
    tables = writeup.public_tables(
        {
            n: b.get(n)
            for n in (
                "activity",
                "removals",
                "topics",
                "quadrants",
                "validity_auc",
                "validity_oot",
                "agreement",
                "weekend_off",
                "gaming",
                "recommendation",
                "exclusions",
                "within_thread",
                "stability",
                "adversaries",
                "gates",
            )
        },
        k,
    )
    figs = static_figures(b, tables, k)
    fig_paths, fig_note = export_figures(figs, reports / "figures", p)
    models = list(model_params(params).names)
    ctx = writeup.WriteupContext(
        params=params,
        k=k,
        ingest=inp.ingest,
        topics_metrics=inp.topics_metrics,
        models_metrics=inp.models_metrics,
        compare_metrics=inp.compare_metrics,
        tables=tables,
        figures=fig_paths,
        figure_note=fig_note,
        recommended=b["recommended"],
        recommended_reason=b["recommended_reason"],
        model_docs=writeup.model_docs(models),
    )
    md = writeup.methodology_markdown(ctx)
    texts = inp.posts["text"].drop_nulls().to_list() if inp.posts is not None else []
    csvs = {name: df.write_csv() for name, df in tables.items()}
    problems = publish.publishable_problems(md + public_readme(tables, k), texts)
    for name, text in csvs.items():
        problems += [f"public/{name}.csv {x}" for x in publish.publishable_problems(text, texts)]
    if problems:
        raise PublicationError(
            "publication outputs are not publishable: " + "; ".join(problems[:5])
        )
    (reports / "public").mkdir(parents=True, exist_ok=True)
    for old in (reports / "public").glob("*"):
        old.unlink()
    for name, text in csvs.items():
        (reports / "public" / f"{name}.csv").write_text(text, encoding="utf-8")
    (reports / "public" / "README.md").write_text(public_readme(tables, k), encoding="utf-8")
    (reports / "methodology.md").write_text(md, encoding="utf-8")
    (reports / "methodology.html").write_text(
        writeup.methodology_html(md, "Resonance methodology"), encoding="utf-8"
    )
    plot_files = dvc_plot_data(tables, reports / "plots" / "report")

    # Analyst report.
    from plotly.offline import get_plotlyjs

    secs = index_page.sections(inp, b, p)
    n_charts = sum(len(s.figures) for s in secs)
    ing = inp.ingest or {}
    subtitle = (
        f"{writeup.num(ing.get('n_participants'))} participants on "
        f"{', '.join(ing.get('platforms', [])) or 'n/a'}, "
        f"{str(ing.get('first_post_at', 'n/a'))[:10]} to {str(ing.get('last_post_at', 'n/a'))[:10]}. "
        "Analyst view: accounts appear as pseudonyms only."
    )
    footer = (
        "Generated by <code>python -m analysis report</code> from: "
        + ", ".join(f"<code>{r}</code>" for r in inp.read)
        + ". Resonance never infers "
        + ", ".join(writeup.NEVER_INFERRED)
        + '. Methodology: <a href="methodology.html">methodology.html</a>.'
    )
    page = index_page.render_index(p.title, subtitle, secs, footer, get_plotlyjs())
    (reports / "index.html").write_text(page, encoding="utf-8")
    summary = {
        "n_inputs_read": len(inp.read),
        "n_sections": len(secs),
        "n_sections_missing": sum(bool(s.missing) for s in secs),
        "n_charts": n_charts,
        "index_mb": round(len(page.encode()) / 1e6, 2),
        "n_public_tables": len(tables),
        "n_suppressed_cells": int(
            sum(
                df["is_suppressed"].sum() for df in tables.values() if "is_suppressed" in df.columns
            )
        ),
        "n_static_figures": len(fig_paths),
        "n_dvc_plot_files": len(plot_files),
        "seconds": round(time.perf_counter() - started, 1),
    }
    log.info(
        "wrote reports/index.html (%s MB, %d sections, %d missing, %d charts), "
        "methodology.md/.html, %d public tables (%d suppressed rows), %d static figures, "
        "%d DVC plot files in %.1f s",
        summary["index_mb"],
        summary["n_sections"],
        summary["n_sections_missing"],
        n_charts,
        summary["n_public_tables"],
        summary["n_suppressed_cells"],
        summary["n_static_figures"],
        summary["n_dvc_plot_files"],
        summary["seconds"],
    )
    return summary


def run(params: dict[str, Any], args: argparse.Namespace) -> int:
    """Render every report from the outputs present in the working directory."""
    for noisy in (
        "kaleido",
        "choreographer",
        "logistro",
    ):  # one INFO line per browser tab otherwise
        logging.getLogger(noisy).setLevel(logging.WARNING)
    write_report(Path("."), params)
    return 0
