"""``benchmarks.pipeline_scale``: each stage's figures are printed as the stage ends."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
import yaml

from benchmarks.common import StageClock
from benchmarks.pipeline_scale import TreeRSS, follow, setup_project

# stands in for `dvc repro`: each stage is a child process, as DVC runs them; stage b holds
# 300 MiB for a second
SCRIPT = """
import subprocess, sys
for name, mib in (("a", 0), ("b", 300)):
    print(f"Running stage '{name}':", flush=True)
    code = f"import time; x = bytearray({mib} * 2**20); x[::4096] = b'1' * len(x[::4096]); time.sleep(1)"
    subprocess.run([sys.executable, "-c", code], check=True)
"""


def test_each_stage_is_reported_as_it_ends_with_its_own_peak() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    said: list[str] = []
    clock = StageClock()
    with TreeRSS(proc.pid, interval_s=0.05) as mem:
        rc = follow(proc, io.StringIO(), clock, mem, say=said.append)
    assert rc == 0
    assert [line.split(":")[0].strip() for line in said] == ["a", "b"]
    assert mem.peaks["b"] - mem.peaks["a"] > 250, mem.peaks
    assert "peak" in said[1] and f"{mem.peaks['b']:,.0f} MiB" in said[1]


def test_set_overrides_params_of_the_copy_and_refuses_an_unknown_name(tmp_path) -> None:
    setup_project(
        tmp_path / "p", tmp_path / "dump", tmp_path / "models", {"ingest.engine": "streaming"}
    )
    params = yaml.safe_load((tmp_path / "p" / "params.yaml").read_text())
    assert params["ingest"]["engine"] == "streaming"
    assert params["source"]["path"] == str(tmp_path / "dump")
    with pytest.raises(SystemExit, match=r"ingest\.engin: no such parameter"):
        setup_project(tmp_path / "q", tmp_path / "dump", tmp_path / "models", {"ingest.engin": 1})


def test_repeated_re_runs_print_each_share_and_their_median() -> None:
    from benchmarks.pipeline_scale import repeat_summary

    runs = [{"seconds": s, "n_new": n} for s, n in ((50.0, 100), (40.0, 101), (46.0, 102))]
    text = repeat_summary(runs, 1000.0)
    lines = text.splitlines()
    assert lines[0] == "  re-run 1: +100 posts, 50.0 s = 5.00 %"
    assert lines[1] == "  re-run 2: +101 posts, 40.0 s = 4.00 %"
    assert lines[-1] == "  median of 3 re-runs: 46.0 s = 4.60 % (range 4.00-5.00 %)"


def test_a_re_run_on_a_slower_host_is_also_shown_at_the_host_speed_of_its_time() -> None:
    """The full run's probe took 1.0 s; the re-runs' 1.5 s (the host a third slower) and 1.0 s:
    the first re-run's 60 s are 6 % of the 1,000 s full run, 4 % of the 1,500 s the full run
    would have taken then; the second is unchanged."""
    from benchmarks.pipeline_scale import host_adjusted, repeat_summary

    assert host_adjusted(60.0, 1000.0, 1.0, 1.5) == pytest.approx(4.0)
    assert host_adjusted(60.0, 1000.0, 1.0, 1.0) == pytest.approx(6.0)
    runs = [
        {"seconds": 60.0, "n_new": 100, "probe_s": 1.5},
        {"seconds": 50.0, "n_new": 101, "probe_s": 1.0},
    ]
    lines = repeat_summary(runs, 1000.0, probe_full=1.0).splitlines()
    assert lines[0] == (
        "  re-run 1: +100 posts, 60.0 s = 6.00 % (4.00 % at the host's speed then: probe 1.50 s)"
    )
    assert lines[-1] == (
        "  at the host's speed of each re-run (probe 1.00 s over the full run): "
        "median 4.50 % (range 4.00-5.00 %)"
    )
    # without a probe (an older JSON) the plain shares only
    assert "host" not in repeat_summary(runs, 1000.0)


def test_the_host_probe_times_its_work() -> None:
    from benchmarks.common import host_probe

    assert 0 < host_probe(rows=20_000, loops=10_000) < 60
