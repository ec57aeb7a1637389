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
