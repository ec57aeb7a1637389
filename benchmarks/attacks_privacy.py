"""Issue 13 items 1, 2, 3, 6 and 7 (privacy of ingest, names, rejects, keys), re-run.

Each function takes a scratch folder and returns result rows (see ``attacks.row``). The
stages run in a temporary project (``attack_inputs.project``) under a random key: no figure
depends on it.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from benchmarks import attack_inputs as crafted


def _key() -> bytes:
    return os.environ["RESONANCE_KEY"].encode()


def _aid(ns: str, raw: str) -> str:
    from analysis import privacy

    return privacy.pseudonym(_key(), ns, "account", raw, privacy.ACCOUNT_PREFIX)


def ingest_stage(params: dict[str, Any]) -> tuple[int | None, str | None]:
    """Run the ``ingest`` stage in the current project: (return code, error or None)."""
    from analysis.stages import ingest

    try:
        return ingest.run(params, argparse.Namespace()), None
    except Exception as exc:  # the outcome of the attack
        return None, f"{type(exc).__name__}: {str(exc).splitlines()[0]}"


# --------------------------------------------------------------------------- item 1


def minors(root: str) -> list[dict[str, Any]]:
    """Minors and no-consent accounts whose rows are rejected or duplicated: posts ingested?"""
    dump, cases = crafted.minors_dump(Path(root))
    rows = []
    src = {"format": "canonical", "path": str(dump), "name": "m"}
    with crafted.project(Path(root) / "proj_minors", src) as params:
        t0 = time.perf_counter()
        rc, err = ingest_stage(params)
        secs = time.perf_counter() - t0
        posts = pl.read_parquet("data/interim/posts.parquet") if rc == 0 else None
        for case, ids in cases.items():
            if posts is None:
                now, held = f"ingest failed: {err}", False
            else:
                n = posts.filter(pl.col("account_id").is_in([_aid("m", i) for i in ids])).height
                now, held = f"{n} of 3 posts ingested", n == 0
            rows.append(dict(key=f"1.{ids[0]}", attack=case, now=now, held=held, seconds=secs))
    from analysis.sources import read_source

    try:
        dtype = str(read_source("canonical", dump).accounts.schema["is_minor"])
        now, held = f"read; is_minor parsed as {dtype}", dtype == "Boolean"
    except Exception as exc:  # the outcome
        now, held = f"{type(exc).__name__}: {str(exc)[:80]}", False
    rows.append(
        dict(
            key="1.csv",
            attack="canonical CSV with is_minor/has_consent columns",
            now=now,
            held=held,
        )
    )
    return rows


# --------------------------------------------------------------------------- item 2


def mentions(root: str) -> list[dict[str, Any]]:
    """A minor's handle and name written by 15 others: in topic keywords or labels?"""
    from analysis.topics_keywords import ctfidf_keywords, topic_table

    dump = crafted.mentions_dump(Path(root))
    src = {"format": "canonical", "path": str(dump), "name": "n"}
    name_words = {"little_nell12", "nell", "trent"}

    def leaked(posts: pl.DataFrame) -> set[str]:
        texts = posts["text"].fill_null("")
        kw = ctfidf_keywords(texts, np.zeros(len(texts), dtype=int), posts["account_id"])
        table = topic_table(np.zeros(len(texts), dtype=int), kw)
        words = {w.lower() for k in kw.values() for w in k}
        words |= {w.lower() for lab in table["label"].to_list() for w in lab.split("_")}
        words |= {lab.lower() for lab in table["label"].to_list()}
        return {w for w in words for n in name_words if n in w}

    raw = pl.read_csv(dump / "posts.csv").select("text", "account_id").head(15)
    with crafted.project(Path(root) / "proj_mentions", src) as params:
        rc, err = ingest_stage(params)
        if rc != 0:
            return [
                dict(
                    key="2.topics",
                    attack="minor's name written by 15 others",
                    now=f"ingest failed: {err}",
                    held=False,
                )
            ]
        texts = pl.read_parquet("data/interim/posts.parquet", columns=["text", "account_id"])
    found = leaked(texts)
    return [
        dict(
            key="2.topics",
            attack="minor's handle+name written by 15 others -> topic keywords/label",
            now=f"{len(found)} name words in keywords/label"
            + (f" {sorted(found)}" if found else "")
            + f" (the unscrubbed texts give {sorted(leaked(raw))})",
            held=not found,
        )
    ]


# --------------------------------------------------------------------------- item 3


def variants(root: str) -> list[dict[str, Any]]:
    """Planted name variants: found by the audit in a raw output, and left after scrubbing?"""
    from analysis.audit import Identifiers, audit
    from analysis.ingest_names import redactor_for
    from analysis.privacy import scrub_text
    from tests.unit.test_audit import PLANTED, _crafted

    tables = _crafted()
    ident = Identifiers.from_tables([tables.accounts], [tables.posts])
    redactor = redactor_for(tables)
    out = {}
    for label, texts in (
        ("raw", PLANTED),
        ("scrubbed", [scrub_text(t, redactor) or "" for t in PLANTED]),
    ):
        folder = Path(root) / f"variants_{label}"
        rows = [(i, t) for i, t in enumerate(texts)]
        # one output file per variant, so that one hit counts one variant
        for i, t in rows:
            d = folder / f"v{i}" / "data/interim"
            d.mkdir(parents=True)
            pl.DataFrame({"post_id": [f"post_{i:016x}"], "text": [t]}).write_parquet(
                d / "posts.parquet"
            )
        out[label] = sum(bool(audit(folder / f"v{i}", ident)[0]) for i, _ in rows)
    n = len(PLANTED)
    return [
        dict(
            key="3.audit",
            attack=f"{n} planted variants in an unscrubbed output: audit finds",
            now=f"{out['raw']}/{n} found (audit exits 1)",
            held=out["raw"] == n,
        ),
        dict(
            key="3.scrub",
            attack=f"same {n} variants after scrubbing: audit hits",
            now=f"{out['scrubbed']}/{n} left",
            held=out["scrubbed"] == 0,
        ),
    ]


# --------------------------------------------------------------------------- item 6


def raw_in_outputs(root: str) -> list[dict[str, Any]]:
    """Raw values echoed by reject reasons: counted in rejects.parquet, ingest.json, the log."""
    rows = []
    for key, fmt, dump, attack in (
        (
            "6.se",
            "stackexchange",
            crafted.se_reputation_site(Path(root)),
            'Users.xml Reputation="ask jane.doe@example.net or +1 202 555 0143"',
        ),
        (
            "6.masto",
            "mastodon",
            crafted.mastodon_bad_published(Path(root)),
            "Mastodon published = 'lurker.mail@example.org'",
        ),
    ):
        src = {"format": fmt, "path": str(dump), "name": fmt[:4]}
        proj = Path(root) / f"proj_{key}"
        with crafted.project(proj, src) as params:
            rc, err = ingest_stage(params)
        counts = {}
        for name, path in (
            ("rejects.parquet", proj / "data/interim/rejects.parquet"),
            ("ingest.json", proj / "reports/metrics/ingest.json"),
            ("resonance.log", proj / "logs/resonance.log"),
        ):
            if not path.exists():
                counts[name] = "absent"
                continue
            if path.suffix == ".parquet":
                df = pl.read_parquet(path)
                text = "\n".join(str(v) for c in df.columns for v in df[c].to_list())
            else:
                text = path.read_text(encoding="utf-8", errors="replace")
            counts[name] = sum(text.count(v) for v in crafted.RAW_VALUES)
        numbers = [v for v in counts.values() if isinstance(v, int)]
        n_rej = (
            pl.read_parquet(proj / "data/interim/rejects.parquet").height
            if (proj / "data/interim/rejects.parquet").exists()
            else 0
        )
        now = ", ".join(f"{k} {v}" for k, v in counts.items()) + f" ({n_rej} reject rows)"
        if rc != 0:
            now = f"ingest failed ({err}); " + now
        rows.append(dict(key=key, attack=attack, now=now, held=rc == 0 and not any(numbers)))
    return rows


# --------------------------------------------------------------------------- item 7


def keys(root: str) -> list[dict[str, Any]]:
    """Weak keys: refused? The published fingerprint: how costly is a guess?"""
    from analysis import privacy_keys

    rows = []
    folder = Path(root) / "keys"
    folder.mkdir(parents=True, exist_ok=True)
    strong = "f3a9c2e71b0d4c5e8a6f9b2d1c7e0a4b-strong-bench-key"

    def attempt(env: str | None, content: str | None, mode: int = 0o600) -> str:
        path = folder / f"key{len(rows)}"
        if content is not None:
            path.write_text(content)
            path.chmod(mode)
        saved = os.environ.pop("BENCH_KEY", None)
        if env is not None:
            os.environ["BENCH_KEY"] = env
        try:
            privacy_keys.load_key("BENCH_KEY", path, create=False)
            return "accepted"
        except privacy_keys.PseudonymKeyError as exc:
            return "refused: " + str(exc).split(";")[0].replace(str(folder) + "/", "")[:70]
        finally:
            os.environ.pop("BENCH_KEY", None)
            if saved is not None:
                os.environ["BENCH_KEY"] = saved

    for key, attack, env, content, mode in (
        ("7.short", "1-character RESONANCE_KEY", "x", None, 0o600),
        ("7.testkey", "RESONANCE_KEY 'test-key'", "test-key", None, 0o600),
        ("7.empty", "empty key file", None, "\n", 0o600),
        ("7.mode", "0644 key file (strong key)", None, strong, 0o644),
    ):
        now = attempt(env, content, mode)
        rows.append(dict(key=key, attack=attack, now=now, held=now.startswith("refused")))
    # guessing the key from the fingerprint in inputs.json: cost of one guess, old and new
    t0 = time.perf_counter()
    for i in range(3):
        privacy_keys.fingerprint(f"guess-{i}".encode())
    new = (time.perf_counter() - t0) / 3
    t0 = time.perf_counter()
    for i in range(3000):  # the old fingerprint: one HMAC
        hmac.new(f"guess-{i}".encode(), b"resonance-key-fingerprint-v1", hashlib.sha256).hexdigest()
    old = (time.perf_counter() - t0) / 3000
    rows.append(
        dict(
            key="7.fingerprint",
            attack="guess the key from the fingerprint (309-word dictionary)",
            now=f"scrypt: {new * 1e3:,.0f} ms/guess, 309 guesses {309 * new:,.0f} s "
            f"(was HMAC {old * 1e6:.1f} us/guess: {309 * old * 1e3:.1f} ms); weak keys refused",
            held=new > 1000 * old,
            seconds=309 * new,
        )
    )
    return rows
