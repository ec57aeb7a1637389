"""Every attack of issue 13, re-run against the current code: before/after figures in one table.

    .venv/bin/python -m benchmarks.attacks [--fast] [--only minors,dos,...] [--no-isolate]
                                           [--json FILE] [--markdown FILE]

Each attack builds its crafted input in a temporary folder (never the shared real dumps, no
network) and runs the current code on it: the ingest stage in a throw-away project, the
adapters, the scrubber, the audit, ``forget``, the key loader, the publication tables. The table
prints, per attack, the figure issue 13 reports (measured on the old main, quoted here as a
constant) beside the figure measured now: wall time and peak RSS for the denial-of-service
attacks, posts or leaks found for the privacy ones, whether a clear error names the file.
``held`` says whether the attack is defeated now; ``BROKEN`` marks one that still works, ``info``
a figure that has no pass mark. Every attack group runs in a fresh process (its peak RSS is its
own). Figures only: nothing here gates on a time, and the exit code is 0 whatever they say.

``--fast`` runs every attack with smaller denial-of-service inputs (a 5 MB field; bombs of
128 MiB, still past the adapters' 64 MiB grace) for the test suite.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _p in (str(ROOT / "src"), str(ROOT)):  # also run from elsewhere (spawned children too)
    if _p not in sys.path:
        sys.path.insert(0, _p)

from benchmarks import (  # noqa: E402
    attacks_dos,
    attacks_erasure,
    attacks_linkage,
    attacks_privacy,
)
from benchmarks.common import isolated, loadavg  # noqa: E402

#: What issue 13 reports for each attack, measured on the old main (quoted, not re-measured).
BEFORE: dict[str, str] = {
    "1.kid1": "account rebuilt from posts without the flag: all the minor's posts ingested",
    "1.kid2": "account rebuilt from posts without the flag: all the minor's posts ingested",
    "1.kid3": "account rebuilt from posts without the flag: all the minor's posts ingested",
    "1.kid4": "everything the minor wrote ingested",
    "1.gone": "(no-consent named in the issue's rule; no figure given)",
    "1.csv": "failed: Utf8View -> Boolean cast error even for clean true/false",
    "2.topics": "the handle became a topic label and keywords, unsuppressed in the public table",
    "3.audit": "audit exited 0 on every leak (0 found)",
    "3.scrub": "every listed variant survived scrubbing",
    "4.scrub.A20000": "3.8 s",
    "4.scrub.A40000": "15.7 s",
    "4.scrub.hex60000": "64 s",
    "4.field": "never finished",
    "4.zst": "7.4 GB RSS",
    "4.gz": "1.1 GB RSS",
    "4.sqlite": "no progress; temp disk +0.5 GB per 30 s",
    "5.own": "(erased from outputs; old copies stayed, see cache)",
    "5.mentions": "other people's posts naming the person were not scrubbed",
    "5.cache": "16 cache files held the pseudonym, an old posts.parquet her texts; nothing said",
    "5.nobody": "reported success, removed no one",
    "5.collapse": "alice@other.org erased too (ids collapsed)",
    "5.optout": "unsalted SHA-256: reversed by a dictionary of the dump's handles; tracked in git",
    "5.later_minor": "a later is_minor flag did not prune the embedding cache",
    "6.se": "value in rejects.parquet and the git-tracked reports/metrics/ingest.json",
    "6.masto": "e-mail in logs/resonance.log",
    "7.short": "accepted",
    "7.testkey": "accepted",
    "7.empty": "accepted",
    "7.mode": "accepted",
    "7.fingerprint": "key 'test-key' recovered from inputs.json's fingerprint in 309 guesses",
    "8.join": "all 166 pseudonyms linked to user names (exact created_at join, HN)",
    "8.coarse": "(exact times everywhere; no time_resolution)",
    "8.subtract": "472 - 466 - 0 - 0 = 6: the suppressed cell recovered",
    "9.neg_likes": "accepted (n_likes -1,000,000)",
    "9.neg_followers": "accepted (follower_count -100)",
    "9.c1": "accepted",
    "9.self1": "accepted",
    "9.self_vote": "accepted",
    "9.early": "accepted",
    "9.future_post": "rejected as '(ingest)', no file or line",
    "9.future_rx": "a reaction dated 2999 stopped the whole ingest",
    "9.file0": "traceback, not a one-line error",
    "9.file1": "traceback, not a one-line error",
    "9.file2": "traceback, not a one-line error",
    "9.file3": "traceback, not a one-line error",
    "9.file4": "traceback, not a one-line error",
}


def _scrubs(_root: str) -> list[dict[str, Any]]:
    return [
        *attacks_dos.scrub(20_000, "A"),
        *attacks_dos.scrub(40_000, "A"),
        *attacks_dos.scrub(60_000, "hex"),
    ]


#: name -> (item of issue 13, function of a scratch folder returning result rows)
ATTACKS: dict[str, tuple[int, Callable[..., list[dict[str, Any]]]]] = {
    "minors": (1, attacks_privacy.minors),
    "mentions": (2, attacks_privacy.mentions),
    "variants": (3, attacks_privacy.variants),
    "scrub": (4, _scrubs),
    "field": (4, attacks_dos.huge_field),
    "zst": (4, attacks_dos.zst_bomb),
    "gz": (4, attacks_dos.gz_bomb),
    "sqlite": (4, attacks_dos.sqlite_view),
    "erasure": (5, attacks_erasure.erasure),
    "rejects": (6, attacks_privacy.raw_in_outputs),
    "keys": (7, attacks_privacy.keys),
    "linkage": (8, attacks_linkage.linkage),
    "implausible": (9, attacks_dos.implausible),
    "files": (9, attacks_dos.malformed_files),
}
FAST_SIZES = {"field": {"mib": 5}, "zst": {"inflated_mib": 128}, "gz": {"inflated_mib": 128}}


def run_one(name: str, root: str, fast: bool) -> list[dict[str, Any]]:
    """Run attack group ``name`` in ``root`` (module level: picklable for a spawned child)."""
    item, fn = ATTACKS[name]
    small = FAST_SIZES.get(name, {}) if fast else {}
    t0 = time.perf_counter()
    rows = fn(root, **small)
    total = time.perf_counter() - t0
    for r in rows:
        r.setdefault("seconds", total)
        r["item"], r["group"] = item, name
        r["before"] = BEFORE.get(r["key"], "(not in the issue)")
    return rows


def run(names: list[str], fast: bool = False, isolate: bool = True) -> list[dict[str, Any]]:
    """Every attack group of ``names``, each in its own scratch folder (and process)."""
    rows: list[dict[str, Any]] = []
    for name in names:
        root = tempfile.mkdtemp(prefix=f"attack-{name}-")
        try:
            out = isolated(run_one, name, root, fast) if isolate else run_one(name, root, fast)
        except Exception as exc:  # report the failure as a row and go on with the others
            item = ATTACKS[name][0]
            out = [
                dict(
                    key=f"{item}.{name}",
                    item=item,
                    group=name,
                    attack=name,
                    before=BEFORE.get(f"{item}.{name}", ""),
                    held=False,
                    seconds=0.0,
                    now=f"benchmark error: {str(exc).splitlines()[0][:120]}",
                )
            ]
        finally:
            shutil.rmtree(root, ignore_errors=True)
        rows += out
        print(f"  {name}: {len(out)} attack(s) run", file=sys.stderr, flush=True)
    return rows


def verdict(held: bool | None) -> str:
    return "info" if held is None else ("held" if held else "BROKEN")


def now_cell(r: dict[str, Any]) -> str:
    """The measured figure, with time and peak RSS for the denial-of-service attacks."""
    if "peak_mib" in r and r["group"] in ("scrub", "field", "zst", "gz", "sqlite"):
        head = f"{r['seconds']:.3f} s, peak {r['peak_mib']:,.0f} MiB"
        return head if r["now"].startswith(f"{r['seconds']:.3f} s") else f"{head}: {r['now']}"
    return r["now"]


def markdown(rows: list[dict[str, Any]]) -> str:
    """One Markdown table: item, attack, before (old main, issue 13), now, verdict."""
    out = [
        "| # | attack | before (old main, issue 13) | now (measured) | verdict |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [str(r["item"]), r["attack"], r["before"], now_cell(r), verdict(r["held"])]
        out.append("| " + " | ".join(c.replace("|", "/").replace("\n", " ") for c in cells) + " |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.attacks", description=__doc__.splitlines()[0]
    )
    ap.add_argument("--fast", action="store_true", help="smaller denial-of-service inputs")
    ap.add_argument("--only", default=",".join(ATTACKS), help=f"comma list of {', '.join(ATTACKS)}")
    ap.add_argument("--no-isolate", action="store_true", help="run every attack in this process")
    ap.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    ap.add_argument("--markdown", type=Path, default=None, help="also write the table here")
    a = ap.parse_args(argv)
    names = [n for n in a.only.split(",") if n]
    unknown = [n for n in names if n not in ATTACKS]
    if unknown:
        ap.error(f"unknown attack(s) {unknown}; known: {', '.join(ATTACKS)}")
    print(
        f"issue 13 attacks; load average {loadavg()} (shared machine: times are noisy)",
        file=sys.stderr,
    )
    rows = run(names, fast=a.fast, isolate=not a.no_isolate)
    table = markdown(rows)
    print(table)
    broken = [r for r in rows if r["held"] is False]
    print(
        f"\n{len(rows)} attacks: {sum(r['held'] is True for r in rows)} held, "
        f"{len(broken)} BROKEN, {sum(r['held'] is None for r in rows)} info"
    )
    if a.markdown:
        a.markdown.parent.mkdir(parents=True, exist_ok=True)
        a.markdown.write_text(table + "\n")
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(rows, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
