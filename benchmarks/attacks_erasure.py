"""Issue 13 item 5 (erasure): forget, re-run ingest, count what is left.

A small project is ingested once; its outputs are copied into ``.dvc/cache`` as DVC would keep
them; then ``resonance forget`` (the stage's ``run``) and the ingest stage again. What is
counted: the person's posts and name variants in the new outputs, cache copies (and whether
``forget`` said so), the refusals of names of nobody, ids that must not collapse, whether the
opt-out list is reversible with a dictionary of the dump's names, and whether a later
``is_minor`` flag changes what prunes the embedding cache.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import polars as pl

from benchmarks import attack_inputs as crafted
from benchmarks.attacks_privacy import _aid, ingest_stage

ROOT = Path(__file__).resolve().parents[1]
NELL_TEXTS = [f"nell's own secret recipe number {j}" for j in range(3)]
MENTIONS = [
    "nell_t's stout recipe",
    "a nell_t-style porter",
    "thanks nell trent",
    "NELL TRENT said so",
    "thanks N\u0435ll \u0422rent",
    "thanks Ne\u200dll Tr\u200bent",
]


def _dump(root: Path) -> Path:
    d = root / "erasure_dump"
    accounts = [
        *crafted.adults(20),
        f"alice@example.com,usenet,alice,Alice Liddell,{crafted.T0},,,false,true",
        f"alice@other.org,usenet,alice2,Alice Other,{crafted.T0},,,false,true",
        f"u3,usenet,nell_t,Nell Trent,{crafted.T0},,,false,true",
    ]
    crafted.write_csv(d / "accounts.csv", crafted.ACCOUNT_HEADER, accounts)
    posts = [
        f"a{i},usenet,adult{i},post,2024-02-01T0{i % 9}:00:00Z,ordinary {i}" for i in range(20)
    ]
    posts += [f"n{j},usenet,u3,post,2024-02-02T00:0{j}:00Z,{t}" for j, t in enumerate(NELL_TEXTS)]
    posts += [
        f"x{j},usenet,adult{j},post,2024-02-03T00:0{j}:00Z,{t}" for j, t in enumerate(MENTIONS)
    ]
    posts += [
        f"e{j},usenet,{who},post,2024-02-04T00:0{j}:00Z,post by {who.split('@')[1]} {j}"
        for j, who in enumerate(["alice@example.com", "alice@other.org"] * 2)
    ]
    crafted.write_csv(d / "posts.csv", crafted.POST_HEADER, posts)
    return d


def _cache_copy() -> int:
    """Copy this run's outputs into .dvc/cache/files/md5 as DVC does; the number copied."""
    n = 0
    for f in [*Path("data/interim").glob("*.parquet"), Path("reports/metrics/ingest.json")]:
        digest = hashlib.md5(f.read_bytes()).hexdigest()
        dest = Path(".dvc/cache/files/md5") / digest[:2] / digest[2:]
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, dest)
        n += 1
    return n


def _cache_holding(pseudo: str) -> int:
    """Cache files holding the pseudonym or one of the person's texts (Parquet read, not bytes)."""
    n = 0
    for f in Path(".dvc/cache").rglob("*"):
        if not f.is_file():
            continue
        try:
            df = pl.read_parquet(f)
            text = "\n".join(str(v) for c in df.columns for v in df[c].to_list())
        except Exception:  # not Parquet: JSON and the like, read as text
            text = f.read_text(encoding="utf-8", errors="replace")
        n += pseudo in text or any(t in text for t in NELL_TEXTS)
    return n


def _forget(params: dict[str, Any], identity: str) -> str:
    from analysis.stages import forget

    try:
        rc = forget.run(params, argparse.Namespace(identity=identity, purge_cache=False))
        return f"rc {rc}"
    except forget.ForgetError as exc:
        return "refused: " + str(exc).split(";")[0]


def erasure(root: str) -> list[dict[str, Any]]:
    """Forget, re-run ingest, count what is left of the person."""
    from analysis import privacy_opt_out
    from analysis.audit import Identifiers
    from analysis.audit_scan import Scanner
    from analysis.ingest_names import account_rows
    from analysis.sources import read_source

    dump = _dump(Path(root))
    src = {"format": "canonical", "path": str(dump), "name": "u"}
    proj = Path(root) / "proj_erasure"
    rows: list[dict[str, Any]] = []
    with crafted.project(proj, src) as params:
        rc, err = ingest_stage(params)
        if rc != 0:
            return [dict(key="5.run", attack="forget then re-run", now=err, held=False)]
        n_cached = _cache_copy()
        nell = _aid("u", "u3")
        own_before = (
            pl.read_parquet("data/interim/posts.parquet")
            .filter(pl.col("account_id") == nell)
            .height
        )
        nobody = _forget(params, "Display Name")
        log_before = Path("logs/resonance.log").read_text(encoding="utf-8")
        t0 = time.perf_counter()
        by_name = _forget(params, "Nell Trent")
        by_address = _forget(params, "alice@example.com")
        reported = Path("logs/resonance.log").read_text(encoding="utf-8")[len(log_before) :]
        rc2, err2 = ingest_stage(params)
        secs = time.perf_counter() - t0
        posts = pl.read_parquet("data/interim/posts.parquet")
        own = posts.filter(pl.col("account_id") == nell).height + sum(
            posts["text"].str.contains(t, literal=True).sum() for t in NELL_TEXTS
        )
        tables = read_source("canonical", dump)
        ident = Identifiers.from_tables([account_rows(tables)], [tables.posts])
        nell_names = {"nell_t", "Nell Trent"}
        left = sum(
            any(v in nell_names for _, v in found)
            for found in Scanner(ident).scan_many(posts["text"].to_list())
        )
        left_raw = sum(
            any(v in nell_names for _, v in found) for found in Scanner(ident).scan_many(MENTIONS)
        )
        other = posts.filter(pl.col("account_id") == _aid("u", "alice@other.org")).height
        holding = _cache_holding(nell)
        entries = [
            ln for ln in Path(params["privacy"]["opt_out_path"]).read_text().splitlines() if ln
        ]
        # dictionary attack on the opt-out list: every id, handle and name of the dump, hashed
        # the way the old list did (unsalted SHA-256) and the way the legacy reader does
        words = {
            w
            for c in ("account_id", "handle", "display_name")
            for w in account_rows(tables)[c].drop_nulls().to_list()
        }
        guesses = {privacy_opt_out.legacy_digest(w) for w in words}
        guesses |= {hashlib.sha256(w.casefold().encode()).hexdigest() for w in words}
        reversed_ = sum(e in guesses or e.split(":")[-1] in guesses for e in entries)
        digest_before = json.loads(Path("reports/metrics/ingest.json").read_text())[
            "removed_accounts_sha256"
        ]
        # a later is_minor flag on adult0: does what prunes the embedding cache change?
        acc = (
            (dump / "accounts.csv")
            .read_text()
            .replace(
                f"adult0,forum,adult_h0,,{crafted.T0},5,1.0,false,true",
                f"adult0,forum,adult_h0,,{crafted.T0},5,1.0,true,true",
            )
        )
        (dump / "accounts.csv").write_text(acc)
        ingest_stage(params)
        digest_after = json.loads(Path("reports/metrics/ingest.json").read_text())[
            "removed_accounts_sha256"
        ]
    ignored = (
        subprocess.run(
            ["git", "check-ignore", "-q", "data/optout/opt_out.txt"], cwd=ROOT, check=False
        ).returncode
        == 0
    )
    said = "dvc gc" in reported and "holds" in reported
    rows += [
        dict(
            key="5.own",
            attack="forget 'Nell Trent', re-run ingest: her posts left",
            now=f"{own} in data/interim ({own_before} before; forget {by_name})"
            + ("" if rc2 == 0 else f"; {err2}"),
            held=own == 0 and rc2 == 0,
            seconds=secs,
        ),
        dict(
            key="5.mentions",
            attack="others' posts naming her (6 variants of item 3)",
            now=f"{left} of {len(MENTIONS)} still name her (audit finds {left_raw} in the raw texts)",
            held=left == 0,
        ),
        dict(
            key="5.cache",
            attack=f"old outputs in .dvc/cache ({n_cached} files copied)",
            now=f"{holding} files still hold her; forget said so: {'yes' if said else 'NO'} "
            "(offers --purge-cache = dvc gc -w)",
            held=said,
        ),
        dict(
            key="5.nobody",
            attack="forget 'Display Name' (no such account)",
            now=nobody,
            held=nobody.startswith("refused"),
        ),
        dict(
            key="5.collapse",
            attack="forget alice@example.com: alice@other.org kept?",
            now=f"{other} of 2 posts of alice@other.org kept ({by_address})",
            held=other == 2,
        ),
        dict(
            key="5.optout",
            attack="opt_out.txt reversed by a dictionary of the dump's names",
            now=f"{reversed_} of {len(entries)} entries reversed; git-ignored: "
            f"{'yes' if ignored else 'NO'}",
            held=reversed_ == 0 and ignored,
        ),
        dict(
            key="5.later_minor",
            attack="a later is_minor flag prunes the embedding cache",
            now="removed_accounts_sha256 changed: "
            + ("yes" if digest_before != digest_after else "NO"),
            held=digest_before != digest_after,
        ),
    ]
    return rows
