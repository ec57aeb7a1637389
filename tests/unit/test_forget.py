"""``resonance forget`` (issue 13 item 5): names resolve or the command refuses; ids never
collapse; keyed digests only; what remains in DVC's cache is reported."""

from __future__ import annotations

import argparse
import logging

import polars as pl
import pytest
import yaml

from analysis import privacy, privacy_opt_out
from analysis.stages import forget

KEY_TEXT = "forget-test-key-0123456789abcdefghijklmnop"


def _project(tmp_path, monkeypatch):
    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / "accounts.csv").write_text(
        "account_id,platform,handle,display_name\n"
        "alice@example.com,usenet,alice,Alice Liddell\n"
        "alice@other.org,usenet,alice2,Alice Other\n"
        "u3,usenet,nell_t,Nell Trent\n"
    )
    (dump / "posts.csv").write_text(
        "post_id,platform,account_id,kind,created_at,text\n"
        "p1,usenet,alice@example.com,post,2024-01-01T00:00:00Z,hi\n"
    )
    params = {
        "source": {"format": "canonical", "path": str(dump), "name": "d"},
        "privacy": {"key_source": "secret", "opt_out_path": str(tmp_path / "opt_out.txt")},
    }
    monkeypatch.setenv("RESONANCE_KEY", KEY_TEXT)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return params


def _forget(params, identity: str) -> int:
    return forget.run(params, argparse.Namespace(identity=identity, purge_cache=False))


def test_display_names_resolve_to_their_account(tmp_path, monkeypatch) -> None:
    params = _project(tmp_path, monkeypatch)
    assert _forget(params, "nell   TRENT") == 0
    entries = privacy_opt_out.read_opt_out(tmp_path / "opt_out.txt", KEY_TEXT.encode())
    assert entries == {privacy_opt_out.opt_out_digest("u3", KEY_TEXT.encode())}
    assert "Nell" not in (tmp_path / "opt_out.txt").read_text()


def test_a_name_of_nobody_is_refused_not_reported_as_done(tmp_path, monkeypatch) -> None:
    params = _project(tmp_path, monkeypatch)
    with pytest.raises(forget.ForgetError, match="no account of the configured dumps"):
        _forget(params, "Display Name")
    assert not (tmp_path / "opt_out.txt").exists()


def test_an_address_erases_that_address_only(tmp_path, monkeypatch) -> None:
    params = _project(tmp_path, monkeypatch)
    _forget(params, "alice@example.com")
    entries = privacy_opt_out.read_opt_out(tmp_path / "opt_out.txt", KEY_TEXT.encode())
    key = KEY_TEXT.encode()
    accounts = pl.DataFrame({"account_id": ["alice@example.com", "alice@other.org"]})
    opted = accounts.filter(privacy_opt_out.opted_out_expr("account_id", key, entries))
    assert opted["account_id"].to_list() == ["alice@example.com"]


def test_remaining_copies_in_the_dvc_cache_are_reported(tmp_path, monkeypatch, caplog) -> None:
    params = _project(tmp_path, monkeypatch)
    pseudo = privacy.pseudonym(KEY_TEXT.encode(), "d", "account", "u3", privacy.ACCOUNT_PREFIX)
    cache = tmp_path / ".dvc/cache/files/md5/ab"
    cache.mkdir(parents=True)
    (cache / "cdef").write_bytes(b"old posts.parquet " + pseudo.encode())
    (cache / "0123").write_bytes(b"something else")
    with caplog.at_level(logging.INFO):
        _forget(params, "@nell_t")
    assert "holds 2 file(s) of earlier runs, 1 of them" in caplog.text
    assert "dvc gc --workspace" in caplog.text
    assert pseudo not in caplog.text


def test_an_author_with_posts_but_no_account_row_is_forgotten(tmp_path, monkeypatch) -> None:
    """Ingest derives a participant from posts when the account list lacks its row; forget
    finds that author by its raw id and the next ingest removes everything it wrote."""
    from analysis import cli, paths

    params = _project(tmp_path, monkeypatch)
    dump = tmp_path / "dump"
    with (dump / "posts.csv").open("a") as f:
        f.write("p2,usenet,orphan@example.net,post,2024-01-02T00:00:00Z,orphan words\n")
    assert _forget(params, "orphan@example.net") == 0
    entries = privacy_opt_out.read_opt_out(tmp_path / "opt_out.txt", KEY_TEXT.encode())
    assert entries == {privacy_opt_out.opt_out_digest("orphan@example.net", KEY_TEXT.encode())}
    params["ingest"] = {"max_reject_share": 0.9}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    assert cli.main(["--params", "params.yaml", "ingest"]) == 0
    posts = pl.read_parquet(tmp_path / paths.POSTS)
    assert posts.height == 1 and "orphan" not in posts["text"][0]


def test_forget_erases_every_id_the_link_table_joins(tmp_path, monkeypatch) -> None:
    """One person, two dumps, joined by the link table: forgetting the handle of one dump
    forgets the linked id of the other dump too (and ids linked to that one, in a chain)."""
    params = _project(tmp_path, monkeypatch)
    other = tmp_path / "other"
    other.mkdir()
    (other / "accounts.csv").write_text(
        "account_id,platform,handle,display_name\nal-99,forum,al,\nzed,forum,zed,\n"
    )
    (other / "posts.csv").write_text(
        "post_id,platform,account_id,kind,created_at,text\n"
        "q1,forum,al-99,post,2024-01-01T00:00:00Z,hi\n"
    )
    (tmp_path / "links.csv").write_text(
        "namespace_a,id_a,namespace_b,id_b\nd,u3,o,al-99\no,al-99,x,elsewhere-7\n"
    )
    params["source"]["extra"] = [{"format": "canonical", "path": str(other), "name": "o"}]
    params["source"]["link_table"] = str(tmp_path / "links.csv")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    assert _forget(params, "@nell_t") == 0
    key = KEY_TEXT.encode()
    entries = privacy_opt_out.read_opt_out(tmp_path / "opt_out.txt", key)
    assert entries == {
        privacy_opt_out.opt_out_digest(raw, key) for raw in ("u3", "al-99", "elsewhere-7")
    }


def test_the_purge_call_after_the_run_says_what_it_did(tmp_path, monkeypatch, caplog) -> None:
    """The documented route is `forget X`, `dvc repro`, then `forget --purge-cache X`. That
    second call added nothing (the digest is on the list already) yet logged "added 1
    account(s) ... run `dvc repro`", and warned, before purging, that the cache held copies
    to purge: the person running it was told the erasure was still to do."""
    params = _project(tmp_path, monkeypatch)
    pseudo = privacy.pseudonym(KEY_TEXT.encode(), "d", "account", "u3", privacy.ACCOUNT_PREFIX)
    cache = tmp_path / ".dvc/cache/files/md5/ab"
    cache.mkdir(parents=True)
    old = cache / "cdef"
    old.write_bytes(b"old posts.parquet " + pseudo.encode())
    (cache / "0123").write_bytes(b"the current outputs")
    _forget(params, "@nell_t")
    gc = []
    monkeypatch.setattr(forget.subprocess, "run", lambda cmd, check: gc.append(cmd) or old.unlink())
    caplog.clear()
    with caplog.at_level(logging.INFO):
        forget.run(params, argparse.Namespace(identity="@nell_t", purge_cache=True))
    assert gc == [["dvc", "gc", "--workspace", "--force"]]
    assert "added 1 account(s)" not in caplog.text
    assert "1 account(s) already on" in caplog.text
    assert "after `dvc repro`, run" not in caplog.text
    assert "1 file(s) left, the current outputs', 0 of them" in caplog.text
    assert (tmp_path / "opt_out.txt").read_text().count("hmac:") == 1


def test_the_cache_report_reads_compressed_parquet(tmp_path, monkeypatch, caplog) -> None:
    """DVC's cache holds old Parquet outputs whose zstd pages hide a pseudonym from a byte
    search: on the demo the report counted 1 of the 16 cached files holding the erased
    account. The count must be of the values, not of the bytes."""
    params = _project(tmp_path, monkeypatch)
    key = KEY_TEXT.encode()
    pseudo = privacy.pseudonym(key, "d", "account", "u3", privacy.ACCOUNT_PREFIX)
    others = [privacy.pseudonym(key, "d", "account", f"x{i}", "acct_") for i in range(300)]
    cache = tmp_path / ".dvc/cache/files/md5/ab"
    cache.mkdir(parents=True)
    old = cache / "cdef"
    pl.DataFrame({"account_id": [*others[:150], pseudo, *others[150:]] * 3}).write_parquet(
        old, compression="zstd"
    )
    assert pseudo.encode() not in old.read_bytes()  # what a byte search sees
    (cache / "0123").write_bytes(b"something else")
    with caplog.at_level(logging.INFO):
        _forget(params, "@nell_t")
    assert "holds 2 file(s) of earlier runs, 1 of them" in caplog.text
    assert forget.cache_report([pseudo], tmp_path / ".dvc/cache") == (2, 1)
    assert forget.cache_report([others[0][:-1] + "z"], tmp_path / ".dvc/cache") == (2, 0)


def test_renders_outside_dvc_are_cleared(tmp_path, monkeypatch) -> None:
    """Jupyter saves a paired notebook (notebooks/*.ipynb, git-ignored) with the last run's
    outputs (notebook 12 prints the top account's pseudonym), and `dvc plots show` writes
    dvc_plots/index.html with one point per account: `dvc repro` redoes neither, so the
    erased person stayed in both."""
    import json

    params = _project(tmp_path, monkeypatch)
    pseudo = privacy.pseudonym(KEY_TEXT.encode(), "d", "account", "u3", privacy.ACCOUNT_PREFIX)
    (tmp_path / "notebooks").mkdir()
    source = "top = scores.sort('score')['account_id'][0]\ntop"
    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": "# Models"},
        {
            "cell_type": "code",
            "execution_count": 3,
            "metadata": {},
            "outputs": [{"output_type": "execute_result", "data": {"text/plain": pseudo}}],
            "source": source,
        },
    ]
    nb = tmp_path / "notebooks/12-influence-models.ipynb"
    nb.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4}))
    untouched = tmp_path / "notebooks/01-explore.ipynb"
    untouched.write_text(json.dumps({"cells": cells[:1], "metadata": {}, "nbformat": 4}))
    before = untouched.read_text()
    (tmp_path / "dvc_plots").mkdir()
    (tmp_path / "dvc_plots/index.html").write_text(f"<script>{pseudo}</script>")
    _forget(params, "@nell_t")
    assert pseudo not in nb.read_text()
    code = json.loads(nb.read_text())["cells"][1]
    assert code["source"] == source and code["outputs"] == [] and code["execution_count"] is None
    assert untouched.read_text() == before
    assert not (tmp_path / "dvc_plots").exists()
