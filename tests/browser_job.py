"""The headless Chromium of the browser test, and ``make test``'s background install of it.

``make test`` starts the install of Debian's chromium (apt-get, as root) in the background and
runs the tests at once: about a minute of install no longer adds to the suite. The job holds an
exclusive ``flock`` on ``.venv/browser-install.lock`` while it runs (``Makefile``: ``BROWSER_JOB``)
and writes ``.done`` (its exit status) and ``.log``. The browser test builds the demo project
first (~3 min) and then waits here while the lock is held. A lock, not a process id: a job
killed with its make leaves nothing held, and a reused process id cannot look like a job.
"""

from __future__ import annotations

import fcntl
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
    """Does a background install started by ``make test`` hold its lock now?

    No when no job was started (pytest run directly: no lock file) or the job ended, however
    it ended (the kernel releases a flock with the last descriptor holding it).
    """
    lock = job.with_name(job.name + ".lock")
    if not lock.exists():
        return False
    with open(lock, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
    return False


def wait_for_install(job: Path = JOB, wait_s: float = WAIT_S, poll_s: float = 2.0) -> float:
    """Wait while :func:`install_running` (at most ``wait_s``); returns the seconds waited."""
    started = time.monotonic()
    while install_running(job) and time.monotonic() - started < wait_s:
        time.sleep(poll_s)
    return time.monotonic() - started
