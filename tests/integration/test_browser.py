"""reports/index.html in headless Chromium: no console message, every chart rendered, a screenshot.

Uses Debian's /usr/bin/chromium (``make browser`` installs it; skipped with a reason when absent)
on the report of a small demo project built once per worker (tests/notebooks/demo_project.py).
``make test`` installs chromium in the background: the first test here builds the project, then
waits for that install (``tests/browser_job.py``).
Console messages are read from Chromium's own log (``--enable-logging=stderr --v=0`` prints every
``console.*`` call and uncaught error as a ``CONSOLE`` line): the report must log nothing at all.
Rendering is checked on the DOM after load (``--dump-dom`` with ``--virtual-time-budget``): every
plotly figure div must hold its ``main-svg``.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests import browser_job
from tests.notebooks.demo_project import GROUPS, demo_project

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(GROUPS["reads"])]

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
    "--virtual-time-budget=20000",
]


def chromium(browser: str, page: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    """Run headless Chromium (``browser``) on ``page`` with a fresh profile under ``out``."""
    profile = out / f"profile-{len(list(out.glob('profile-*')))}"
    cmd = [browser, *FLAGS, f"--user-data-dir={profile}", *extra, page.resolve().as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


def console_lines(stderr: str) -> list[str]:
    """Console messages and uncaught errors of the page, from Chromium's log."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def figure_ids(html_text: str) -> list[str]:
    return re.findall(r'<div id="(fig-[\w-]+)" class="plotly-graph-div', html_text)


def rendered(dom: str, ids: list[str]) -> dict[str, bool]:
    """For each figure div: does its part of the DOM hold a rendered ``main-svg``?"""
    starts = {i: dom.find(f'id="{i}"') for i in ids}
    order = sorted((p, i) for i, p in starts.items() if p >= 0)
    out = {i: False for i in ids}
    for n, (pos, i) in enumerate(order):
        end = order[n + 1][0] if n + 1 < len(order) else len(dom)
        out[i] = "main-svg" in dom[pos:end]
    return out


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> str:
    if browser_job.install_running():
        # the project first (these tests read it anyway); `make test`'s install ends meanwhile
        demo_project(tmp_path_factory)
        browser_job.wait_for_install()
    found = browser_job.find_chromium()
    if found is None:
        pytest.skip(
            "headless Chromium is not installed (`make browser` installs Debian's chromium)"
        )
    return found


def test_console_check_catches_errors(browser: str, tmp_path: Path) -> None:
    """The detector itself: a page that logs an error and throws is caught."""
    page = tmp_path / "bad.html"
    page.write_text(
        '<html><body><script>console.error("boom-console");'
        "notDefinedAnywhere();</script></body></html>"
    )
    lines = console_lines(chromium(browser, page, tmp_path, "--dump-dom").stderr)
    assert any("boom-console" in x for x in lines), lines
    assert any("notDefinedAnywhere" in x for x in lines), lines


def test_index_renders_every_chart_without_console_errors(
    browser: str, tmp_path_factory, tmp_path: Path
) -> None:
    project = demo_project(tmp_path_factory)
    index = project / "reports/index.html"
    source = index.read_text()
    ids = figure_ids(source)
    assert len(ids) >= 8, (
        ids
    )  # activity, reach, agreement, weekend, gaming, topics, experts, validity
    assert source.count("<script") - len(ids) == 1  # plotly.js inlined once, one script per figure
    assert not re.search(r'<script[^>]+src="https?://', source)  # nothing from the network
    proc = chromium(browser, index, tmp_path, "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert console_lines(proc.stderr) == []
    status = rendered(proc.stdout, ids)
    assert all(status.values()), [i for i, ok in status.items() if not ok]
    shot = tmp_path / "index.png"
    proc = chromium(browser, index, tmp_path, "--window-size=1280,4000", f"--screenshot={shot}")
    assert shot.exists() and shot.stat().st_size > 50_000, proc.stderr[-2000:]
    assert console_lines(proc.stderr) == []
