"""The report's memo of static figures (``report.figures.export_figures`` with ``memo``).

kaleido is replaced by a stand-in that writes bytes derived from each figure and counts what
it was asked to draw: the memo must copy exactly the figures whose data and settings did not
change, hold the last run's figures only, and leave the files as they would be without it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio
import pytest

from analysis.report import figures
from analysis.report.params import ReportParams


def _bar(values: list[float]) -> go.Figure:
    return go.Figure(go.Bar(x=values, y=[f"m{i}" for i in range(len(values))], orientation="h"))


@pytest.fixture
def drawn(monkeypatch) -> list[str]:
    """The stand-in browser: each file's bytes are a digest of its figure and settings."""
    calls: list[str] = []

    def write_images(figs, paths, format, width, scale):  # kaleido names it format
        for fig, path in zip(figs, paths, strict=True):
            calls.append(Path(path).stem)
            body = f"{format}|{width}|{scale}|{fig.to_json()}".encode()
            Path(path).write_bytes(hashlib.sha256(body).digest())

    monkeypatch.setattr(pio, "write_images", write_images)
    return calls


def _files(folder: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted(folder.iterdir())}


def test_unchanged_figures_are_copied_and_changed_ones_drawn(tmp_path: Path, drawn) -> None:
    p = ReportParams(figure_format="png")
    memo, out = tmp_path / "memo", tmp_path / "figures"
    figs = {"a": _bar([1, 2]), "b": _bar([3]), "c": _bar([4, 5, 6])}
    paths, fallback = figures.export_figures(figs, out, p, memo)
    assert fallback == "" and paths == figures.planned(figs, p)
    assert sorted(drawn) == ["a", "b", "c"]
    first = _files(out)
    assert len(list(memo.iterdir())) == 3

    drawn.clear()  # the same figures: nothing drawn, the same bytes
    figures.export_figures(
        {k: _bar(v) for k, v in (("a", [1, 2]), ("b", [3]), ("c", [4, 5, 6]))}, out, p, memo
    )
    assert drawn == [] and _files(out) == first

    drawn.clear()  # new data in one figure: that one drawn; the memo holds this run's three
    figs["b"] = _bar([3.5])
    figures.export_figures(figs, out, p, memo)
    assert drawn == ["b"]
    now = _files(out)
    assert now["b.png"] != first["b.png"] and {k: now[k] for k in ("a.png", "c.png")} == {
        k: first[k] for k in ("a.png", "c.png")
    }
    assert sorted(f.read_bytes() for f in memo.iterdir()) == sorted(now.values())

    drawn.clear()  # other export settings: every figure drawn again
    figures.export_figures(figs, out, ReportParams(figure_format="png", figure_width=700), memo)
    assert sorted(drawn) == ["a", "b", "c"]

    drawn.clear()  # a figure left out of this run leaves the memo
    figures.export_figures(
        {"a": figs["a"]}, out, ReportParams(figure_format="png", figure_width=700), memo
    )
    assert drawn == [] and len(list(memo.iterdir())) == 1 and list(_files(out)) == ["a.png"]


def test_files_are_the_same_with_and_without_the_memo(tmp_path: Path, drawn) -> None:
    p = ReportParams(figure_format="png")
    figs = {"a": _bar([1, 2]), "b": _bar([3])}
    figures.export_figures(figs, tmp_path / "plain", p)
    figures.export_figures(figs, tmp_path / "warm", p, tmp_path / "memo")
    figures.export_figures(figs, tmp_path / "warm", p, tmp_path / "memo")  # from the memo
    assert _files(tmp_path / "plain") == _files(tmp_path / "warm")
    assert not (tmp_path / "plain" / "memo").exists()


def test_without_a_browser_every_figure_falls_back_even_from_the_memo(
    tmp_path: Path, drawn, monkeypatch
) -> None:
    p = ReportParams(figure_format="png")
    memo, out = tmp_path / "memo", tmp_path / "figures"
    figs = {"a": _bar([1, 2]), "b": _bar([3])}
    figures.export_figures(figs, out, p, memo)
    kept = _files(memo)

    def no_browser(*args, **kwargs):
        raise RuntimeError("no chromium here")

    monkeypatch.setattr(pio, "write_images", no_browser)
    figs["b"] = _bar([4])  # one figure to draw: the browser is needed and cannot start
    paths, fallback = figures.export_figures(figs, out, p, memo)
    assert fallback == "RuntimeError"
    assert sorted(paths.values()) == ["figures/a.svg", "figures/b.svg"]
    assert sorted(f.name for f in out.iterdir()) == ["a.svg", "b.svg"]  # no PNG from the memo
    assert _files(memo) == kept  # a failed run leaves the memo as it was


def test_the_key_follows_the_figure_and_the_settings() -> None:
    p = ReportParams(figure_format="png")
    key = figures.figure_key(_bar([1, 2]), p)
    assert key == figures.figure_key(_bar([1, 2]), p)
    assert key != figures.figure_key(_bar([1, 3]), p)
    assert key != figures.figure_key(_bar([1, 2]), ReportParams(figure_format="svg"))
    assert key != figures.figure_key(
        _bar([1, 2]), ReportParams(figure_format="png", figure_scale=2)
    )


def test_a_hanging_browser_is_stopped_and_the_figures_fall_back(
    tmp_path: Path, monkeypatch
) -> None:
    """kaleido's own timeout covers a figure's rendering, not its browser's start: a browser
    that hangs (a run of the suite waited ten minutes on one) is killed after the stage's
    timeout and every figure is a plain SVG, the writeup told why."""
    import subprocess
    import time

    started: list[subprocess.Popen] = []

    def hangs(figs, paths, format, width, scale):  # a browser that never answers
        started.append(subprocess.Popen(["sleep", "600"]))
        started[0].wait()

    monkeypatch.setattr(pio, "write_images", hangs)
    monkeypatch.setattr(figures, "BROWSER_TIMEOUT_S", 1.0)
    figs = {"a": _bar([1, 2]), "b": _bar([3])}
    t0 = time.perf_counter()
    paths, error = figures.export_figures(figs, tmp_path / "figures", ReportParams(), None)
    assert time.perf_counter() - t0 < 30
    assert error == "TimeoutError"
    assert paths == figures.fallback(figs, ReportParams())
    assert sorted(f.name for f in (tmp_path / "figures").iterdir()) == ["a.svg", "b.svg"]
    assert started and started[0].poll() is not None  # the hanging process was killed


def test_an_error_of_the_browser_reaches_the_caller() -> None:
    def fails() -> None:
        raise RuntimeError("no chromium")

    with pytest.raises(RuntimeError, match="no chromium"):
        figures.within(5.0, fails)
    figures.within(5.0, lambda: None)  # and a draw that returns, returns
