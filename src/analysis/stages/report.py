"""Stage ``report``: ``reports/index.html``, ``reports/methodology.{md,html}``, figures, public tables.

Reads ``reports/metrics/{ingest,topics}.json``, the typed results ``data/processed/validity.json``,
``data/processed/divergence.json``, ``data/processed/compare.json`` and
``data/processed/topic_eval.json`` (:mod:`analysis.contracts`), ``data/interim/{posts,reactions}.parquet`` and
``data/processed/{topics,post_topics,account_topics,divergence}.parquet`` (the topic map from
the topics' mean vectors in ``topics.parquet``: no vector is read). A missing
input leaves its sections out with a visible note. The accounts named by
``data/processed/counterfactual_changes.parquet`` are checked against
``data/interim/accounts.parquet`` first: a frozen ``compare`` after a key rotation or an
erasure stops the stage before anything is written. Writes

* ``reports/index.html``: the analyst page (pseudonyms allowed, no raw ids, no post text);
* ``reports/methodology.md`` / ``.html``, ``reports/figures/*`` and ``reports/public/*.csv``:
  publication mode (aggregates only, small cells and their complements suppressed), checked
  with ``analysis.publish.publication_problems`` (no pseudonym, no quote of a post) before
  anything is written;
* ``reports/plots/report/*.csv``: data of the DVC plots declared in ``dvc.yaml``.

and keeps the static figures of this run in their memo (``paths.FIGURES_CACHE``, not an
output: ``analysis.report.figures``).

The work itself is in the ``analysis.report`` package; this module reads and writes.
"""

from __future__ import annotations

import argparse
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import polars as pl

from analysis import contracts, paths, publish
from analysis.config import params_record
from analysis.io import read_json
from analysis.models import MODELS
from analysis.models.common import resolve_as_of
from analysis.report import analyst, figures, frames, freshness, methodology, public
from analysis.report.params import Params
from analysis.vectors import MEAN_EMBEDDING

log = logging.getLogger(__name__)


class PublicationError(RuntimeError):
    """A publication output would list a pseudonym or quote post text."""


class StaleOutputError(RuntimeError):
    """An output of a frozen (or stale) stage that the report must not publish beside this run:
    it names accounts the current data does not hold, rests on accounts removed since, or hid
    small groups at a smaller ``privacy.min_cell_k`` than the current one."""


def check_named_accounts(root: Path) -> None:
    """Refuse a workspace whose frozen outputs name accounts the current data does not hold.

    After a key rotation every pseudonym changes, after an erasure (or a dump an account
    left) one disappears; a frozen ``compare`` keeps the old ones in
    ``counterfactual_changes.parquet``, beside the new ones everywhere else. Nothing is
    written then: the message names the output, the count (never the pseudonyms) and the
    command that rebuilds it.
    """
    accounts = root / paths.ACCOUNTS
    if not accounts.exists():
        return
    current = pl.read_parquet(accounts, columns=["account_id"])["account_id"]
    for stage, (rel, column) in freshness.NAMED.items():
        path = root / rel
        if not path.exists():
            continue
        n = freshness.stale_accounts(pl.read_parquet(path, columns=[column])[column], current)
        if n:
            raise StaleOutputError(
                f"{rel} (stage {stage}) names {n} account(s) that the current data does not "
                "hold: pseudonyms of another key (a rotation), or accounts erased or gone from "
                f"the dumps since it ran (a frozen or stale stage). Nothing was written. Run "
                f"`dvc unfreeze {stage} && dvc repro`, then `dvc gc --workspace --force` to "
                "drop the old copies from DVC's cache."
            )


def check_removed_accounts(inp: frames.Inputs) -> None:
    """Refuse evaluation results and a topic fit computed with accounts ingest has removed since.

    ``validate``, ``compare``, ``topic_eval`` and ``topic_fit`` record ingest's digest of the
    removed accounts (the fit's reaches ``reports/metrics/topics.json`` through ``topics``); a
    frozen one keeps it while ingest re-runs. When it differs from the current digest, an
    account was erased, flagged a minor or opted out after the evaluation ran (or the key was
    rotated: the digest is keyed): its data is in those
    numbers (and in outputs that need not name it, so :func:`check_named_accounts` and the
    audit cannot see it). Nothing is written then; a result without a digest (written before
    it was recorded) or a workspace without ingest metrics is not checked.
    """
    now = (inp.ingest or {}).get("removed_accounts_sha256")
    if now is None:
        return
    for stage, result in (
        ("validate", inp.validity),
        ("compare", inp.compare),
        ("topic_eval", inp.topic_eval),
    ):
        then = getattr(result, "removed_accounts_sha256", None)
        if then is not None and then != now:
            raise StaleOutputError(
                f"{freshness.RESULTS[stage]} (stage {stage}) was computed before ingest removed "
                "account(s) it holds (an erasure, a minor or an opt-out since it ran, or a "
                "rotated key: the digest is keyed; a frozen or stale stage). Nothing was "
                "written. Run `dvc unfreeze validate compare topic_eval && dvc repro`, then "
                "`dvc gc --workspace --force` to drop the old copies from DVC's cache."
            )
    fit = (inp.topics_metrics or {}).get("fit") or {}
    then = fit.get("removed_accounts_sha256")
    if then is not None and then != now:
        raise StaleOutputError(
            f"The topic fit (stage topic_fit) that {paths.TOPICS_METRICS} and the topic tables "
            "carry was fitted before ingest removed account(s) it holds (an erasure, a minor or "
            "an opt-out since it ran, or a rotated key: the digest is keyed): the published "
            "topic keywords may rest on their posts. "
            "Nothing was written. Run `dvc unfreeze topic_fit && dvc repro` to refit, then "
            "`dvc gc --workspace --force` to drop the old copies from DVC's cache."
        )


#: What a freezable stage publishes with groups of fewer than ``privacy.min_cell_k`` accounts
#: hidden (at the k it records), by stage: the message names it.
PUBLISHED_AT_K = {
    "topic_fit": "the topic keywords, each used by at least {k} authors",
    "topic_eval": "the topic check's headline in reports/metrics",
    "compare": "the gates and agreement in reports/metrics and its plot data",
}


def recorded_k(inp: frames.Inputs) -> dict[str, int | None]:
    """The ``privacy.min_cell_k`` each freezable stage's published outputs hide smaller groups
    at, by stage, for the results read (compare in its recommendation, topic_eval in its
    result, topic_fit through ``reports/metrics/topics.json``); None: a result written before
    the k was recorded."""
    fit = (inp.topics_metrics or {}).get("fit")
    rec = getattr(inp.compare, "recommendation", None)
    found: dict[str, int | None] = {}
    if fit is not None:
        found["topic_fit"] = fit.get("min_cell_k")
    if inp.topic_eval is not None:
        found["topic_eval"] = inp.topic_eval.min_cell_k
    if rec is not None:
        found["compare"] = rec.min_cell_k
    return {stage: None if k is None else int(k) for stage, k in found.items()}


def check_small_groups(inp: frames.Inputs) -> None:
    """Refuse frozen stages whose published outputs hide groups at a smaller
    ``privacy.min_cell_k`` than the current one.

    ``topic_fit`` (keywords used by at least k authors), ``topic_eval`` (its headline) and
    ``compare`` (its gates and plot data) publish at the k they ran with; a frozen one is not
    re-run when k is raised, so ``reports/metrics`` (tracked by git) and the report would carry
    statistics of groups the current rule calls small. Nothing is written then; the message
    names every such stage. A larger recorded k hides more than needed: compare's and
    topic_eval's are named among the params edits (:func:`params_changes`); a fit's stricter
    keywords are left as they are. A result that does not record its k (written by an earlier
    version) cannot be checked: logged here, and compare's and topic_eval's named there.
    """
    now = frames.min_cell_k(inp.params)
    ks = recorded_k(inp)
    small = {stage: k for stage, k in ks.items() if k is not None and k < now}
    for stage in (stage for stage, k in ks.items() if k is None):
        log.warning(
            "stage %s does not record the privacy.min_cell_k it published at (an earlier "
            "version wrote it): its small groups cannot be checked against k = %d; `dvc "
            "unfreeze %s && dvc repro` records it",
            stage,
            now,
            stage,
        )
    if small:
        what = "; ".join(
            f"stage {stage} hid groups of fewer than {k} accounts in what it publishes "
            f"({PUBLISHED_AT_K[stage].format(k=k)})"
            for stage, k in small.items()
        )
        raise StaleOutputError(
            f"privacy.min_cell_k is now {now}, but {what}: they may publish groups smaller "
            f"than {now} accounts (frozen or stale stages). Nothing was written. Run "
            f"`dvc unfreeze {' '.join(small)} && dvc repro`."
        )


def load_inputs(root: Path, params: dict[str, Any]) -> frames.Inputs:
    """Read every pipeline output under ``root`` that exists; log what was read, in numbers."""
    inp = frames.Inputs(params=params)

    def exists(rel: Path) -> Path | None:
        path = root / rel
        if not path.exists():
            log.info("absent: %s (its sections are omitted)", rel)
            return None
        return path

    def js(rel: Path) -> dict[str, Any] | None:
        path = exists(rel)
        if path is not None:
            inp.read[str(rel)] = None
            return read_json(path)
        return None

    def typed(rel: Path, model: type[contracts.M]) -> contracts.M | None:
        path = exists(rel)
        if path is not None:
            inp.read[str(rel)] = None
            return contracts.load(model, path)
        return None

    def pq(rel: Path, columns: list[str] | None = None) -> pl.DataFrame | None:
        path = exists(rel)
        if path is None:
            return None
        df = pl.read_parquet(path, columns=columns)
        inp.read[str(rel)] = df.height
        return df

    inp.ingest = js(paths.INGEST_METRICS)
    inp.topics_metrics = js(paths.TOPICS_METRICS)
    inp.scores_metrics = js(paths.SCORES_METRICS)
    inp.validity = typed(paths.VALIDITY, contracts.ValidityResult)
    inp.compare = typed(paths.COMPARE_RESULT, contracts.CompareResult)
    inp.topic_eval = typed(paths.TOPIC_EVAL, contracts.TopicEval)
    inp.divergence_result = typed(paths.DIVERGENCE_RESULT, contracts.DivergenceResult)
    # the texts only for the publication check, read from the file a batch at a time there
    inp.posts = pq(paths.POSTS, ["post_id", "account_id", "created_at"])
    inp.reactions = pq(paths.REACTIONS, ["created_at", "actor_account_id"])
    inp.topics = pq(paths.TOPICS)
    inp.post_topics = pq(paths.POST_TOPICS)
    if inp.topics is not None and MEAN_EMBEDDING in inp.topics.columns:
        # the topic map needs each topic's mean vector only: the topics stage wrote them
        inp.topic_means = inp.topics[MEAN_EMBEDDING].to_numpy()
        inp.topics = inp.topics.drop(MEAN_EMBEDDING)
    inp.account_topics = pq(paths.ACCOUNT_TOPICS)
    inp.divergence = pq(paths.DIVERGENCE)
    log.info(
        "read %d inputs: %s",
        len(inp.read),
        ", ".join(f"{k} ({v:,} rows)" if v is not None else k for k, v in inp.read.items()),
    )
    return inp


def params_changes(inp: frames.Inputs) -> list[freshness.ParamsChange]:
    """The evaluation results read (validity, compare, the topics' check) that were computed
    with other params than ``params.yaml``'s now (a frozen stage after an edit), each logged;
    the ``privacy.min_cell_k`` compare and topic_eval published at is read from
    :func:`recorded_k` (a larger one than now: a smaller one was refused)."""
    # every section an evaluation stage records (config.params_record in each), as now
    now_all = params_record(
        inp.params, ("models", "validate", "topics", "compare", "demo", "topic_eval")
    )
    out = []
    ks, now_k = recorded_k(inp), frames.min_cell_k(inp.params)
    for stage, result in (
        ("validate", inp.validity),
        ("compare", inp.compare),
        ("topic_eval", inp.topic_eval),
    ):
        if result is None:
            continue
        used = getattr(result, "params", None)  # None: written before they were recorded
        changes = freshness.params_changes(used, now_all) if used else ()
        if stage == "compare" and _same_validity(used, inp.validity):
            # compare records the validate section of the validity it read: where that is the
            # validity read here, an edit of validate is validate's own notice (unfreezing
            # compare would read the same validity again and change nothing)
            changes = tuple(c for c in changes if c[0].split(".")[0] != "validate")
        # compare leaves a gate over fewer than privacy.min_cell_k accounts untested, and
        # topic_eval's headline hides smaller groups: both are of the k they record (a smaller
        # one than now was refused: check_small_groups; None: not recorded, named as such)
        k = ks.get(stage, now_k)
        if k != now_k:
            changes = tuple(
                sorted((*changes, ("privacy.min_cell_k", k, now_k)), key=lambda c: c[0])
            )
        if changes:
            out.append(freshness.ParamsChange(stage, freshness.RESULTS[stage], changes))
            log.warning(
                "%s (stage %s) was computed with other params than params.yaml's now (%s): the "
                "report says so; `dvc unfreeze %s && dvc repro` re-evaluates",
                freshness.RESULTS[stage],
                stage,
                ", ".join(f"{k}: {a!r} -> {b!r}" for k, a, b in changes[:6]),
                stage,
            )
    return out


def _same_validity(used: dict[str, Any] | None, validity: Any) -> bool:
    """True when compare recorded the ``validate`` section of the very validity read here."""
    ran = getattr(validity, "params", None)
    if not used or "validate" not in used or ran is None:
        return False
    return used["validate"] == ran.get("validate")


def evaluation_lags(inp: frames.Inputs, mp: Params) -> list[freshness.Lag]:
    """The results read (validity, divergence, compare; the topics' check) of another date
    than the scores' (the check: than the posts'), each logged."""
    if inp.posts is None or inp.posts.is_empty():
        return []
    as_of = resolve_as_of(mp.models, inp.posts)
    evaluated = {
        "validate": inp.validity.as_of if inp.validity is not None else None,
        "compare": inp.compare.as_of if inp.compare is not None else None,
        "divergence": (inp.divergence_result.as_of if inp.divergence_result is not None else None),
    }
    checked = {"topic_eval": inp.topic_eval.as_of if inp.topic_eval is not None else None}
    if mp.models.as_of is None:  # the scores are of the posts' date: one notice per date
        lags = freshness.evaluation_lags(as_of, inp.posts, evaluated | checked)
    else:
        # the topics' check reads no score: its date is the posts' (the latest plus a second)
        lags = freshness.evaluation_lags(as_of, inp.posts, evaluated)
        lags += freshness.evaluation_lags(
            resolve_as_of(mp.models.model_copy(update={"as_of": None}), inp.posts),
            inp.posts,
            checked,
        )
    for g in lags:
        log.warning(
            "%s (stage %s) evaluated %s of %s, not of %s (%d posts between): the report says "
            "so; `dvc unfreeze %s && dvc repro` re-evaluates",
            " and ".join(g.results),
            " and ".join(g.stages),
            g.of,
            g.evaluated_as_of,
            g.as_of,
            g.n_posts_between,
            " ".join(g.stages),
        )
    return lags


def write_report(root: Path, params: dict[str, Any]) -> dict[str, Any]:
    """Build and write every report output under ``root``; returns a summary in numbers."""
    started = time.perf_counter()
    mp = Params.of(params)  # every section the outputs print, typed
    p = mp.report
    check_named_accounts(root)
    inp = load_inputs(root, params)
    check_removed_accounts(inp)
    check_small_groups(inp)
    lags = evaluation_lags(inp, mp)
    changed = params_changes(inp)
    b = frames.build(inp, p)
    reports = root / paths.REPORTS

    # Publication first: if anything would leak, nothing is written.
    tables = public.public_tables(b, mp.privacy.min_cell_k)
    figs = figures.static_figures(b, tables)
    # the public tables hold no topic check: its date is the writeup's and the page's to say
    table_lags = [freshness.without(g, "topic_eval") for g in lags]
    table_lags = [g for g in table_lags if g is not None]
    readme = public.readme(
        tables,
        mp.privacy.min_cell_k,
        table_lags,
        mp.privacy.time_resolution,
        [c for c in changed if c.stage != "topic_eval"],
    )
    csvs = {name: df.write_csv() for name, df in tables.items()}
    texts = publish.ParquetTexts(root / paths.POSTS) if inp.posts is not None else []

    def writeup(fig_paths: dict[str, str], fallback: str) -> str:
        """The methodology with these figures (``fallback``: kaleido's error, "" when none)."""
        ctx = methodology.WriteupContext(
            params=mp,
            ingest=inp.ingest,
            topics_metrics=inp.topics_metrics,
            topic_eval=inp.topic_eval,
            validity=inp.validity,
            compare=inp.compare,
            divergence=inp.divergence_result,
            tables=tables,
            figures=fig_paths,
            figure_fallback=fallback,
            model_docs=methodology.model_docs(
                [m for m in mp.models.names if m in MODELS],
                mp.models,
                (inp.scores_metrics or {}).get("models"),
                mp.privacy.min_cell_k,
            ),
            lags=lags,
            params_changed=changed,
            reach_floor=b.get("reach_floor"),
        )
        return methodology.methodology_markdown(ctx)

    def problems(writeups: dict[str, str]) -> dict[str, list[str]]:
        """Each writeup's publication problems with the public tables' and README's, every
        output against the posts in one reading of them."""
        outputs = {
            **{f"{k}\x1f": md + readme for k, md in writeups.items()},
            **{f"public/{n}.csv ": text for n, text in csvs.items()},
        }
        found = publish.publication_problems(outputs, texts)
        shared = [
            f"{name}{x}" for name in outputs if not name.endswith("\x1f") for x in found[name]
        ]
        return {k: [*found[f"{k}\x1f"], *shared] for k in writeups}

    # kaleido's browser mostly waits on itself (3-5 s to start and draw): the check, in polars,
    # runs meanwhile, of both writeups the export can lead to (its figures drawn, or plain SVGs
    # where no browser starts: both known before it), then the analyst page is built (it reads
    # no static figure). Only an export that ends neither way has its writeup checked after it.
    from plotly.offline import get_plotlyjs

    with ThreadPoolExecutor(1, thread_name_prefix="figures") as pool:
        exporting = pool.submit(
            figures.export_figures, figs, reports / "figures", p, root / paths.FIGURES_CACHE
        )
        outcomes = {
            "drawn": (figures.planned(figs, p), ""),
            "plain": (figures.fallback(figs, p), "no browser"),
        }
        mds = {k: writeup(*outcome) for k, outcome in outcomes.items()}
        checked = problems(mds)
        secs = analyst.sections(inp, b, p)
        page = analyst.render_index(p, inp, secs, get_plotlyjs(), lags, changed)
        fig_paths, fallback = exporting.result()
    md = writeup(fig_paths, fallback)
    known = [k for k in mds if mds[k] == md]
    found = checked[known[0]] if known else problems({"final": md})["final"]
    if found:
        raise PublicationError("publication outputs are not publishable: " + "; ".join(found[:5]))
    (reports / "public").mkdir(parents=True, exist_ok=True)
    for old in (reports / "public").glob("*"):
        old.unlink()
    for name, text in csvs.items():
        (reports / "public" / f"{name}.csv").write_text(text, encoding="utf-8")
    (reports / "public" / "README.md").write_text(readme, encoding="utf-8")
    (reports / "methodology.md").write_text(md, encoding="utf-8")
    (reports / "methodology.html").write_text(
        methodology.methodology_html(md, "Resonance methodology"), encoding="utf-8"
    )
    plot_files = public.write_dvc_plot_data(tables, reports / "plots" / "report")

    (reports / "index.html").write_text(page, encoding="utf-8")
    summary = {
        "n_inputs_read": len(inp.read),
        "n_sections": len(secs),
        "n_sections_missing": sum(s.missing for s in secs),
        "n_charts": sum(len(s.figures) for s in secs),
        "index_mb": round(len(page.encode()) / 1e6, 2),
        "n_public_tables": len(tables),
        "n_suppressed_cells": int(
            sum(
                df["is_suppressed"].sum() for df in tables.values() if "is_suppressed" in df.columns
            )
        ),
        "n_static_figures": len(fig_paths),
        "n_dvc_plot_files": len(plot_files),
        # days the evaluation (validate, compare) lags the scores' date: 0 = this run's
        "evaluation_days_behind": round(max((g.days for g in lags), default=0.0), 2),
        # evaluation stages whose result was computed with other params than params.yaml's
        "evaluation_params_changed": [c.stage for c in changed],
        "seconds": round(time.perf_counter() - started, 1),
    }
    log.info(
        "wrote reports/index.html (%s MB, %d sections, %d missing, %d charts), "
        "methodology.md/.html, %d public tables (%d suppressed rows), %d static figures, "
        "%d DVC plot files in %.1f s",
        summary["index_mb"],
        summary["n_sections"],
        summary["n_sections_missing"],
        summary["n_charts"],
        summary["n_public_tables"],
        summary["n_suppressed_cells"],
        summary["n_static_figures"],
        summary["n_dvc_plot_files"],
        summary["seconds"],
    )
    return summary


def run(params: dict[str, Any], args: argparse.Namespace) -> int:
    """Render every report from the outputs present in the working directory."""
    for noisy in ("kaleido", "choreographer", "logistro"):  # one INFO line per browser tab
        logging.getLogger(noisy).setLevel(logging.WARNING)
    write_report(Path("."), params)
    return 0
