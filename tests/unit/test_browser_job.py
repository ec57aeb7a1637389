"""``tests.browser_job``: the browser test waits for ``make test``'s background chromium install
while it runs, and never for a job that ended or was never started."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests import browser_job
from tests.conftest import ROOT


def _files(job: Path) -> tuple[Path, Path]:
    return job.with_name(job.name + ".pid"), job.with_name(job.name + ".done")


def test_running_only_while_the_process_lives_without_an_exit_status(tmp_path: Path) -> None:
    job = tmp_path / "browser-install"
    pid, done = _files(job)
    assert not browser_job.install_running(job)  # never started (pytest run directly)
    pid.write_text(f"{os.getpid()}\n")
    assert browser_job.install_running(job)  # started, alive, no status yet
    done.write_text("0\n")
    assert not browser_job.install_running(job)  # ended
    done.unlink()
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    ).stdout.strip()
    pid.write_text(gone)
    assert not browser_job.install_running(job)  # gone without a status (interrupted make)
    pid.write_text("not a pid")
    assert not browser_job.install_running(job)


def test_the_wait_ends_when_the_job_writes_its_status(tmp_path: Path) -> None:
    job = tmp_path / "browser-install"
    pid, done = _files(job)
    # what the Makefile's recipe does, with a one-second job instead of `make browser`
    script = f"( sleep 1; echo 0 > {done} ) > {job}.log 2>&1 & echo $! > {pid}"
    subprocess.run(["bash", "-c", script], check=True)
    started = time.monotonic()
    assert browser_job.install_running(job)
    waited = browser_job.wait_for_install(job, wait_s=30, poll_s=0.05)
    assert done.read_text().strip() == "0"
    assert 0.5 < waited < 30 and time.monotonic() - started < 30


def test_the_makefile_writes_the_files_the_test_reads() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "BROWSER_JOB := $(VENV)/browser-install" in makefile
    assert browser_job.JOB == ROOT / ".venv" / "browser-install"
    recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "$(MAKE) -s browser; echo $$? > $(BROWSER_JOB).done" in recipe
    assert "& echo $$! > $(BROWSER_JOB).pid" in recipe
    assert recipe.index("BROWSER_JOB).pid") < recipe.index("pytest")
