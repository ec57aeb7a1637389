"""Stage ``ingest``: read the dump(s), validate, anonymise; write data/interim and ingest.json."""

from __future__ import annotations

import argparse
import hashlib
import hmac
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from analysis import paths, privacy_keys, privacy_opt_out, publish, schema
from analysis.config import IngestParams, PrivacyParams, SourceParams, section
from analysis.ingest import Source, apply_links, plan, posts_read
from analysis.ingest_texts import posts_in_memory, sink_posts
from analysis.io import write_json, write_parquet, write_table
from analysis.sources import posts_on_disk, read_source

log = logging.getLogger(__name__)


#: (file name pattern, format): what a folder holds when it is a dump of that format
SIGNATURES: tuple[tuple[str, str], ...] = (
    ("Posts.xml", "stackexchange"),
    ("*.zst", "reddit"),
    ("hacker_news.*", "hackernews"),
    ("outbox.json", "mastodon"),
    ("tweets.js", "twitter"),
    ("tweet.js", "twitter"),
    ("posts.parquet", "canonical"),
    ("posts.csv", "canonical"),
)


def guess_format(path: str | Path) -> str | None:
    """The dump format a folder's file names suggest (None when nothing is recognised)."""
    root = Path(path)
    if not root.is_dir():
        return None
    for pattern, fmt in SIGNATURES:
        if next(root.glob(pattern), None) or next(root.glob(f"*/{pattern}"), None):
            return fmt
    return None


def format_hint(fmt: str, path: str | Path) -> str:
    """A suggestion to check ``source.format`` when the folder looks like another format."""
    guess = guess_format(path)
    if guess and guess != fmt:
        return (
            f"Check source.format: {path} was read as '{fmt}' but looks like a '{guess}' dump "
            f"(format: {guess})."
        )
    if guess is None:
        return f"Check source.format ('{fmt}') and source.path ({path}): is it a '{fmt}' dump?"
    return ""


def removed_digest(removed: set[str] | list[str], key: bytes) -> str:
    """HMAC-SHA256 under the run's key of the sorted pseudonyms of the removed accounts: it
    changes when the set does, and tells nobody without the key whose they are."""
    joined = "\n".join(sorted(removed)).encode()
    return hmac.new(key, b"removed-accounts\x1f" + joined, hashlib.sha256).hexdigest()


def run(params: dict[str, Any], args: argparse.Namespace) -> int:
    """Ingest every configured dump into the interim tables."""
    src = section(params, "source", SourceParams)
    priv = section(params, "privacy", PrivacyParams)
    ing = section(params, "ingest", IngestParams)
    key = privacy_keys.resolve_key(priv, src)
    opt_out = privacy_opt_out.read_opt_out(priv.opt_out_path, key)
    sources = []
    # the texts stay in the file (canonical Parquet) for the streaming engine: ``auto`` decides
    # that on the posts canonical Parquet footers count (other adapters read their texts whole
    # whatever the engine), then the engine on every post read (a run mixing formats may stream
    # texts it read whole: the same tables either way)
    on_disk = sum(posts_on_disk(spec.format, spec.path) or 0 for spec in src.all())
    lazy_text = ing.for_posts(on_disk).engine == "streaming"
    for spec in src.all():
        tables = read_source(spec.format, spec.path, lazy_text=lazy_text)
        log.info(
            "%s (%s): read %s",
            spec.namespace(),
            spec.format,
            ", ".join(f"{k} {v:,}" for k, v in tables.n_read.items()),
        )
        sources.append(Source(spec.namespace(), tables))
    chosen, n_read = ing.engine, posts_read(sources)
    ing = ing.for_posts(n_read)  # as plan resolves it
    if chosen == "auto":
        log.info(
            "ingest engine: %s (%s posts read; ingest.engine auto: streaming above %s)",
            ing.engine,
            f"{n_read:,}",
            f"{ing.streaming_above_posts:,}",
        )
    # read before plan: a person removed in one dump is removed from every dump it links
    links = pl.read_csv(src.link_table, infer_schema=False) if src.link_table else None
    try:
        result = plan(sources, key, opt_out, ing, priv, now=datetime.now(UTC), links=links)
    except RuntimeError as exc:
        if "rejected as malformed" not in str(exc):
            raise
        hints = [format_hint(spec.format, spec.path) for spec in src.all()]
        raise RuntimeError(f"{exc}. {' '.join(h for h in hints if h)}".rstrip()) from None
    if links is not None:
        result = apply_links(result, links, key)
        log.info(
            "linked %d account(s) across dumps from %s",
            result.counts["links"]["n_linked_accounts"],
            src.link_table,
        )
    for table in ("accounts", "reactions"):
        write_table(getattr(result, table), paths.INTERIM_TABLES[table], table, schema.INTERIM)
    # the posts' texts: all at once, or a batch at a time (the same functions, the same table);
    # the raw tables let go first, the texts kept alone (at 10M posts the raw skeleton was
    # ~1.1 GiB held through the texts' scrubbing)
    tables = [s.tables.post_texts() for s in sources]
    sources.clear()
    if ing.engine == "streaming":
        sink_posts(
            result.posts,
            tables,
            result.names,
            paths.INTERIM_TABLES["posts"],
            ing.batch_rows,
            edits=result.text_edits,
        )
    else:
        posts = posts_in_memory(result.posts, tables, result.names, result.text_edits)
        write_table(posts, paths.INTERIM_TABLES["posts"], "posts", schema.INTERIM)
    write_parquet(result.rejects, paths.REJECTS)
    reasons = (
        result.rejects.group_by("table", "reason")
        .len()
        .sort("len", "table", "reason", descending=[True, False, False])
        # a reason met by fewer than k rows shows no count (an account row's reject removes it)
        .with_columns(
            pl.when(pl.col("len") < priv.min_cell_k).then(None).otherwise("len").alias("len")
        )
        .rows(named=True)
    )
    posts = result.posts
    links = result.counts.pop("links", None)
    # every count, for this machine; reports/metrics/ingest.json (tracked by git) carries them
    # with cells under privacy.min_cell_k suppressed, complements included
    write_json({"links": links, "sources": result.counts}, paths.INGEST_COUNTS)
    n_participants = int(result.accounts["is_participant"].sum())
    write_json(
        {
            "links": links,
            **publish.suppress_ingest_counts(result.counts, priv.min_cell_k),
            "reject_reasons": reasons,
            "missing_inputs": result.missing_inputs,
            "n_participants": n_participants if n_participants >= priv.min_cell_k else None,
            "platforms": sorted(posts["platform"].unique().to_list()),
            # to privacy.time_resolution: this file is tracked by git and leaves the machine
            "first_post_at": str(posts["created_at"].dt.truncate(priv.time_resolution).min())
            if posts.height
            else None,
            "last_post_at": str(posts["created_at"].dt.truncate(priv.time_resolution).max())
            if posts.height
            else None,
            "n_opt_out_entries": len(opt_out),
            # changes whenever the set of removed accounts does (a later is_minor flag too):
            # the embed stage prunes its cache then, as after an opt-out. Keyed: this file
            # leaves the machine, and a plain sha256 of one removed pseudonym is that
            # pseudonym's sha256, which anyone holding an earlier report could test
            "removed_accounts_sha256": removed_digest(result.removed, key),
        },
        paths.INGEST_METRICS,
    )
    for ns, c in result.counts.items():
        log.info(
            "%s: posts read %d = accepted %d + rejected %d + removed %d; accounts: %d participants, "
            "%d merged into the non-participant placeholder",
            ns,
            c["posts"]["read"],
            c["posts"]["accepted"],
            c["posts"]["rejected"],
            c["posts"]["removed_privacy"],
            c["accounts"]["accepted"],
            c["accounts"]["merged_nonparticipant"],
        )
    return 0
