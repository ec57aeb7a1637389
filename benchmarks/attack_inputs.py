"""Crafted inputs for ``benchmarks/attacks.py`` (issue 13), written into a temporary folder.

Every builder writes a small dump of its own (never the shared real data) and returns its path.
The planted name variants are the ones the unit tests plant (``tests/unit/test_audit.py``).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import os
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

T0 = "2024-02-01T00:00:00Z"
MINOR_HANDLE, MINOR_NAME = "little_nell12", "Nell Trent"


def write_csv(path: Path, header: str, rows: list[str]) -> Path:
    """A CSV file: ``header`` then ``rows`` (each already comma-joined)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + "\n" + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def adults(n: int, prefix: str = "adult") -> list[str]:
    """Account rows of ``n`` ordinary adults (columns of :data:`ACCOUNT_HEADER`)."""
    return [f"{prefix}{i},forum,{prefix}_h{i},,{T0},5,1.0,false,true" for i in range(n)]


ACCOUNT_HEADER = (
    "account_id,platform,handle,display_name,created_at,follower_count,platform_score,"
    "is_minor,has_consent"
)
POST_HEADER = "post_id,platform,account_id,kind,created_at,text"


def minors_dump(root: Path) -> tuple[Path, dict[str, list[str]]]:
    """Item 1: minors and no-consent rows that are rejected, duplicated or clean.

    Returns the dump folder and, per case, the raw ids whose posts must never be ingested.
    """
    d = root / "minors"
    cases = {
        "account row rejected (created_at not-a-date), is_minor true": [
            "kid1,forum,kid_one,,not-a-date,5,1.0,true,true"
        ],
        'account row rejected (follower_count "1,234"), is_minor true': [
            f'kid2,forum,kid_two,,{T0},"1,234",1.0,true,true'
        ],
        'account row rejected (platform_score "n/a"), is_minor true': [
            f"kid3,forum,kid_three,,{T0},5,n/a,true,true"
        ],
        "two rows for one id, the second is_minor true": [
            f"kid4,forum,kid_four,,{T0},5,1.0,false,true",
            f"kid4,forum,kid_four,,{T0},5,1.0,true,true",
        ],
        "has_consent false on a clean row": [f"gone,forum,gone_one,,{T0},5,1.0,false,false"],
    }
    rows = adults(30) + [r for rs in cases.values() for r in rs]
    write_csv(d / "accounts.csv", ACCOUNT_HEADER, rows)
    authors = [f"adult{i}" for i in range(30)] + [r[0].split(",")[0] for r in cases.values()]
    posts = [
        f"p{a}_{j},forum,{a},post,2024-02-0{1 + j}T0{j}:00:00Z,hello from {a} number {j}"
        for a in authors
        for j in range(3)
    ]
    write_csv(d / "posts.csv", POST_HEADER, posts)
    return d, {case: [rs[0].split(",")[0]] for case, rs in cases.items()}


def mentions_dump(root: Path, n_writers: int = 15) -> Path:
    """Item 2: a minor whose handle and name ``n_writers`` others write in their posts."""
    d = root / "mentions"
    rows = [*adults(n_writers), f"kid,forum,{MINOR_HANDLE},{MINOR_NAME},{T0},5,1.0,true,true"]
    write_csv(d / "accounts.csv", ACCOUNT_HEADER, rows)
    posts = [
        f"m{i},forum,adult{i},post,2024-02-01T{i % 24:02d}:00:00Z,"
        f"{MINOR_HANDLE}'s stout recipe - thanks {MINOR_NAME.lower()} (batch {i})"
        for i in range(n_writers)
    ]
    posts += [f"k{j},forum,kid,post,2024-02-02T00:0{j}:00Z,my own stout" for j in range(3)]
    write_csv(d / "posts.csv", POST_HEADER, posts)
    return d


def gz_bomb_site(root: Path, inflated_mib: int = 498) -> Path:
    """Item 4: a Stack Exchange site whose Posts.xml.gz (about 510 KB) inflates to ~0.5 GiB.

    Written as one gzip member per MiB (a valid gzip file, as ``cat a.gz b.gz`` makes): each
    MiB is compressed once, so building the bomb takes no time.
    """
    site = root / "gz_site"
    site.mkdir(parents=True, exist_ok=True)
    head = b'<?xml version="1.0" encoding="utf-8"?>\n<posts>\n  <row Id="1" Body="'
    member = gzip.compress(b"x" * (1 << 20), compresslevel=9, mtime=0)
    with open(site / "Posts.xml.gz", "wb") as fh:
        fh.write(gzip.compress(head, mtime=0))
        for _ in range(inflated_mib):
            fh.write(member)
        fh.write(gzip.compress(b'" />\n</posts>\n', mtime=0))
    (site / "Users.xml").write_text('<?xml version="1.0"?>\n<users>\n</users>\n')
    return site


def zst_bomb(root: Path, inflated_mib: int = 1024) -> Path:
    """Item 4: a Reddit ``.zst`` of a few tens of KB that expands to one 1 GiB line."""
    import zstandard

    path = root / "RC_bomb.zst"
    chunk = b"a" * (1 << 20)
    with open(path, "wb") as raw, zstandard.ZstdCompressor(level=3).stream_writer(raw) as fh:
        fh.write(b'{"id": "x", "author": "u", "body": "')
        for _ in range(inflated_mib):
            fh.write(chunk)
        fh.write(b'"}\n')
    return path


def recursive_view_db(root: Path) -> Path:
    """Item 4: a 4 KB SQLite file whose ``items`` is a recursive view that never ends."""
    path = root / "hn_view.db"
    con = sqlite3.connect(path)
    con.executescript(
        """
        CREATE VIEW items AS
          WITH RECURSIVE r(id, type, by, time, text, parent) AS (
            SELECT 1, 'story', 'u', 0, 'x', NULL
            UNION ALL SELECT id + 1, type, by, time, text, parent FROM r)
          SELECT * FROM r;
        """
    )
    con.commit()
    con.close()
    return path


def huge_field_dump(root: Path, mib: int = 50) -> Path:
    """Item 4: a canonical dump with one post whose text is ``mib`` MB (plus 40 normal posts)."""
    d = root / "huge"
    write_csv(d / "accounts.csv", ACCOUNT_HEADER, adults(4))
    posts = [f"n{i},forum,adult{i % 4},post,{T0},ordinary post {i}" for i in range(40)]
    posts.append(f"big,forum,adult0,post,{T0},{'A' * (mib * 2**20)} mail jane.doe@example.net")
    write_csv(d / "posts.csv", POST_HEADER, posts)
    return d


RAW_VALUES = ("jane.doe@example.net", "202 555 0143", "lurker.mail@example.org")


def se_reputation_site(root: Path) -> Path:
    """Item 6: a Users.xml whose Reputation holds an e-mail and a phone number."""
    site = root / "se_site"
    site.mkdir(parents=True, exist_ok=True)
    head = '<?xml version="1.0" encoding="utf-8"?>\n'
    users = [
        f'  <row Id="{i}" Reputation="5" CreationDate="2020-01-01T00:00:00.000" '
        f'DisplayName="User {i}" />'
        for i in range(1, 9)
    ]
    users.append(
        '  <row Id="99" Reputation="ask jane.doe@example.net or +1 202 555 0143" '
        'CreationDate="2020-01-01T00:00:00.000" DisplayName="Bob" />'
    )
    (site / "Users.xml").write_text(head + "<users>\n" + "\n".join(users) + "\n</users>\n")
    posts = [
        f'  <row Id="{i}" PostTypeId="1" CreationDate="2020-01-02T03:04:0{i}.678" Score="5" '
        f'Body="hi {i}" OwnerUserId="{i}" Title="T{i}" Tags="&lt;x&gt;" />'
        for i in range(1, 9)
    ]
    (site / "Posts.xml").write_text(head + "<posts>\n" + "\n".join(posts) + "\n</posts>\n")
    return site


def mastodon_bad_published(root: Path) -> Path:
    """Item 6: a Mastodon outbox whose ``published`` value holds an e-mail address."""
    d = root / "masto"
    d.mkdir(parents=True, exist_ok=True)
    owner = "https://masto.example/users/me"
    actor = {"id": owner, "type": "Person", "preferredUsername": "me", "name": "Me Myself"}
    actor["published"] = "lurker.mail@example.org"
    items = [
        {
            "id": f"{owner}/statuses/{i}/activity",
            "type": "Create",
            "actor": owner,
            "published": "2023-02-01T00:00:00Z" if i else "mail lurker.mail@example.org",
            "to": ["https://www.w3.org/ns/activitystreams#Public"],
            "object": {
                "id": f"{owner}/statuses/{i}",
                "type": "Note",
                "attributedTo": owner,
                "published": f"2023-02-01T00:00:0{i % 10}Z"
                if i
                else "mail lurker.mail@example.org",
                "content": f"<p>note {i}</p>",
                "to": ["https://www.w3.org/ns/activitystreams#Public"],
            },
        }
        for i in range(12)
    ]
    (d / "actor.json").write_text(json.dumps(actor))
    outbox = {"type": "OrderedCollection", "totalItems": len(items), "orderedItems": items}
    (d / "outbox.json").write_text(json.dumps(outbox))
    return d


@contextlib.contextmanager
def project(root: Path, source: dict[str, Any], **privacy: Any) -> Iterator[dict[str, Any]]:
    """A temporary Resonance project at ``root``: params, a random key, logs/resonance.log.

    Yields the params dict; the working directory is ``root`` inside the block (the stages
    write relative paths) and the log lines go to ``root/logs/resonance.log`` as the CLI does.
    """
    root.mkdir(parents=True, exist_ok=True)
    params = {
        "source": source,
        "privacy": {
            "key_source": "secret",
            "opt_out_path": str(root / "optout" / "opt_out.txt"),
            **privacy,
        },
        "ingest": {},
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    (root / "logs").mkdir(exist_ok=True)
    old_cwd, old_key = Path.cwd(), os.environ.get("RESONANCE_KEY")
    os.environ["RESONANCE_KEY"] = secrets.token_hex(32)  # random: no figure depends on it
    handler = logging.FileHandler(root / "logs" / "resonance.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("analysis")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    os.chdir(root)
    try:
        yield params
    finally:
        os.chdir(old_cwd)
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        handler.close()
        if old_key is None:
            os.environ.pop("RESONANCE_KEY", None)
        else:
            os.environ["RESONANCE_KEY"] = old_key
