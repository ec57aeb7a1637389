"""Publication mode of the report stage: the methodology writeup and the public tables.

* :func:`public_tables`: aggregates only, every cell covering fewer than ``privacy.min_cell_k``
  accounts suppressed with ``analysis.publish.suppress_small_cells``, no pseudonyms, no post text;
* :func:`methodology_markdown` / :func:`methodology_html`: ``reports/methodology.{md,html}``.

Every number of the methodology is read from the metrics JSON of the same run and printed with
:func:`num`, so that it equals what ``dvc metrics show`` prints (tests check this). The analyst
page (``reports/index.html``) is in ``analysis.templates.index_page``.
"""

from __future__ import annotations

import html
import inspect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from analysis import publish

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


def num(x: Any, digits: int = 3) -> str:
    """A number as the writeup prints it: integers with thousands separators, floats rounded to
    ``digits`` decimals (scientific below 0.001), missing values as ``n/a``."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if isinstance(x, bool):
        return str(x).lower()
    if isinstance(x, int):
        return f"{x:,}"
    if x != 0 and abs(x) < 10**-digits:
        return f"{x:.2e}"
    return f"{x:.{digits}f}"


def pval(x: Any) -> str:
    """A p-value as readers read it: ``< 0.001`` below 0.001 (not 2.25e-83), else 3 decimals."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return "< 0.001" if x < 0.001 else f"{x:.3f}"


def ordinal(x: Any) -> str:
    """A percentile as an ordinal: ``50th``, ``90th``, ``33rd``, ``97.5th`` (never ``50.0th``)."""
    if x is None:
        return "n/a"
    v = float(x)
    if not v.is_integer():
        return f"{v:g}th"
    n = int(v)
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def verdict(x: Any) -> str:
    """A gate's boolean as a reader reads it: ``pass`` / ``fail`` (never ``true`` / ``false``)."""
    return "n/a" if x is None else "pass" if x else "fail"


def cell(x: Any, digits: int = 3) -> str:
    """A table cell: like :func:`num`, but a suppressed (null) count prints ``<k``."""
    return publish.SUPPRESSED if x is None else num(x, digits) if not isinstance(x, str) else x


#: what a null prints in a row that was not suppressed: a fit that failed or was not computed
NOT_COMPUTED = "n/a"


def _is_p(col: str) -> bool:
    return col in ("p", "p_value", "pvalue") or col.endswith("_p_value")


# ---------------------------------------------------------------- publication: tables


def suppress(
    df: pl.DataFrame, n_col: str, k: int, value_cols: Sequence[str] | None = None
) -> pl.DataFrame:
    """:func:`analysis.publish.suppress_small_cells` (the one place publication suppresses)."""
    return publish.suppress_small_cells(df, n_col, k, value_cols)


def public_tables(frames: Mapping[str, pl.DataFrame | None], k: int) -> dict[str, pl.DataFrame]:
    """Publication versions of the aggregate tables, each with ``is_suppressed``.

    ``frames`` keys (each optional): ``activity`` (week, n_posts, n_reactions, n_accounts),
    ``removals`` (source, table, rule, n, n_accounts), ``topics`` (topic_id, label, keywords,
    n_posts, n_accounts), ``quadrants`` (quadrant, n_accounts), ``validity_auc``,
    ``validity_oot``, ``agreement``, ``weekend_off``, ``gaming``.
    """
    out: dict[str, pl.DataFrame] = {}
    f = {name: df for name, df in frames.items() if df is not None}
    if "activity" in f:
        out["activity_weekly"] = suppress(
            f["activity"].with_columns(pl.col("week").cast(pl.String)),
            "n_accounts",
            k,
            ["n_posts", "n_reactions"],
        )
    if "removals" in f:
        # A zero says that nobody was removed: it covers no one, so it is shown, not suppressed.
        r = f["removals"]
        # Complementary suppression: one hidden cell beside visible ones of the same total
        # would be recovered by subtraction.
        out["privacy_removals"] = publish.complementary_suppression(
            pl.concat(
                [
                    suppress(r.filter(pl.col("n") > 0), "n_accounts", k, ["n"]),
                    r.filter(pl.col("n") == 0).with_columns(is_suppressed=pl.lit(False)),
                ]
            ),
            ["source", "table"],
            "n",
        ).sort("source", "table", "rule")
    if "topics" in f:
        t = f["topics"].with_columns(pl.col("n_accounts").fill_null(0))
        out["topics"] = suppress(t, "n_accounts", k, ["label", "keywords", "n_posts"])
    if "quadrants" in f:
        out["quadrants"] = suppress(
            f["quadrants"], "n_accounts", k
        )  # share too: it gives the count away
    if "validity_auc" in f:
        v = f["validity_auc"].with_columns(n_accounts=pl.col("n_positive") + pl.col("n_negative"))
        out["validity_planted_roles"] = suppress(
            v, "n_accounts", k, ["auc", "ci_low", "ci_high", "auc_experts"]
        )
    if "validity_oot" in f:
        out["validity_out_of_time"] = suppress(
            f["validity_oot"],
            "n_accounts",
            k,
            ["spearman", "ci_low", "ci_high", "coef_per_sd", "p_value"],
        )
    if "agreement" in f:
        out["agreement"] = f["agreement"]
    for name in ("weekend_off", "gaming"):
        if name in f:
            out[name] = suppress(f[name].drop("note", strict=False), "n_accounts", k, ["value"])
    # model-level, over all scored accounts (fits over hundreds of responses, not small cells)
    for name in (
        "recommendation",
        "exclusions",
        "within_thread",
        "stability",
        "adversaries",
        "gates",
    ):
        if name in f:
            out[name] = f[name]
    return out


def show(
    col: str, v: Any, suppressed: bool, digits: int = 3, bools: tuple[str, str] = ("yes", "no")
) -> str:
    """One table cell of column ``col``: ``<k`` only if the row was suppressed, ``n/a`` for any
    other null (a failed fit), booleans as ``bools``, p-values as ``< 0.001``."""
    if v is None:
        return publish.SUPPRESSED if suppressed else NOT_COMPUTED
    if isinstance(v, bool):
        return bools[0] if v else bools[1]
    if _is_p(col) and isinstance(v, float | int):
        return pval(v)
    return cell(v, digits)


def md_table(
    df: pl.DataFrame,
    digits: int = 3,
    headers: Mapping[str, str] | None = None,
    bools: tuple[str, str] = ("yes", "no"),
) -> str:
    """A Markdown table for readers.

    A null prints ``<k`` only in a row that was suppressed (``is_suppressed``); elsewhere a
    null is a fit that failed or a number not computed and prints ``n/a``. Booleans print as
    ``bools`` (gate tables pass ``("pass", "fail")``), p-values as ``< 0.001``.
    """
    headers = headers or {}
    cols = [c for c in df.columns if c != "is_suppressed"]
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
            show(c, v, suppressed, digits, bools).replace("|", "/")
            for c, v in zip(cols, row, strict=True)
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------- publication: methodology


@dataclass
class WriteupContext:
    """What the methodology is written from (all from the same run)."""

    params: dict[str, Any]
    k: int
    ingest: dict[str, Any] | None
    topics_metrics: dict[str, Any] | None
    models_metrics: dict[str, Any] | None
    compare_metrics: dict[str, Any] | None
    tables: dict[str, pl.DataFrame]
    figures: dict[str, str]  # figure name -> path relative to reports/
    figure_note: str = ""
    recommended: str | None = None
    recommended_reason: str = ""
    model_docs: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (title, doc)


def model_docs(names: Sequence[str]) -> dict[str, tuple[str, str]]:
    """Each model's plain-language title and its module docstring (the definition and formulas)."""
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
        docs[name] = (getattr(module, "TITLE", name), doc)
    return docs


def _fig(ctx: WriteupContext, name: str, alt: str) -> str:
    path = ctx.figures.get(name)
    return f"\n![{alt}]({path})\n" if path else ""


def _time_resolution(ctx: WriteupContext) -> str:
    """``privacy.time_resolution`` of the run (times in the writeup are truncated to it)."""
    return str((ctx.params.get("privacy") or {}).get("time_resolution") or "1h")


def _data_section(ctx: WriteupContext) -> list[str]:
    ing, src = ctx.ingest, ctx.params.get("source", {})
    res = _time_resolution(ctx)
    out = ["## 1. Data and provenance", ""]
    if ing is None:
        return [
            *out,
            "_The ingest metrics (`reports/metrics/ingest.json`) are missing: run the ingest stage._",
            "",
        ]
    t = ing.get("totals", {})
    out += [
        f"- Source: format `{src.get('format', 'n/a')}`, dump `{src.get('name') or 'n/a'}`"
        + (f", plus {len(src.get('extra') or [])} more dump(s)" if src.get("extra") else "")
        + ".",
        f"- Platforms: {', '.join(ing.get('platforms', [])) or 'n/a'}.",
        f"- Period: first post {publish.coarsen_time(ing.get('first_post_at', 'n/a'), res)}, "
        f"last post {publish.coarsen_time(ing.get('last_post_at', 'n/a'), res)} (UTC, to "
        f"`privacy.time_resolution` = {res}).",
        f"- Participants (accounts studied): {num(ing.get('n_participants'))}.",
        f"- Rows accepted: {num(t.get('accounts', {}).get('accepted'))} accounts, "
        f"{num(t.get('posts', {}).get('accepted'))} posts, {num(t.get('reactions', {}).get('accepted'))} reactions "
        f"(read: {num(t.get('posts', {}).get('read'))} posts, {num(t.get('reactions', {}).get('read'))} reactions).",
        "",
        "Every number in this document is read from `reports/metrics/*.json` of the same run "
        "(`dvc metrics show` prints the same values) and from `params.yaml`.",
        _fig(ctx, "activity", "Posts and reactions per week"),
    ]
    if "activity_weekly" in ctx.tables:
        n_sup = int(ctx.tables["activity_weekly"]["is_suppressed"].sum())
        out.append(
            f"Weeks with fewer than {ctx.k} active accounts are suppressed: {n_sup} of "
            f"{ctx.tables['activity_weekly'].height} (table `public/activity_weekly.csv`)."
        )
    return [*out, ""]


def _privacy_section(ctx: WriteupContext) -> list[str]:
    pv = ctx.params.get("privacy", {})
    out = [
        "## 2. Privacy rules and what they removed",
        "",
        "- Every account id is replaced by a keyed pseudonym (HMAC with a key kept outside the "
        "project); raw ids and handles never reach `data/interim`.",
        "- Accounts flagged as minors are removed with everything they wrote, and so is every "
        f"account on the opt-out list (`{pv.get('opt_out_path', 'n/a')}`).",
        "- Handles, e-mail addresses, URLs, phone numbers"
        + (" and the known names of accounts" if pv.get("redact_known_names", True) else "")
        + " are scrubbed from post texts before anything else reads them.",
        "- People who are not participants (for example, replied-to accounts outside the dump) are "
        "merged into one placeholder that is never scored.",
        f"- Publication (this document, `reports/public/`) shows aggregates only; every cell covering "
        f"fewer than k = {ctx.k} accounts is suppressed and printed as `{publish.SUPPRESSED}`.",
        "",
    ]
    if ctx.ingest is not None:
        out += [f"Opt-out entries: {num(ctx.ingest.get('n_opt_out_entries'))}.", ""]
    if "privacy_removals" in ctx.tables:
        out += [
            "What the rules removed (rows; a count whose removed accounts number fewer than k "
            "is suppressed):",
            "",
            md_table(ctx.tables["privacy_removals"].drop("n_accounts")),
            "",
        ]
    reasons = (ctx.ingest or {}).get("reject_reasons") or []
    out += [
        f"Rows rejected as malformed, by reason: {len(reasons)} reason(s) recorded"
        + ("." if not reasons else " (see `reports/metrics/ingest.json`)."),
        "",
    ]
    return out


def _topics_section(ctx: WriteupContext) -> list[str]:
    tm = ctx.topics_metrics
    out = ["## 3. Topics", ""]
    if tm is None:
        return [
            *out,
            "_Topic metrics (`reports/metrics/topics.json`) are missing: the topics stage has not run._",
            "",
        ]
    vs = tm.get("vs_labels") or {}
    out += [
        f"- Method: `{tm.get('method')}` on sentence embeddings ({ctx.params.get('embed', {}).get('model', 'n/a')}), "
        f"{num(tm.get('n_topics'))} topics over {num(tm.get('n_posts_embedded'))} embedded posts.",
        f"- Stability (mean pairwise ARI over seeds): {num(tm.get('stability_mean_pairwise_ari'))}; "
        f"topic diversity: {num(tm.get('topic_diversity'))}; outlier share: {num(tm.get('outlier_share'))}.",
        f"- Agreement with the dump's own labels: NMI {num(vs.get('nmi'))}, ARI {num(vs.get('ari'))}.",
        "",
    ]
    att = tm.get("attribution") or {}
    if att:
        out += [
            "Topic attribution: the naive method credits any post (what Klout did); the "
            "evidence method needs several posts and several distinct people engaging with them.",
            "",
            "| method | account-topic pairs | attributed | accounts attributed |",
            "|---|---|---|---|",
        ]
        out += [
            f"| {m} | {num(a.get('n_pairs'))} | {num(a.get('n_attributed'))} | {num(a.get('n_accounts_attributed'))} |"
            for m, a in att.items()
        ]
        out.append("")
    gt = tm.get("ground_truth_demo") or {}
    if gt:
        out += [
            "On the simulated demo, against its planted subjects:",
            "",
            "| method | precision | one-off posters attributed | expert subject recall |",
            "|---|---|---|---|",
        ]
        out += [
            f"| {m} | {num(gt[m].get('precision'))} | {num(gt[m].get('one_off_attributed_rate'))} | "
            f"{num(gt[m].get('expert_subject_recall'))} |"
            for m in ("naive", "evidence")
            if m in gt
        ]
        out.append("")
    out.append(_fig(ctx, "topics", "Topic sizes"))
    if "topics" in ctx.tables:
        out += [
            f"Topics with fewer than {ctx.k} distinct authors are suppressed (label and keywords too).",
            "",
            md_table(ctx.tables["topics"].drop("topic_id"), headers={"n_accounts": "n_authors"}),
            "",
        ]
    return out


def _models_section(ctx: WriteupContext) -> list[str]:
    mp = ctx.params.get("models", {})
    res = _time_resolution(ctx)
    out = [
        "## 4. Influence models",
        "",
        f"Every model scores each participant at `as_of` "
        f"({publish.coarsen_time((ctx.models_metrics or {}).get('as_of'), res) or mp.get('as_of') or 'last post + 1 s'}). "
        f"Activity is weighted by age with a half-life of {num(mp.get('half_life_days'))} days"
        + (
            f", within a hard window of {num(mp.get('window_days'))} days"
            if mp.get("window_days")
            else ""
        )
        + ". The first models are naive baselines; the last ones are ours.",
        "",
    ]
    for name, (title, doc) in ctx.model_docs.items():
        out += [f"### {title} (`{name}`)", "", doc.strip(), ""]
    return out


def _verdict_text(v: Mapping[str, Any] | None) -> str:
    return {
        "holds": "holds (paired intervals above zero)",
        "reversed": "is reversed (a paired interval below zero)",
        "inconclusive": "is inconclusive (paired intervals include zero)",
        "untestable": "cannot be tested on this data",
    }.get((v or {}).get("verdict", "untestable"), "cannot be tested on this data")


def _within_thread_lines(ctx: WriteupContext, mm: Mapping[str, Any]) -> list[str]:
    """The headline validity test, its numbers and what holds or does not."""
    wt = mm.get("within_thread") or {}
    from analysis.config import section
    from analysis.models.within_thread import ValidateParams

    vp = section(ctx.params, "validate", ValidateParams)
    out = [
        "**The headline test: competition within threads.** At "
        f"{len(wt.get('origins') or [])} rolling scoring dates T (after the first "
        f"{num(100 * vp.history_share, 0)} % of the dump's responses; windows of equal numbers of "
        "responses follow), every model scores every "
        "account from activity before T only (export-time totals such as views and vote scores "
        "are excluded; topics are refitted on posts before T). After each T, wherever at least "
        f"{vp.min_authors} scored authors respond to the same parent (answers to one question, "
        "sibling comments, replies in one thread), we ask whose response draws more within "
        f"{num(vp.follow_days, 0)} days: **conversation** (distinct other accounts replying "
        f"to it) and **approval** (measured as: {(wt.get('outcomes') or {}).get('approval') or 'n/a'}). A "
        "conditional Poisson model with one fixed effect per competition regresses each outcome "
        "on the author's standardised score (rank-based z), controlling for arrival order, text "
        "length and the author's prior posting volume; `coef` is the log rate ratio per standard "
        f"deviation. Intervals ({num(100 * vp.interval, 0)} %) come from {vp.n_boot} "
        "pigeonhole bootstrap draws that resample competitions and authors together; `placebo` "
        "is the mean coefficient after shuffling scores among authors of similar activity "
        f"({vp.n_placebo} shuffles). `account_coef` is the account-level check: per-post "
        "outcomes in the window with a log-exposure offset, over a baseline of posts before T "
        "and days since the last post.",
        "",
    ]
    if "models" not in wt:
        return [*out, f"_Not run on this data: {wt.get('skipped', 'no competitions')}._", ""]
    out += [
        f"{num(wt.get('n_responses'))} responses in {num(wt.get('n_competitions'))} competitions "
        f"by {num(wt.get('n_authors'))} authors.",
        "",
    ]
    if "within_thread" in ctx.tables:
        out += [md_table(ctx.tables["within_thread"]), ""]
    dis = wt.get("dissociation") or {}
    a = dis.get("conversation_models_win_conversation") or {}
    b = dis.get("reach_wins_approval") or {}
    out += [
        "**The double dissociation** (conversation models predict conversation better than "
        "reach, volume and the Klout-like score; reach predicts approval better than "
        f"conversation does): the first part {_verdict_text(a)}"
        + (f" for `{a['model']}`" if a.get("model") else "")
        + f"; the second part {_verdict_text(b)}.",
        "",
    ]
    rk = mm.get("ranking") or {}
    if rk.get("models"):
        rows = [
            {
                "model": m,
                "outcome": o,
                "spearman": r.get("spearman"),
                "ci_low": r.get("ci_low"),
                "ci_high": r.get("ci_high"),
            }
            for m, per in rk["models"].items()
            for o, r in per.items()
        ]
        out += [
            f"**Account ranking, one split** (kept for comparison with published work on PHEME; it "
            f"rewards persistence more than the test above does). Scores at {publish.coarsen_time(rk.get('scored_at'), _time_resolution(ctx))} "
            f"(the {num(100 * rk.get('split_quantile', 0), 0)} % quantile of root-post times) rank "
            f"{num(rk.get('n_accounts'))} accounts by the distinct repliers and positive reactions "
            f"they receive afterwards ({num((rk.get('n_with_outcome') or {}).get('conversation'))} "
            f"and {num((rk.get('n_with_outcome') or {}).get('approval'))} accounts have any); "
            "Spearman's rho with account-bootstrap intervals:",
            "",
            md_table(pl.DataFrame(rows)),
            "",
        ]
    return out


def _validity_section(ctx: WriteupContext) -> list[str]:
    out = ["## 5. Validation", ""]
    mm = ctx.models_metrics
    if mm is None:
        return [
            *out,
            "_Model validity (`reports/metrics/models.json`) is missing: the validate stage has not run._",
            "",
        ]
    out += _within_thread_lines(ctx, mm)
    oot = mm.get("out_of_time") or {}
    out += [
        "**For comparison: the earlier single-split checks**, with 95 % intervals (AUC: Hanley-McNeil standard error; Spearman ρ: Fisher z "
        "with variance 1.06/(n-3)).",
        "",
        f"**Out of time.** Scores computed at "
        f"{publish.coarsen_time(oot.get('scored_at', 'n/a'), _time_resolution(ctx))} are compared with "
        f"what happened in the next {num(oot.get('delta_days'), 0)} days (until "
        f"{publish.coarsen_time(oot.get('outcome_until', 'n/a'), _time_resolution(ctx))}), "
        f"over {num(oot.get('n_accounts'))} accounts: Spearman ρ with the reactions received "
        "(`n_reactions_next`) and with the number of distinct people who replied (`n_repliers_next`); "
        "`coef_per_sd` is the negative-binomial GLM coefficient per standard deviation of the score.",
        "",
    ]
    if "validity_out_of_time" in ctx.tables:
        out += [md_table(ctx.tables["validity_out_of_time"].drop("n_accounts")), ""]
    pr = mm.get("planted_roles")
    if pr:
        out += [
            f"**Planted roles** (simulated demo only). AUC of telling planted {' and '.join(pr.get('positive', []))} "
            f"accounts from planted {' and '.join(pr.get('negative', []))} accounts (0.5 = chance, 1 = perfect).",
            "",
        ]
        if "validity_planted_roles" in ctx.tables:
            out += [md_table(ctx.tables["validity_planted_roles"]), ""]
    else:
        out += [
            "Planted-role checks need the simulated demo's ground truth; this run has none.",
            "",
        ]
    if mm.get("reputation"):
        out += [
            "**Agreement with the platform's own reputation** is recorded under `reputation` in "
            "`reports/metrics/models.json`.",
            "",
        ]
    out.append(_fig(ctx, "validity", "Model validity"))
    return out


def _compare_section(ctx: WriteupContext) -> list[str]:
    out = ["## 6. Agreement, reach versus conversation, weekends off and gaming", ""]
    cm = ctx.compare_metrics
    if cm is None:
        return [
            *out,
            "_The compare stage has not run (`reports/metrics/compare.json` is missing): "
            "agreement, quadrants, the weekend-off and gaming tests and the recommendation are "
            "not available in this run._",
            "",
        ]
    if "agreement" in ctx.tables:
        out += [
            "**Agreement.** Spearman ρ between every pair of models' scores over the accounts both "
            "scored, with bootstrap 95 % intervals (`agreement` in `compare.json`, which also holds "
            "Kendall's τ-b, top-k Jaccard overlaps and rank-biased overlap):",
            _fig(ctx, "agreement", "Model agreement"),
            "",
            md_table(
                ctx.tables["agreement"].select(
                    "model_a", "model_b", "value", "ci_low", "ci_high", "n_accounts"
                ),
                headers={"value": "spearman"},
            ),
            "",
        ]
    div = cm.get("divergence") or {}
    if div.get("reach_missing"):
        out += [
            "**Reach versus conversation.** Reach is missing in this dump (no follower counts and "
            "no views): every account has the same reach, so nobody is placed in a quadrant and "
            "no divergence is computed.",
            "",
        ]
    elif "quadrants" in ctx.tables:
        thr = div.get("thresholds_pct") or {}
        out += [
            f"**Reach versus conversation.** Accounts split at the {ordinal(thr.get('reach'))} "
            f"percentile of reach and the {ordinal(thr.get('conversation'))} of conversation "
            f"(counts below k = {ctx.k} suppressed):",
            "",
            md_table(ctx.tables["quadrants"]),
            "",
        ]
    if div:
        ols = div.get("ols") or {}
        if ols and ols.get("slope") is not None:
            out += [
                f"Conversation percentile regressed on reach percentile (OLS, n = {num(ols.get('n'))}): "
                f"slope {num(ols.get('slope'))}, R² {num(ols.get('r2'))}. Divergence is the residual: "
                "positive means more conversation than the account's reach predicts.",
                "",
            ]
        roles = div.get("planted_roles") or {}
        if roles:
            out += [
                "Planted roles in the quadrant they should fall in (simulated demo; rates over fewer "
                f"than k = {ctx.k} accounts suppressed):",
                "",
                "| role in quadrant | accounts | rate |",
                "|---|---|---|",
            ]
            out += [
                f"| {name.replace('_', ' ')} | {cell(None if r.get('suppressed') or (r.get('n_role') or 0) < ctx.k else r.get('n_role'))} "
                f"| {cell(None if r.get('suppressed') or (r.get('n_role') or 0) < ctx.k else r.get('rate'))} |"
                for name, r in roles.items()
            ]
            out.append("")
    for name, title, what in (
        (
            "weekend_off",
            "Weekends off and time off",
            "median relative change of the percentile score (-0.1 = 10 % lower; `median` in "
            "`compare.json`) of a sample of accounts re-scored without their weekend posts, or without the two weeks "
            "before the scoring date",
        ),
        (
            "gaming",
            "Gaming",
            "median relative change of the percentile score with extra low-value posts "
            "(`median_rel_change`), and the median gain (`ring_gain`) of reaction-ring members (a statistic over fewer than k accounts "
            "is suppressed)",
        ),
    ):
        if name in ctx.tables:
            out += [
                f"**{title} (the earlier measure, kept for comparison):** {what}.",
                _fig(ctx, name, title),
                "",
                md_table(ctx.tables[name]),
                "",
            ]
    if "stability" in ctx.tables:
        out += [
            "**Stability as bias, with intervals.** Each sampled account (active in the window "
            "before the scoring date) is altered alone and ranked against the *frozen* scores of "
            "everyone else. `bias` is the median relative change of its percentile *beyond the "
            "placebo* (the same number of random weekday posts removed for a weekend off, random "
            "older posts for time off), `noise` the median absolute change, both with bootstrap "
            "intervals; `share_outside` is the share of accounts whose new score leaves the "
            "model's own interval. `weekend_moved` moves weekend posts to the Friday before "
            "instead of deleting them. Gates apply to the bias beyond placebo "
            "(`compare.gates`).",
            "",
            md_table(ctx.tables["stability"]),
            "",
        ]
    if "adversaries" in ctx.tables:
        out += [
            "**Adversaries that fight back.** Median relative gain of the targets' percentile "
            "(frozen ranking) for each adversary at each strength: spam drawing a few replies "
            "(share of real accounts in the pool), replying to everyone (others answered), "
            "self-reply chains and two-person exchanges (length), sockpuppet farms and reaction "
            "rings (members). The gate of each adversary is at one strength (`compare.gates."
            "adversaries`).",
            "",
            md_table(ctx.tables["adversaries"]),
            "",
        ]
    return out


def _recommendation_section(ctx: WriteupContext) -> list[str]:
    out = ["## 7. Recommended model", ""]
    rec = (ctx.compare_metrics or {}).get("recommendation") or {}
    if not rec:
        return [*out, "_The compare stage has not run: there is no recommendation to report._", ""]
    if ctx.recommended:
        out += [
            f"The rule recommends **`{ctx.recommended}`** for the primary question "
            f"({rec.get('primary_question', 'n/a')})."
        ]
    else:
        out += [
            f"**No recommendation** for the primary question ({rec.get('primary_question', 'n/a')}): "
            "no candidate meets the rule on this data. The reasons, per candidate, are below."
        ]
    if ctx.recommended_reason and ctx.recommended:
        out += ["", ctx.recommended_reason]
    if rec.get("rule"):
        out += ["", "The rule: " + str(rec["rule"])]
    out.append("")
    if "recommendation" in ctx.tables:
        out += [md_table(ctx.tables["recommendation"]), ""]
    if "exclusions" in ctx.tables:
        out += ["Why candidates were not recommended:", "", md_table(ctx.tables["exclusions"]), ""]
    if "gates" in ctx.tables:
        out += ["Robustness gates passed per model:", "", md_table(ctx.tables["gates"]), ""]
    return out


LIMITATIONS = [
    "Scores measure observable interaction inside the dump, not persuasion or offline influence.",
    "What the platform does not export (private messages, deleted posts, views on some platforms) "
    "is invisible; a model whose input is missing says so in `missing_inputs` instead of guessing.",
    "Percentiles are relative to the accounts in this dump; they do not transfer between communities.",
    "The planted-role check runs on simulated data; real dumps are checked out of time and against "
    "platform reputation only.",
    "Intervals are approximate (normal approximations) and do not account for choosing among models.",
    "Pseudonyms are stable for one key; rotating the key changes every pseudonym.",
    "Accounts deleted on the platform are removed with what they wrote (honoured like an "
    "opt-out); replies of others below their posts stay, detached.",
    "Percentile scores churn: re-estimating a score from fewer posts moves an account several "
    "points even where the model has no bias against time off (signed and absolute shifts are "
    "both reported).",
    "Accounts on different platforms are never linked unless a link table says so.",
    "Several dumps in one run share one scoring date (the run's last post): a dump that ended "
    "earlier is scored after long decay and has no out-of-time validity; run dumps separately "
    "to compare them.",
]


RESEARCH_QUESTION = (
    "Which accounts does a community actually talk with (replies, answers, exchanges that go "
    "back and forth), as distinct from how much they post or how large their audience is, and "
    "does a score measured before a date tell whose contributions draw conversation after it?"
)


def _is_simulated(params: Mapping[str, Any]) -> bool:
    """Is this run on the simulated demo dump (``analysis.paths.DEMO_RAW``, the default source)?"""
    from analysis.config import SourceParams, section
    from analysis.privacy import is_demo_source

    try:
        src = section(dict(params), "source", SourceParams)
        return is_demo_source(src.format, src.path) and not src.extra
    except ValueError:  # a source section that does not validate: say nothing rather than guess
        return False


def methodology_markdown(ctx: WriteupContext) -> str:
    """The methodology writeup (publication mode) as Markdown."""
    title = ctx.params.get("report", {}).get("title") or "Resonance"
    lines = [
        f"# Methodology: {title}",
        "",
        f"**Research question.** {RESEARCH_QUESTION}",
        "",
    ]
    if _is_simulated(ctx.params):
        lines += [
            "> **Simulated data.** This run is on the simulated demo community (generated by the "
            "`demo` stage, with planted experts, gamers and broadcasters), not on real people: "
            "its numbers show what the method does, not what any real community is like.",
            "",
        ]
    lines += [
        "Resonance measures social-media influence as **who people actually talk with**, and "
        "explains every number. This document is generated by the `report` stage from "
        "`params.yaml` and the metrics of the same run.",
        "",
    ]
    if ctx.figure_note:
        lines += [f"> {ctx.figure_note}", ""]
    for part in (
        _data_section,
        _privacy_section,
        _topics_section,
        _models_section,
        _validity_section,
        _compare_section,
        _recommendation_section,
    ):
        lines += part(ctx)
    lines += [
        "## 8. Limitations",
        "",
        *[f"- {x}" for x in LIMITATIONS],
        "",
        "## 9. What Resonance never infers",
        "",
        "Resonance never infers, estimates or stores anyone's "
        + ", ".join(NEVER_INFERRED[:-1])
        + f" or {NEVER_INFERRED[-1]}. Topics describe what "
        "was written about, never who wrote it.",
        "",
        "## 10. Reproduce",
        "",
        "```",
        "make reports      # set up .venv, then dvc repro",
        "make metrics      # dvc metrics show",
        "make plots        # dvc plots show --html-template reports/templates/dvc_plots.html",
        "```",
        "",
    ]
    return "\n".join(x for x in lines if x is not None) + "\n"


METHODOLOGY_CSS = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1d2329;"
    "line-height:1.55;max-width:960px;margin:0 auto;padding:24px}"
    "table{border-collapse:collapse;font-size:13px}th,td{border-bottom:1px solid #e4e7eb;"
    "padding:4px 10px;text-align:left}img{max-width:100%}code{background:#f0f4f8;padding:0 3px}"
    "blockquote{color:#8a5a00;background:#fff8e6;border-left:4px solid #f0b400;margin:0;padding:8px 12px}"
)


def methodology_html(markdown_text: str, title: str) -> str:
    """The methodology Markdown rendered as a standalone HTML page (figures linked relatively)."""
    import markdown

    body = markdown.markdown(markdown_text, extensions=["tables", "fenced_code"])
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{METHODOLOGY_CSS}</style></head>"
        f"<body><main><section>{body}</section></main></body></html>\n"
    )


# ---------------------------------------------------------------- static figures without a browser

SVG_COLOURS = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#b279a2")


def figure_to_svg(fig: Any, width: int = 900) -> str | None:
    """A plain SVG of a figure's horizontal bars or lines, drawn without a browser.

    The fallback when kaleido cannot start Chromium: it reads the figure's traces (``Bar`` with
    ``orientation="h"`` and ``Scatter`` lines) and draws them with axis labels and a legend;
    anything else (heatmaps) returns ``None`` and the writeup keeps its table only.
    """
    # text-only traces ("no data" labels of model_bars) are annotations, not data
    traces = [t for t in fig.data if not (t.type == "scatter" and t.mode == "text")]
    if not traces or any(t.type not in ("bar", "scatter") for t in traces):
        return None
    esc = html.escape
    title = esc(str(fig.layout.title.text or ""))
    parts: list[str] = []
    if all(t.type == "bar" for t in traces):
        cats: list[str] = []
        for t in traces:
            cats += [str(c) for c in t.y if str(c) not in cats]
        vals = [v for t in traces for v in t.x if v is not None]
        lo, hi = min([0.0, *vals]), max([0.0, *vals]) or 1.0
        row_h, n_tr = 12 * len(traces) + 8, len(traces)
        left, top, plot_w = 220, 40, width - 260
        height = top + row_h * len(cats) + 60
        x = lambda v: left + (v - lo) / ((hi - lo) or 1.0) * plot_w  # noqa: E731
        for i, c in enumerate(cats):
            parts.append(
                f'<text x="{left - 6}" y="{top + i * row_h + row_h / 2 + 4}" '
                f'text-anchor="end" font-size="11">{esc(c)}</text>'
            )
        for j, t in enumerate(traces):
            for c, v in zip(t.y, t.x, strict=True):
                if v is None:
                    continue
                y0 = top + cats.index(str(c)) * row_h + 4 + j * 12
                x0, x1 = sorted((x(0.0), x(v)))
                parts.append(
                    f'<rect x="{x0:.1f}" y="{y0}" width="{max(x1 - x0, 0.5):.1f}" height="10" '
                    f'fill="{SVG_COLOURS[j % len(SVG_COLOURS)]}"/>'
                )
        parts.append(
            f'<line x1="{x(0.0):.1f}" x2="{x(0.0):.1f}" y1="{top}" y2="{height - 60}" stroke="#333"/>'
        )
        for v in (lo, (lo + hi) / 2, hi):
            parts.append(
                f'<text x="{x(v):.1f}" y="{height - 44}" text-anchor="middle" font-size="10">{v:.3g}</text>'
            )
        names = [str(t.name or "") for t in traces] if n_tr > 1 else []
    else:
        xs = [str(v) for t in traces for v in t.x]
        order = sorted(set(xs))
        vals = [v for t in traces for v in t.y if v is not None]
        lo, hi = min([0.0, *vals]), max(vals or [1.0])
        left, top, plot_w, plot_h = 60, 40, width - 100, 260
        height = top + plot_h + 60
        px = lambda s: left + order.index(s) / max(len(order) - 1, 1) * plot_w  # noqa: E731
        py = lambda v: top + plot_h - (v - lo) / ((hi - lo) or 1.0) * plot_h  # noqa: E731
        for j, t in enumerate(traces):
            pts = " ".join(
                f"{px(str(a)):.1f},{py(b):.1f}"
                for a, b in zip(t.x, t.y, strict=True)
                if b is not None
            )
            parts.append(
                f'<polyline points="{pts}" fill="none" stroke="{SVG_COLOURS[j % 5]}" stroke-width="2"/>'
            )
        for v in (lo, (lo + hi) / 2, hi):
            parts.append(
                f'<text x="{left - 6}" y="{py(v) + 4:.1f}" text-anchor="end" font-size="10">{v:.3g}</text>'
            )
        parts.append(f'<text x="{left}" y="{height - 44}" font-size="10">{esc(order[0])}</text>')
        parts.append(
            f'<text x="{left + plot_w}" y="{height - 44}" text-anchor="end" font-size="10">{esc(order[-1])}</text>'
        )
        names = [str(t.name or "") for t in traces]
    for j, name in enumerate(names):
        parts.append(
            f'<rect x="{20 + j * 180}" y="{height - 22}" width="10" height="10" fill="{SVG_COLOURS[j % 5]}"/>'
            f'<text x="{34 + j * 180}" y="{height - 13}" font-size="11">{esc(name)}</text>'
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>'
        f'<text x="10" y="22" font-size="15">{title}</text>{"".join(parts)}</svg>\n'
    )
