"""Ground truth comes from ``source.truth_path`` (never from the shape of ``source.path``)."""

from __future__ import annotations

import polars as pl
import pytest

from analysis import groundtruth
from analysis.config import ParamsError, SourceParams, section


def test_no_truth_path_means_no_ground_truth_even_on_the_demo_dump():
    params = {"source": {"format": "canonical", "path": "data/raw/demo", "truth_path": None}}
    assert not groundtruth.has_truth(params)


def test_a_truth_path_is_read_from_wherever_params_say(tmp_path):
    folder = tmp_path / "truth"
    folder.mkdir()
    pl.DataFrame({"account_id": ["a"], "role": ["expert"]}).write_parquet(
        folder / "accounts.parquet"
    )
    pl.DataFrame({"post_id": ["p"], "account_id": ["a"]}).write_parquet(folder / "posts.parquet")
    params = {
        "source": {"format": "canonical", "path": "data/raw/demo", "truth_path": str(folder)},
        "privacy": {"key_source": "demo"},
    }
    assert groundtruth.truth_dir(params) == folder
    accounts, posts = groundtruth.load_truth(params)
    assert accounts["role"].to_list() == ["expert"]
    assert accounts["account_id"][0].startswith("acct_") and accounts["account_id"][0] != "a"
    assert posts["account_id"][0] == accounts["account_id"][0]


def test_a_named_truth_folder_without_its_files_is_an_error_naming_the_file(tmp_path):
    params = {"source": {"truth_path": str(tmp_path / "nowhere")}}
    with pytest.raises(FileNotFoundError, match=r"nowhere/accounts.parquet is missing"):
        groundtruth.has_truth(params)


def test_the_demo_truth_with_a_real_dump_is_refused():
    with pytest.raises(ParamsError, match=r"set source\.truth_path: null for a real dump"):
        section(
            {"source": {"format": "usenet", "path": "x", "truth_path": "data/raw/demo_truth"}},
            "source",
            SourceParams,
        )
