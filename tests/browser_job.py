"""The headless Chromium of the browser test, and ``make test``'s background install of it.

``make test`` starts ``make browser`` (Debian's chromium with apt-get, as root) in the background
and runs the tests at once: about a minute of install no longer adds to the suite. Its state
lives beside the venv (``Makefile``: ``BROWSER_JOB``): ``.pid`` (the background job, written
when it starts), ``.done`` (its exit status, written when it ends), ``.log``. The browser test
builds the demo project first (~3 min) and then waits here for the job, if one is running.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from tests.conftest import ROOT

#: ``make test``'s background install (``Makefile``: ``BROWSER_JOB := $(VENV)/browser-install``)
JOB = ROOT / ".venv" / "browser-install"
#: Longest wait for it (an install from a slow mirror); then the test skips without a browser.
WAIT_S = 900.0


def find_chromium() -> str | None:
    """Debian's chromium, if installed."""
    return shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    )


def install_running(job: Path = JOB) -> bool:
    """Is a background install started by ``make test`` still running?

    No: no job was started (pytest run directly), it wrote its exit status, or its process is
    gone without one (an interrupted ``make``).
    """
    done, pid_file = job.with_name(job.name + ".done"), job.with_name(job.name + ".pid")
    if done.exists() or not pid_file.exists():
        return False
    try:
        os.kill(int(pid_file.read_text().strip()), 0)
    except (ValueError, OSError):
        return False
    return True


def wait_for_install(job: Path = JOB, wait_s: float = WAIT_S, poll_s: float = 2.0) -> float:
    """Wait while :func:`install_running` (at most ``wait_s``); returns the seconds waited."""
    started = time.monotonic()
    while install_running(job) and time.monotonic() - started < wait_s:
        time.sleep(poll_s)
    return time.monotonic() - started
