"""Figures of the report stage: the publication figures (``reports/figures/``) drawn from the
suppressed public tables, exported with kaleido, or as plain SVGs when no browser can start.

Plot functions themselves live in ``analysis.plots`` (they return figures and never write);
this module writes the static files. kaleido starts a headless browser for every export (~2 s)
and draws each figure in ~0.35 s: a memo (``paths.FIGURES_CACHE``) keeps the last run's files
under a digest of what each draws (the figure's JSON, the export settings, plotly's and
kaleido's versions), so a figure whose data did not change is copied, and a run where none
changed starts no browser (a re-run after new posts with the evaluation frozen redraws the
two figures of the posts, not the four of the evaluation). The memo holds the figures of the
last run only, public figures of suppressed tables; deleting it costs a redraw, never a result.
A browser that hangs is stopped after :data:`BROWSER_TIMEOUT_S` and the figures drawn as plain
SVGs, as when none starts.
"""

from __future__ import annotations

import hashlib
import html
import logging
import shutil
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from analysis import plots
from analysis.report.params import ReportParams

log = logging.getLogger(__name__)

#: Most seconds kaleido may take to draw a run's figures (it takes ~2 s to start its browser
#: and ~0.35 s a figure). Its own timeout covers a figure's rendering, not the browser's start
#: or its tabs: a run of the test suite hung there for ten minutes (2026-12-06, a headless
#: Chromium up and idle). Past this the browser is stopped and the figures are plain SVGs.
BROWSER_TIMEOUT_S = 300.0


def static_figures(b: Mapping[str, Any], tables: Mapping[str, pl.DataFrame]) -> dict[str, Any]:
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
        figs["agreement"] = plots.agreement_heatmap(tables["agreement"])
    for test, title in (("weekend_off", "Weekends off and time off"), ("gaming", "Gaming")):
        if test in tables and tables[test].drop_nulls("value").height:
            figs[test] = plots.model_bars(
                plots.as_percent(tables[test].drop_nulls("value")),
                title,
                "median change of the percentile score (%)",
            )
    return figs


def planned(figs: Mapping[str, Any], p: ReportParams) -> dict[str, str]:
    """What :func:`export_figures` returns when kaleido runs: figure name -> path relative to
    ``reports/`` (none for ``figure_format: none``)."""
    if p.figure_format == "none":
        return {}
    return {name: f"figures/{name}.{p.figure_format}" for name in figs}


def plain_svgs(figs: Mapping[str, Any], p: ReportParams) -> dict[str, str]:
    """The plain SVGs :func:`export_figures` writes where no browser runs: figure name -> SVG
    text (a figure without a plain drawing is left out). About a millisecond for all."""
    svgs = {name: figure_to_svg(fig, p.figure_width) for name, fig in figs.items()}
    return {name: svg for name, svg in svgs.items() if svg is not None}


def fallback(figs: Mapping[str, Any], p: ReportParams) -> dict[str, str]:
    """What :func:`export_figures` returns as paths when kaleido cannot run (its plain SVGs):
    figure name -> path relative to ``reports/``; known before the export, like
    :func:`planned`."""
    if p.figure_format == "none" or not figs:
        return {}
    return {name: f"figures/{name}.svg" for name in plain_svgs(figs, p)}


def figure_key(fig: Any, p: ReportParams) -> str:
    """A digest of everything an exported figure's bytes depend on here: its JSON (data,
    layout, template), the format, width and scale, and plotly's and kaleido's versions."""
    from importlib.metadata import version

    h = hashlib.sha256(b"resonance-figure-v1\x1f")
    for part in (
        p.figure_format,
        repr(p.figure_width),
        repr(p.figure_scale),
        version("plotly"),
        version("kaleido"),
        fig.to_json(),
    ):
        h.update(part.encode("utf-8") + b"\x1f")
    return h.hexdigest()


def export_figures(
    figs: dict[str, Any], folder: Path, p: ReportParams, memo: Path | None = None
) -> tuple[dict[str, str], str]:
    """Write static figures with kaleido (headless Chromium).

    ``memo``: the folder of the last run's figures by :func:`figure_key`; a figure found there
    is copied, the others drawn (no browser starts when none is missing), and the memo then
    holds this run's figures only. Where the browser cannot start, every figure is a plain SVG,
    the ones found in the memo too: the files do not depend on the memo.

    Returns:
        Figure name -> path relative to ``reports/``, and the error that kept kaleido from
        starting a browser ("" when it ran; the writeup then says the figures are plain SVGs).
    """
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

    paths = {name: folder / f"{name}.{p.figure_format}" for name in figs}
    keys = {name: f"{figure_key(fig, p)}.{p.figure_format}" for name, fig in figs.items()}
    started = time.perf_counter()
    found: set[str] = set()
    for name in figs if memo is not None else ():
        try:
            shutil.copyfile(memo / keys[name], paths[name])  # type: ignore[operator]
            found.add(name)
        except OSError:  # not in the memo (or unreadable there): drawn below
            continue
    todo = [n for n in figs if n not in found]
    try:
        if todo:
            within(
                BROWSER_TIMEOUT_S,
                pio.write_images,
                [figs[n] for n in todo],
                [paths[n] for n in todo],
                format=p.figure_format,
                width=p.figure_width,
                scale=p.figure_scale,
            )
    except Exception as exc:  # no browser: plain SVGs drawn from the figures' data instead
        log.warning("kaleido could not run (%s): writing fallback SVGs", exc)
        for path in paths.values():
            path.unlink(missing_ok=True)
        written = {}
        for name, svg in plain_svgs(figs, p).items():
            (folder / f"{name}.svg").write_text(svg, encoding="utf-8")
            written[name] = f"figures/{name}.svg"
        log.info("wrote %d fallback SVG figures of %d", len(written), len(figs))
        return written, type(exc).__name__
    if memo is not None:
        remember(memo, {keys[n]: paths[n] for n in figs})
    log.info(
        "wrote %d static figures (%s) in %.1f s: %d drawn, %d unchanged from the last run",
        len(paths),
        p.figure_format,
        time.perf_counter() - started,
        len(todo),
        len(found),
    )
    return planned(figs, p), ""


def within(timeout_s: float, draw: Any, *args: Any, **kwargs: Any) -> None:
    """``draw(*args, **kwargs)`` on a thread of its own, for at most ``timeout_s`` seconds.

    Raises what ``draw`` raised, or :class:`TimeoutError` when it has not returned in time: the
    processes it started (kaleido's browser) are then killed, which ends a wait on them, and
    the thread, a daemon, is left behind (the stage's process ends with ``os._exit``)."""
    import psutil

    me = psutil.Process()
    before = {c.pid for c in me.children(recursive=True)}
    failed: list[BaseException] = []

    def run() -> None:
        try:
            draw(*args, **kwargs)
        except BaseException as exc:  # handed to the caller's thread
            failed.append(exc)

    worker = threading.Thread(target=run, name="kaleido", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        started = [c for c in me.children(recursive=True) if c.pid not in before]
        for child in started:
            try:
                child.kill()
            except psutil.Error:  # gone meanwhile
                continue
        worker.join(5.0)
        raise TimeoutError(
            f"kaleido drew nothing in {timeout_s:.0f} s; {len(started)} process(es) it started "
            "were killed"
        )
    if failed:
        raise failed[0]


def remember(memo: Path, files: Mapping[str, Path]) -> None:
    """Make ``memo`` hold exactly ``files`` (memo name -> the file written): the new ones copied
    in (through a temporary name: a memo file is whole or absent), the others removed."""
    memo.mkdir(parents=True, exist_ok=True)
    for name, path in files.items():
        if not (memo / name).is_file():
            tmp = memo / f".{name}.tmp"
            shutil.copyfile(path, tmp)
            tmp.replace(memo / name)
    for old in memo.iterdir():
        if old.name not in files:
            old.unlink()


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
