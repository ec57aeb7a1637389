"""``resonance forget ID_OR_HANDLE_OR_NAME``: erase an account at the next ``dvc repro``.

The identity is resolved against the configured dumps first: a raw account id, a handle (with
or without "@") or a display name (compared case-insensitively, after NFKC and without format
characters). The ids are those of the account rows and of the posts' authors: ingest derives a
participant from posts when the account list lacks its row (``derived_from_posts``) and honours
an opt-out of it, so such an author can be forgotten by its raw id (it has no handle or name).
With a link table (``source.link_table``), every id linked to a matched one is the same person
and is forgotten with it (ingest would also remove a linked identity whole: this keeps the
opt-out list and the cache report complete). Nothing matched: the command refuses, since a digest of a name that is no account
would report success and remove no one. For every matched account the keyed digest
(``privacy_opt_out.opt_out_digest``) of its raw id is appended to the opt-out list; the raw
value is never written. The ``inputs`` stage hashes that list, so the next ``dvc repro`` re-runs
ingest and everything downstream without the account.

Stages frozen to run on a schedule (``dvc freeze topic_fit validate compare topic_eval``: the topics and
the method's evaluation, ``docs/scaling.md``) are unfrozen: a frozen stage keeps its outputs
through ``dvc repro``, and those of ``compare`` name re-scored accounts (the topic fit's
centroids and keywords hold the erased account's posts among thousands), so the erasure would
not reach them. The command
says which stages it unfroze; freeze them again after the ``dvc repro`` that erased the account.
Renders of the outputs that ``dvc repro`` never redoes are cleared at once (:func:`clear_renders`:
the outputs of the paired notebooks, ``dvc_plots/``).

Copies outside the workspace are reported, not silently kept: DVC's cache (``.dvc/cache``)
holds the outputs of earlier runs, the account's posts among them, until it is garbage
collected. ``--purge-cache`` runs ``dvc gc --workspace --force`` (keep only what the current
workspace uses); run it after the ``dvc repro`` that erased the account.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import shutil
import subprocess
from pathlib import Path
from typing import Any

import polars as pl

from analysis import privacy, privacy_keys, privacy_opt_out
from analysis.config import PrivacyParams, SourceParams, section
from analysis.ingest import linked_identities
from analysis.ingest_names import account_rows
from analysis.sources import read_source
from analysis.sources.base import SourceTables

log = logging.getLogger(__name__)

CACHE = Path(".dvc/cache")


class ForgetError(RuntimeError):
    """The identity names no account of the configured dumps."""


def resolve(identity: str, accounts: pl.DataFrame) -> list[str]:
    """Raw account ids that ``identity`` names: by id, handle or display name.

    Args:
        identity: what the person gave: an id, "@handle" or "Display Name".
        accounts: every identity of the dumps (:func:`identities`: account rows and the
            authors of posts that have none).

    Returns:
        The distinct raw ids, in order of appearance (empty when nothing matched).
    """
    wanted = privacy_opt_out.normalise_identity(identity)
    by_id = pl.col("account_id").map_elements(
        privacy_opt_out.normalise_identity, return_dtype=pl.String, skip_nulls=True
    )
    by_handle = pl.col("handle").map_elements(
        privacy_opt_out.normalise_identity, return_dtype=pl.String, skip_nulls=True
    )
    by_name = pl.col("display_name").map_elements(
        lambda v: " ".join(privacy.fold(v).split()), return_dtype=pl.String, skip_nulls=True
    )
    name = " ".join(privacy.fold(identity).split())
    hit = accounts.filter(
        (by_id == wanted).fill_null(False)
        | (by_handle == wanted).fill_null(False)
        | (by_name == name).fill_null(False)
    )
    return hit["account_id"].drop_nulls().unique(maintain_order=True).to_list()


def identities(tables: SourceTables) -> pl.DataFrame:
    """Every identity of a dump ``forget`` can name: its account rows (accepted or rejected),
    plus an id-only row for each post author that has no account row (ingest derives those
    participants from their posts, ``ingest_dump.one_source``)."""
    rows = account_rows(tables)
    authors = (
        tables.posts.select("account_id")
        .drop_nulls()
        .unique(maintain_order=True)
        .join(rows.select("account_id"), on="account_id", how="anti", maintain_order="left")
    )
    return pl.concat([rows, authors], how="diagonal_relaxed")


def expand_links(matched: list[tuple[str, str]], links: pl.DataFrame) -> list[tuple[str, str]]:
    """``matched`` (namespace, raw id) plus every id the link table makes the same person,
    in order, without repeats (``ingest.linked_identities``)."""
    groups = linked_identities(links)
    out: list[tuple[str, str]] = []
    for m in matched:
        for x in (m, *sorted(groups.get(m, ()))):
            if x not in out:
                out.append(x)
    return out


def frozen_stages(root: Path = Path(".")) -> list[str]:
    """The stages of the DVC project at ``root`` that ``dvc freeze`` froze (none outside one)."""
    if not (root / "dvc.yaml").exists():
        return []
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        return [s.name for s in repo.index.stages if s.frozen]


def cache_report(pseudonyms: list[str], cache: Path = CACHE) -> tuple[int, int]:
    """(files in the DVC cache, files holding one of ``pseudonyms``).

    A Parquet file is read, not searched as bytes: its compressed pages hid the pseudonym from
    a byte search (on the demo, 1 of the 16 cached files holding an erased account's
    pseudonym was found that way: the report said "at least 1").
    """
    if not cache.exists():
        return 0, 0
    files = [f for f in cache.rglob("*") if f.is_file()]
    holding = 0
    for f in files:
        try:
            data = f.read_bytes()
        except OSError:
            continue
        holding += holds(data, pseudonyms)
    return len(files), holding


def holds(data: bytes, needles: list[str]) -> bool:
    """Whether the bytes of one file hold one of ``needles``: the string values of a Parquet
    file (lists of strings included), the raw bytes of anything else or of a Parquet file
    that does not parse."""
    if data[:4] == b"PAR1" and data[-4:] == b"PAR1":
        try:
            frame = pl.read_parquet(io.BytesIO(data))
        except Exception:  # a damaged file is searched as bytes below
            frame = None
        if frame is not None:
            for c, dtype in frame.schema.items():
                if dtype == pl.List(pl.String):
                    values = frame[c].explode()
                elif dtype in (pl.String, pl.Categorical):
                    values = frame[c].cast(pl.String)
                else:
                    continue
                if values.str.contains_any(needles).any():
                    return True
    return any(n.encode() in data for n in needles)


def clear_renders(root: Path = Path(".")) -> tuple[int, bool]:
    """Clear what renders the pipeline's outputs outside DVC, which ``dvc repro`` never rebuilds:
    the outputs of the paired notebooks (``notebooks/*.ipynb``, which Jupyter saves with the
    tables and figures of the last run: the top account's pseudonym, topic experts) and
    ``dvc_plots/`` (``dvc plots show`` writes every plotted row there, one point per account
    of the divergence plot). Both are made again from the new outputs (run the notebook,
    ``dvc plots show``). Returns (notebooks cleared, whether dvc_plots/ was removed).
    """
    cleared = 0
    for nb in sorted((root / "notebooks").glob("*.ipynb")):
        doc = json.loads(nb.read_text(encoding="utf-8"))
        changed = False
        for cell in doc.get("cells", []):
            if cell.get("outputs"):
                cell["outputs"], cell["execution_count"] = [], None
                changed = True
        if changed:
            nb.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
            cleared += 1
    plots = root / "dvc_plots"
    removed = plots.is_dir()
    if removed:
        shutil.rmtree(plots)
    return cleared, removed


def run(params: dict[str, Any], args: argparse.Namespace) -> int:
    """Resolve the identity, add its accounts to the opt-out list, report what remains."""
    src = section(params, "source", SourceParams)
    priv = section(params, "privacy", PrivacyParams)
    key = privacy_keys.resolve_key(priv, src)
    matched: list[tuple[str, str]] = []  # (namespace, raw id)
    for spec in src.all():
        tables = read_source(spec.format, spec.path)
        matched += [(spec.namespace(), i) for i in resolve(args.identity, identities(tables))]
    if matched and src.link_table:
        matched = expand_links(matched, pl.read_csv(src.link_table, infer_schema=False))
    if not matched:
        raise ForgetError(
            "no account of the configured dumps has that id, handle or display name; nothing "
            "was added (check the spelling, or the dump it is in: source.path / source.extra)"
        )
    listed = privacy_opt_out.read_opt_out(priv.opt_out_path, key)
    n_new = 0
    for _, raw_id in matched:
        digest = privacy_opt_out.add_opt_out(priv.opt_out_path, raw_id, key)
        n_new += digest not in listed
        listed.add(digest)
    pseudonyms = [
        privacy.pseudonym(key, ns, "account", raw_id, privacy.ACCOUNT_PREFIX)
        for ns, raw_id in matched
    ]
    frozen = frozen_stages()
    if frozen:  # erasure outranks the schedule: every output must be rebuilt without them
        subprocess.run(["dvc", "unfreeze", *frozen], check=True)
        log.warning(
            "unfroze %s so that `dvc repro` erases the account from their outputs too; freeze "
            "them again after that run (`dvc freeze %s`)",
            ", ".join(frozen),
            " ".join(frozen),
        )
    n_notebooks, plots_removed = clear_renders()
    if n_notebooks or plots_removed:
        log.warning(
            "cleared the outputs of %d notebook(s) (notebooks/*.ipynb)%s: they showed the last "
            "run and `dvc repro` does not redo them; run them again after the `dvc repro`",
            n_notebooks,
            " and removed dvc_plots/ (`dvc plots show` renders it again)" if plots_removed else "",
        )
    # the count only: a pseudonym of an erased person in logs/ would be a remainder itself
    if n_new:
        log.info(
            "added %d account(s) to %s; run `dvc repro` to erase everything derived from them",
            n_new,
            priv.opt_out_path,
        )
    if n_new < len(matched):  # the documented second call, `forget --purge-cache` after the run
        log.info(
            "%d account(s) already on %s: nothing added (the next `dvc repro` erases them, if "
            "none has since the request)",
            len(matched) - n_new,
            priv.opt_out_path,
        )
    if getattr(args, "purge_cache", False):
        subprocess.run(["dvc", "gc", "--workspace", "--force"], check=True)
        n_files, n_holding = cache_report(pseudonyms)
        log.info(
            "purged cache entries the workspace does not use (dvc gc --workspace): %d file(s) "
            "left, the current outputs', %d of them with these pseudonyms",
            n_files,
            n_holding,
        )
        if n_holding:
            log.warning(
                "the current outputs still hold these pseudonyms: run `dvc repro`, then "
                "`resonance forget --purge-cache ...` again"
            )
        return 0
    n_files, n_holding = cache_report(pseudonyms)
    if n_files:
        log.warning(
            "DVC's cache (%s) holds %d file(s) of earlier runs, %d of them with these "
            "pseudonyms; after `dvc repro`, run `resonance forget --purge-cache ...` or "
            "`dvc gc --workspace --force` to delete superseded copies (and any DVC remote: "
            "`dvc gc --workspace --cloud`)",
            CACHE,
            n_files,
            n_holding,
        )
    return 0
