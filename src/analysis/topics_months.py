"""Stage ``topics``: every post's topic month by month, each month's result kept in a memo.

A post's topic and memberships are a function of its vector and the fit alone
(``topics_clustering.Assigner``), and a month's share of the topics' mean vectors a function
of that month's vectors. The ``embed`` stage writes one part per month and names the rows of
each in the part's footer (``stages.embed.PART_DIGEST``, ``PART_VECTORS``), so a month whose
part file, rows, vector space, fit, membership params and code are those a memo was computed
for (:func:`fit_key`, :func:`month_key`) takes the memo (a few MB) instead of reading its
vectors again (~60 MB a month at 1M posts, and the
products): with the fit frozen (``dvc freeze topic_fit``), new posts re-assign their own months
only.

Reads the ``embeddings`` parts (footers; vectors of the months to compute) and the memo folder
(``paths.TOPICS_CACHE``: ``YYYY-MM.soft.parquet`` and ``YYYY-MM.sums.parquet`` per month, no
post id and no text); writes the months it computed there and removes the files of months no
longer in the parts. Like the embedding cache, the memo is not a pipeline output: deleting it
costs one full pass, never a result.

The batches of a month are cut within it, never across two, so a month's result is the same
whether it is computed with its neighbours or alone: a run that reads every month from the memo
writes the bytes a run from nothing writes (the float sums of the topic means are added month
by month in both).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from analysis import topics_clustering, vectors
from analysis.contracts import TopicFit
from analysis.io import private_temporary
from analysis.topics import TopicsParams, assigner, centroid_matrix
from analysis.topics_clustering import Assignment, assign_with_membership, combine

log = logging.getLogger(__name__)

#: The memo's layout; a memo of another is recomputed. (The assignment's code is in the key
#: by the bytes of its modules, :data:`CODE`: a fix to it needs no bump here.)
FORMAT = 1
#: The modules whose code computes a month's result (the rule, the memberships, the sums and
#: the batches): their source is part of every key.
CODE = (topics_clustering, vectors, sys.modules[__name__])
#: Key of a memo file's footer: the sha256 of everything its month's result depends on.
MEMO_KEY = "resonance.topics_month_sha256"
#: The ``embed`` stage's footer keys (``stages.embed``): the part's rows and vector space.
PART_DIGEST = b"resonance.month_sha256"
PART_VECTORS = b"resonance.vectors"


def fit_key(fit: TopicFit, p: TopicsParams) -> str:
    """The sha256 of what the assignment takes from the fit and params (the rule's centroids,
    ids and outlier cosine; the memberships' centroids and params), the batch and read sizes,
    the code (:data:`CODE`), numpy's and polars' versions and :data:`FORMAT`."""
    code = hashlib.sha256()
    for module in CODE:
        code.update(Path(str(module.__file__)).read_bytes())
    blob = json.dumps(
        {
            "format": FORMAT,
            "code": code.hexdigest(),
            "numpy": np.__version__,
            "polars": pl.__version__,
            "batch_rows": vectors.BATCH_ROWS,
            "read_rows": vectors.READ_ROWS,
            "dim": fit.dim,
            "assign_centroids": fit.assign_centroids,
            "assign_topic_ids": fit.assign_topic_ids,
            "outlier_min_cosine": fit.outlier_min_cosine,
            "centroids": fit.centroids,
            "max_topics_per_post": p.max_topics_per_post,
            "softmax_temperature": p.softmax_temperature,
            "min_probability": p.min_probability,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def month_key(
    base: str, part: Path, footer: dict[bytes, bytes], n_file_rows: int, rows: np.ndarray
) -> str | None:
    """The memo key of one part: ``base`` (:func:`fit_key`), the part's digest and vector space
    from its ``footer``, the file itself (inode, size, modification time: the digest names the
    rows and their texts, not the vectors, so a part written again, by ``embed`` or ``dvc
    pull``, is assigned again), its row count and the rows of it assigned (``rows``: row
    numbers in the part). None when the footer names no rows (a part not written by
    ``embed``): no memo."""
    digest, space = footer.get(PART_DIGEST), footer.get(PART_VECTORS)
    if not digest or not space:
        return None
    st = os.stat(part)
    file = f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}".encode()
    h = hashlib.sha256()
    for piece in (base.encode(), digest, space, file, str(n_file_rows).encode()):
        h.update(piece + b"\x1f")
    h.update(np.ascontiguousarray(rows, dtype=np.int64).tobytes())
    return h.hexdigest()


def assign_by_month(
    path: Path,
    order: np.ndarray,
    dim: int,
    fit: TopicFit,
    p: TopicsParams,
    memo: Path | None = None,
) -> Assignment:
    """:func:`topics_clustering.assign_with_membership` of the rows ``order`` of the
    ``embeddings`` table at ``path`` (file row numbers across its parts, ascending; position
    ``i`` is file row ``order[i]``), one part at a time, the parts' results joined in order
    (:func:`topics_clustering.combine`). With ``memo`` (a folder), a month whose key
    (:func:`month_key`) matches its memo is read from it and the others are computed and
    stored there.
    """
    order = np.asarray(order, dtype=np.int64)
    if order.size > 1 and not (np.diff(order) > 0).all():
        raise ValueError(f"{path}: the rows to assign are not in file order")
    files = vectors.parts(path)
    metas = [pq.ParquetFile(f).metadata for f in files]
    bounds = np.cumsum([0] + [m.num_rows for m in metas])
    cut = np.searchsorted(order, bounds)
    rule, cents = assigner(fit), centroid_matrix(fit)
    base = fit_key(fit, p)
    done: list[Assignment] = []
    kept: set[str] = set()
    n_memo = 0
    for i, (f, meta) in enumerate(zip(files, metas, strict=True)):
        rows = order[cut[i] : cut[i + 1]] - bounds[i]
        key = None
        if memo is not None:  # None too for a part whose footer names no rows: never stored
            key = month_key(base, f, meta.metadata or {}, meta.num_rows, rows)
        got = _read(memo, f.stem, key, len(rows), dim) if memo is not None and key else None
        if got is not None:
            n_memo += 1
        else:
            got = assign_with_membership(vectors.ParquetVectors(f, rows, dim), rule, cents, p)
            if memo is not None and key:
                _write(memo, f.stem, key, got)
        if key:
            kept.add(f.stem)
        done.append(got)
    if memo is not None:
        _prune(memo, kept)
        log.info(
            "topics: %d months, %d from the memo (%s), %d assigned",
            len(files),
            n_memo,
            memo,
            len(files) - n_memo,
        )
    return combine(done, dim, cents, p)


def _files(memo: Path, month: str) -> tuple[Path, Path]:
    return memo / f"{month}.soft.parquet", memo / f"{month}.sums.parquet"


def _footer_key(path: Path) -> str | None:
    try:
        footer = pq.ParquetFile(path).metadata.metadata or {}
        return footer.get(MEMO_KEY.encode(), b"").decode() or None
    except (OSError, ValueError):  # missing, truncated, not Parquet, not UTF-8
        return None


def _read(memo: Path, month: str, key: str, n_rows: int, dim: int) -> Assignment | None:
    """The memo of ``month`` when both its files carry ``key``, read whole, and hold ``n_rows``
    rows, one primary topic each; else None (it is computed again: a damaged memo costs its
    month's pass, never a result or a failed run)."""
    soft_path, sums_path = _files(memo, month)
    if _footer_key(soft_path) != key or _footer_key(sums_path) != key:
        return None
    try:
        soft = pl.read_parquet(soft_path)
        sums = pl.read_parquet(sums_path)
    except (OSError, ValueError, pl.exceptions.PolarsError) as exc:  # a page damaged
        log.warning("topics: memo of %s unreadable (%s): assigned again", month, exc)
        return None
    primary = soft.filter("is_primary")
    if primary.height != n_rows or not primary["row"].equals(
        pl.Series("row", np.arange(n_rows, dtype=np.int64))
    ):
        return None
    return Assignment(
        labels=primary["topic_id"].to_numpy(),
        soft=soft,
        topic_ids=sums["topic_id"].to_numpy(),
        sums=sums["sum"].to_numpy().reshape(-1, dim).astype(np.float64, copy=False),
        counts=sums["n"].to_numpy(),
    )


def _write(memo: Path, month: str, key: str, got: Assignment) -> None:
    """Both memo files of ``month``, each through a temporary file of this writer's own (a
    killed run leaves a file of another key or none: recomputed). Two ``topics`` runs at once
    outside DVC (which runs one stage at a time) never serve a wrong month (both files must
    carry the key); one may fail where the other's :func:`_prune` removes its temporary file."""
    memo.mkdir(parents=True, exist_ok=True)
    soft_path, sums_path = _files(memo, month)
    dim = got.sums.shape[1]
    sums = pl.DataFrame(
        {
            "topic_id": pl.Series(got.topic_ids, dtype=pl.Int64),
            "n": pl.Series(got.counts, dtype=pl.Int64),
            "sum": pl.Series(got.sums, dtype=pl.Array(pl.Float64, dim)),
        }
    )
    for frame, path in ((sums, sums_path), (got.soft, soft_path)):
        tmp = private_temporary(path)
        try:
            frame.write_parquet(tmp, metadata={MEMO_KEY: key})
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)


def _prune(memo: Path, months: Sequence[str] | set[str]) -> None:
    """Remove every file of ``memo`` that is not a memo of ``months`` (an erased account's
    only month, a month of an earlier dump, a temporary file of a killed run)."""
    if not memo.is_dir():
        return
    keep = {p.name for m in months for p in _files(memo, m)}
    for f in memo.iterdir():
        if f.is_file() and f.name not in keep:
            f.unlink(missing_ok=True)  # another run's prune may have been first
