"""``tests.browser_job``: the browser test waits for ``make test``'s background chromium install
while it runs, and never for a job that ended or was never started."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tests import browser_job
from tests.conftest import ROOT


def _job(lock: Path, seconds: float, done: Path) -> str:
    """The Makefile's recipe with ``sleep`` in place of the install."""
    return f"( exec 9>{lock}; flock 9; sleep {seconds}; echo $? > {done} ) > /dev/null 2>&1 &"


def test_running_only_while_the_job_holds_its_lock(tmp_path: Path) -> None:
    job = tmp_path / "browser-install"
    lock, done = tmp_path / "browser-install.lock", tmp_path / "browser-install.done"
    assert not browser_job.install_running(job)  # never started (pytest run directly)
    subprocess.run(["bash", "-c", _job(lock, 1.5, done)], check=True)
    deadline = time.monotonic() + 10
    while not browser_job.install_running(job) and time.monotonic() < deadline:
        time.sleep(0.02)  # the background shell takes the lock a moment after starting
    assert browser_job.install_running(job)
    waited = browser_job.wait_for_install(job, wait_s=30, poll_s=0.05)
    assert done.read_text().strip() == "0" and 0.3 < waited < 30
    assert not browser_job.install_running(job)  # ended: the lock file stays, free


def test_a_killed_job_holds_nothing(tmp_path: Path) -> None:
    job = tmp_path / "browser-install"
    lock = tmp_path / "browser-install.lock"
    # flock(1) passes the locked descriptor to its command: the lock lives as long as any
    # process of the job (apt-get, dpkg) does, and no longer once they are all gone
    holder = subprocess.Popen(["flock", str(lock), "sleep", "30"], start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while not browser_job.install_running(job) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert browser_job.install_running(job)
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
    deadline = time.monotonic() + 10
    while browser_job.install_running(job) and time.monotonic() < deadline:
        time.sleep(0.02)  # the orphaned sleep is reaped a moment later
    assert not browser_job.install_running(job)


def test_the_makefile_runs_the_job_the_test_waits_for() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "BROWSER_JOB := $(VENV)/browser-install" in makefile
    assert browser_job.JOB == ROOT / ".venv" / "browser-install"
    recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "exec 9>$(BROWSER_JOB).lock; flock 9; $(INSTALL_BROWSER);" in recipe
    assert "$(MAKE)" not in recipe  # a sub-make under make -j would hold make until it ends
    assert recipe.index("BROWSER_JOB).lock") < recipe.index("pytest")
