"""params.yaml errors: one clear line naming the section and the key, no raw pydantic output."""

from __future__ import annotations

import pytest
import yaml

from analysis import cli
from analysis.config import DemoParams, ParamsError, SourceParams, section


def test_a_typo_names_the_key_the_section_and_the_known_keys() -> None:
    with pytest.raises(ParamsError) as err:
        section({"source": {"fromat": "usenet", "path": "x"}}, "source", SourceParams)
    msg = str(err.value)
    assert msg == (
        "params.yaml section 'source': unknown key 'fromat' "
        "(known keys: extra, format, link_table, name, path, truth_path)"
    )
    assert "\n" not in msg and "pydantic" not in msg and "http" not in msg


def test_a_nested_typo_and_a_bad_value_are_located() -> None:
    with pytest.raises(ParamsError, match=r"unknown key 'extra\[0\]\.fromat'"):
        section({"source": {"extra": [{"fromat": "reddit"}]}}, "source", SourceParams)
    with pytest.raises(ParamsError, match=r"section 'demo', key 'n_accounts': .*40 \(got 3\)"):
        section({"demo": {"n_accounts": 3}}, "demo", DemoParams)


def test_valid_and_absent_sections_still_load() -> None:
    assert section({}, "demo", DemoParams) == DemoParams()
    assert section({"source": {"format": "usenet"}}, "source", SourceParams).format == "usenet"


def test_cli_prints_one_line_for_a_params_typo(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"demo": {"sede": 3}}))
    code = cli.main(["--params", str(tmp_path / "params.yaml"), "demo"])
    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert (
        "ERROR analysis: demo failed: params.yaml section 'demo': unknown key 'sede' "
        "(known keys: " in lines[0]
    )
    assert ", seed, " in lines[0] and "pydantic" not in lines[0]
