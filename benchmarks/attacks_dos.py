"""Issue 13 items 4 (denial of service) and 9 (implausible rows): the attacks, re-run.

Each function takes a scratch folder and returns a list of result rows (see ``attacks.row``);
each runs in a fresh process when the benchmark isolates it, so its peak RSS is its own.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from benchmarks import attack_inputs as crafted
from benchmarks.common import PeakRSS


def _clear_kinds() -> tuple[type[BaseException], ...]:
    """The exceptions the ``resonance`` CLI prints as one line (others print a traceback)."""
    from analysis.schema import SchemaError
    from analysis.sources.base import SourceError

    return (SourceError, SchemaError, ValueError, FileNotFoundError, RuntimeError)


def _measured(fn: Any) -> tuple[Any, str | None, float, float]:
    """(result, error or None, seconds, peak RSS MiB) of ``fn()``.

    The error reads "clear: Type: message" when the CLI would print it as one line that names
    a file (the basename of a path in the message), else "Type: message".
    """
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        try:
            out, err = fn(), None
        except Exception as exc:  # the attack's outcome: which error, how clear
            out = None
            first = str(exc).splitlines()[0] if str(exc) else ""
            err = f"{type(exc).__name__}: {_short_paths(first)}"
            if isinstance(exc, _clear_kinds()) and re.search(r"[\w.-]+\.\w+\b", first):
                err = "clear: " + err
        secs = time.perf_counter() - t0
    return out, err, secs, mem.peak_mib


def _short_paths(text: str) -> str:
    """Absolute scratch paths cut to their last component (the file name is what matters)."""
    return re.sub(r"/(?:[^\s/:,]+/)+([^\s/:,]+)", r"\1", text)


def _clear(err: str | None, name: str) -> bool:
    """A one-line error of a kind the CLI prints as one line, naming the file."""
    return err is not None and err.startswith("clear: ") and name in err


def scrub(n: int, shape: str) -> list[dict[str, Any]]:
    """``scrub_text`` on ``n`` characters of one long word ("A") or hex digits."""
    from analysis import privacy

    text = "A" * n if shape == "A" else ("0123456789abcdef" * (n // 16 + 1))[:n]
    _, err, secs, peak = _measured(lambda: privacy.scrub_text(text))
    label = f'scrub_text("A" * {n:,})' if shape == "A" else f"scrub_text({n:,} hex digits)"
    return [
        dict(
            key=f"4.scrub.{shape}{n}",
            attack=label,
            seconds=secs,
            peak_mib=peak,
            now=f"{secs:.3f} s" + (f" ({err})" if err else ""),
            held=err is None and secs < 1,
        )
    ]


def _ingest_folder(d: Path, namespace: str, key: bytes) -> tuple[Any, Any]:
    """A canonical dump folder through the adapter and ingest with default params."""
    from analysis.config import IngestParams, PrivacyParams
    from analysis.ingest import Source, ingest
    from analysis.sources import read_source

    tables = read_source("canonical", d)
    res = ingest(
        [Source(namespace, tables)], key, set(), IngestParams(), PrivacyParams(), datetime.now(UTC)
    )
    return tables, res


def huge_field(root: str, mib: int = 50) -> list[dict[str, Any]]:
    """A 50 MB text field through the canonical adapter and ingest (default params)."""

    d = crafted.huge_field_dump(Path(root), mib)

    def go() -> Any:
        return _ingest_folder(d, "huge", b"k" * 64)[1]

    res, err, secs, peak = _measured(go)
    if res is None:
        now, held = f"stopped: {err}", False
    else:
        rej = res.rejects.filter(pl.col("reason").str.contains("max_text_chars"))
        where = rej["source_file"].to_list()[:1]
        now = (
            f"{rej.height} reject ({rej['reason'].to_list()[:1][0] if rej.height else '-'}; "
            f"source_file {where[0] if where else '-'!r})"
        )
        held = rej.height == 1
    return [
        dict(
            key="4.field",
            attack=f"one {mib} MB text field (ingest.max_text_chars)",
            seconds=secs,
            peak_mib=peak,
            now=now,
            held=held,
        )
    ]


def zst_bomb(root: str, inflated_mib: int = 1024) -> list[dict[str, Any]]:
    """A small .zst that expands to one 1 GiB line, read by the Reddit adapter."""
    from analysis.sources import read_source

    path = crafted.zst_bomb(Path(root), inflated_mib)
    size = path.stat().st_size
    _, err, secs, peak = _measured(lambda: read_source("reddit", path))
    return [
        dict(
            key="4.zst",
            attack=f".zst of {size / 1024:,.0f} KB -> one {inflated_mib:,} MiB line",
            seconds=secs,
            peak_mib=peak,
            now=_outcome(err, secs, peak),
            held=_clear(err, path.name) and peak < 1024,
        )
    ]


def gz_bomb(root: str, inflated_mib: int = 498) -> list[dict[str, Any]]:
    """A ~510 KB Posts.xml.gz inflating to ~0.5 GiB, read by the Stack Exchange adapter."""
    from analysis.sources import read_source

    site = crafted.gz_bomb_site(Path(root), inflated_mib)
    size = (site / "Posts.xml.gz").stat().st_size
    _, err, secs, peak = _measured(lambda: read_source("stackexchange", site))
    return [
        dict(
            key="4.gz",
            attack=f"Posts.xml.gz of {size / 1024:,.0f} KB -> {inflated_mib:,} MiB (gzip bomb)",
            seconds=secs,
            peak_mib=peak,
            now=_outcome(err, secs, peak),
            held=_clear(err, "Posts.xml.gz") and peak < 1024,
        )
    ]


def sqlite_view(root: str) -> list[dict[str, Any]]:
    """A 4 KB SQLite whose ``items`` is a recursive view, read by the Hacker News adapter."""
    from analysis.sources import read_source

    db = crafted.recursive_view_db(Path(root))
    size = db.stat().st_size
    _, err, secs, peak = _measured(lambda: read_source("hackernews", db))
    return [
        dict(
            key="4.sqlite",
            attack=f"SQLite of {size / 1024:.0f} KB, items = recursive view",
            seconds=secs,
            peak_mib=peak,
            now=_outcome(err, secs, peak),
            held=_clear(err, db.name),
        )
    ]


def _outcome(err: str | None, secs: float, peak: float) -> str:
    if err is None:
        return f"read without error in {secs:.1f} s, peak {peak:,.0f} MiB"
    return err.removeprefix("clear: ")[:120]


# --------------------------------------------------------------------------- item 9

T = "2024-03-01T12:00:00Z"
#: case -> (table, raw key of the implausible row, extra account rows, posts rows, reaction rows)
IMPLAUSIBLE: dict[str, tuple[str, str, list[str], list[str], list[str]]] = {
    "post n_likes -1,000,000": (
        "posts",
        "neg_likes",
        [],
        [f"neg_likes,forum,adult1,post,{T},liked a lot,,-1000000"],
        [],
    ),
    "account follower_count -100": (
        "accounts",
        "neg_followers",
        [f"neg_followers,forum,negf,,{T},-100,1.0,false,true"],
        [f"nf_post,forum,neg_followers,post,{T},hello,,0"],
        [],
    ),
    "reply cycle (c1 -> c2 -> c1)": (
        "posts",
        "c1",
        [],
        [f"c1,forum,adult2,reply,{T},cycle one,c2,0", f"c2,forum,adult3,reply,{T},cycle two,c1,0"],
        [],
    ),
    # Every platform read allows replying to oneself: kept, and held when no model credits it.
    "self-reply (every platform read has them)": (
        "posts",
        "self1",
        [],
        [f"self1,forum,adult4,reply,{T},talking to myself,n4,0"],
        [],
    ),
    "upvote of one's own post on Stack Exchange (forbidden there)": (
        "reactions",
        "self_vote",
        [],
        [f"se_q,stackexchange,adult7,question,{T},my question,,0"],
        [f"self_vote,stackexchange,se_q,upvote,{T},adult7"],
    ),
    "reply dated before its parent": (
        "posts",
        "early",
        [],
        ["early,forum,adult5,reply,2024-01-01T00:00:00Z,too early,n5,0"],
        [],
    ),
    "post dated 2999": (
        "posts",
        "future_post",
        [],
        ["future_post,forum,adult6,post,2999-01-01T00:00:00Z,x,,0"],
        [],
    ),
    "reaction dated 2999": (
        "reactions",
        "future_rx",
        [],
        [],
        ["future_rx,forum,n1,like,2999-01-01T00:00:00Z,adult2"],
    ),
}
POSTS_HEAD = "post_id,platform,account_id,kind,created_at,text,parent_post_id,n_likes"
REACTIONS_HEAD = "reaction_id,platform,post_id,kind,created_at,actor_account_id"


def _implausible_dump(root: Path, accounts: list[str], posts: list[str], rx: list[str]) -> Path:
    """30 ordinary accounts, 60 posts, 40 likes, plus the crafted rows of one case."""
    crafted.write_csv(root / "accounts.csv", crafted.ACCOUNT_HEADER, crafted.adults(30) + accounts)
    ordinary = [f"n{i},forum,adult{i % 30},post,{T},fine post {i},,1" for i in range(60)]
    crafted.write_csv(root / "posts.csv", POSTS_HEAD, ordinary + posts)
    likes = [f"r{i},forum,n{i},like,{T},adult{(i + 1) % 30}" for i in range(40)]
    crafted.write_csv(root / "reactions.csv", REACTIONS_HEAD, likes + rx)
    return root


def implausible(root: str) -> list[dict[str, Any]]:
    """Each implausible row in an otherwise clean dump, through the canonical adapter and
    ingest (default params): rejected with a reason, accepted, or the whole run stopped?"""
    from analysis import aggregates, privacy
    from analysis.ingest import UNKNOWN_SOURCE

    key = b"k" * 64
    prefix = {
        "posts": privacy.POST_PREFIX,
        "accounts": privacy.ACCOUNT_PREFIX,
        "reactions": privacy.REACTION_PREFIX,
    }
    kind = {"posts": "post", "accounts": "account", "reactions": "reaction"}
    rows = []
    for i, (case, (table, raw, acc, posts, rx)) in enumerate(IMPLAUSIBLE.items()):
        d = _implausible_dump(Path(root) / f"implausible{i}", acc, posts, rx)

        def go(d: Path = d) -> Any:
            return _ingest_folder(d, "imp", key)

        out, err, secs, peak = _measured(go)
        if out is None:
            now, held = f"whole ingest stopped: {(err or '').removeprefix('clear: ')[:90]}", False
        else:
            tables, res = out
            pseudo = privacy.pseudonym(key, "imp", kind[table], raw, prefix[table])
            adapter = tables.rejects.filter(pl.col("record_key") == raw)
            ing = res.rejects.filter(pl.col("record_key") == pseudo)
            reasons = adapter["reason"].to_list() + ing["reason"].to_list()
            files = adapter["source_file"].to_list() + ing["source_file"].to_list()
            lines = adapter["source_line"].to_list() + ing["source_line"].to_list()
            if reasons:
                named = files[0] != UNKNOWN_SOURCE and lines[0] is not None
                now = f"rejected: {reasons[0][:60]} [{files[0]}, line {lines[0]}]" + (
                    "" if named else " - names no file and line"
                )
                held = named
            elif raw == "self1":
                replies = aggregates.account_month_aggregates(res.posts.lazy())
                credited = int(replies["n_replies_received"].sum())
                now = (
                    "accepted (possible on every platform read); replies credited in "
                    f"aggregates: {credited} (the self-reply is left out)"
                )
                held = credited == 0
            else:
                now, held = "accepted as a valid row (no reject, no reason)", False
        rows.append(
            dict(key=f"9.{raw}", attack=case, seconds=secs, peak_mib=peak, now=now, held=held)
        )
    return rows


def malformed_files(root: str) -> list[dict[str, Any]]:
    """Empty, header-only and UTF-16 CSV files, JSON nested 100k deep: one clear line?"""
    from analysis.sources import read_source

    base = Path(root) / "malformed"
    rows = []
    good_accounts = crafted.ACCOUNT_HEADER + "\n" + "\n".join(crafted.adults(2)) + "\n"
    cases = {
        "empty posts.csv": ("canonical", "posts.csv", b""),
        "header-only posts.csv": ("canonical", "posts.csv", crafted.POST_HEADER.encode() + b"\n"),
        "UTF-16 posts.csv": (
            "canonical",
            "posts.csv",
            (crafted.POST_HEADER + f"\np1,forum,adult0,post,{crafted.T0},hi\n").encode("utf-16"),
        ),
        "posts.jsonl nested 100k deep": (
            "canonical",
            "posts.jsonl",
            b'{"post_id": "p1", "text": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n",
        ),
        "Mastodon outbox.json nested 100k deep": (
            "mastodon",
            "outbox.json",
            b'{"orderedItems": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        ),
    }
    for i, (case, (fmt, name, data)) in enumerate(cases.items()):
        d = base / f"case{i}"
        d.mkdir(parents=True)
        if fmt == "canonical":
            (d / "accounts.csv").write_text(good_accounts)
        else:
            (d / "actor.json").write_text('{"id": "https://m.example/users/me", "type": "Person"}')
        (d / name).write_bytes(data)
        _, err, secs, peak = _measured(lambda d=d, fmt=fmt: read_source(fmt, d))
        if err is None:
            now, held = "read without error (an empty dump?)", case.startswith("header-only")
        else:
            clear = _clear(err, name)
            now = ("one line naming the file: " if clear else "NOT clear: ") + err.removeprefix(
                "clear: "
            )[:100]
            held = clear
        rows.append(
            dict(key=f"9.file{i}", attack=case, seconds=secs, peak_mib=peak, now=now, held=held)
        )
    return rows
