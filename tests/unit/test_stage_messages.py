"""What a user reads when something is off: hints in stage errors, one-line summaries in logs."""

from __future__ import annotations

import yaml

from analysis import cli
from analysis.stages.ingest import format_hint, guess_format

POSTS_XML = """<?xml version="1.0" encoding="utf-8"?>
<posts>
  <row Id="1" PostTypeId="1" CreationDate="2020-01-01T00:00:00.000" OwnerUserId="5" Body="q" />
  <row Id="2" PostTypeId="2" ParentId="1" CreationDate="2020-01-02T00:00:00.000" OwnerUserId="6" />
</posts>
"""


def test_the_folder_names_its_format(tmp_path) -> None:
    (tmp_path / "se").mkdir()
    (tmp_path / "se" / "Posts.xml").write_text(POSTS_XML)
    assert guess_format(tmp_path / "se") == "stackexchange"
    assert guess_format(tmp_path / "absent") is None
    assert "looks like a 'stackexchange' dump" in format_hint("usenet", tmp_path / "se")
    assert format_hint("stackexchange", tmp_path / "se") == ""


def test_usenet_pointed_at_stack_exchange_suggests_source_format(
    tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dump").mkdir()
    (tmp_path / "dump" / "Posts.xml").write_text(POSTS_XML)
    (tmp_path / "params.yaml").write_text(
        yaml.safe_dump({"source": {"format": "usenet", "path": "dump"}})
    )
    assert cli.main(["--params", "params.yaml", "ingest"]) == 2
    errors = [x for x in capsys.readouterr().err.splitlines() if " ERROR " in x]
    assert len(errors) == 1, errors
    assert "rejected as malformed" in errors[0]
    assert "Check source.format" in errors[0] and "'stackexchange'" in errors[0]


def test_fit_warnings_are_counted_into_one_line_and_repeats_folded() -> None:
    import io
    import logging
    import warnings

    from analysis.progress import quiet_fits

    stage_log = logging.getLogger("analysis.stages.validate")
    model_log = logging.getLogger("analysis.models.engagement")
    root = logging.getLogger()
    stream = io.StringIO()
    saved = root.handlers[:], root.level
    root.handlers = [logging.StreamHandler(stream), logging.StreamHandler(io.StringIO())]
    root.setLevel(logging.INFO)
    try:
        with quiet_fits(stage_log, "validate"):
            for _ in range(12):
                warnings.warn("Perfect separation detected", RuntimeWarning, stacklevel=1)
                model_log.info("engagement: community rate %.3f per post", 0.9)
            warnings.warn("Maximum Likelihood optimization failed", UserWarning, stacklevel=1)
    finally:
        root.handlers, level = saved
        root.setLevel(level)
    err = stream.getvalue().splitlines()
    assert sum("community rate" in x for x in err) == 1, err
    assert "validate: 11 repeated model log lines shown once (run with -v for all)" in err
    assert [x for x in err if "Warning" in x] == [
        "validate: 13 warnings from the statistical fits caught (2 kinds; most frequent "
        "12 x RuntimeWarning: Perfect separation detected)"
    ], err


def test_the_k_search_and_stability_refits_log_progress(caplog) -> None:
    import logging

    import numpy as np

    from analysis.topics import TopicsParams
    from analysis.topics_clustering import choose_k, stability

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 8))
    x = np.vstack([c + 0.05 * rng.normal(size=(30, 8)) for c in centres]).astype(np.float32)
    with caplog.at_level(logging.INFO, logger="analysis.topics_clustering"):
        assert choose_k(x, (2, 3, 4), seed=1) == 3
        stability(x, TopicsParams(n_topics=3, n_stability_seeds=2))
    lines = [r.getMessage() for r in caplog.records]
    assert sum(m.startswith("topics: k search ") for m in lines) == 3, lines
    assert "topics: chose k=3 on 90 sampled posts" in lines
    assert sum(m.startswith("topics: seed ") and " fitted (" in m for m in lines) == 2, lines
    assert sum(m.startswith("topics: 90 posts assigned to the 2 fits") for m in lines) == 1, lines


def test_python_m_analysis_exits_at_once_with_its_code_and_its_logs_written(tmp_path) -> None:
    """``python -m analysis`` ends through ``cli.exit_now``: the stage's code, every log line
    on stderr and in logs/resonance.log, and no interpreter teardown (exit handlers that are
    not logging's do not run: after ingest at 1M posts the teardown took 1.2-1.5 s)."""
    import os
    import subprocess
    import sys

    (tmp_path / "dump").mkdir()
    (tmp_path / "dump" / "Posts.xml").write_text(POSTS_XML)
    (tmp_path / "params.yaml").write_text(
        yaml.safe_dump({"source": {"format": "usenet", "path": "dump"}})
    )
    # the stage fails (a clear error, code 2), and a handler that the teardown would run
    # prints a marker: through runpy, as python -m does, after registering it
    script = (
        "import atexit, runpy, sys\n"
        "atexit.register(lambda: print('TEARDOWN', flush=True))\n"
        "sys.argv = ['analysis', 'ingest']\n"
        "runpy.run_module('analysis', run_name='__main__')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "RESONANCE_KEY"}
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, env=env
    )
    assert proc.returncode == 2, proc.stderr
    assert "TEARDOWN" not in proc.stdout
    assert "ingest failed" in proc.stderr
    assert "ingest failed" in (tmp_path / "logs" / "resonance.log").read_text()
