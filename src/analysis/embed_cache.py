"""The content-addressed embedding cache of stage ``embed`` (used by ``analysis.embed``).

:class:`EmbeddingCache` keeps vectors keyed by (model, revision, sha256(text)) in Parquet
shards under ``data/cache/embeddings/<model>@<revision>/``: it reads and writes that folder
only. :func:`text_key` is a text's content address and :func:`vector_key` the revision a
route's vectors are cached under, so vectors of two routes never mix.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import polars_hash  # noqa: F401  (registers the ``chash`` expression namespace)
import pyarrow as pa
import pyarrow.parquet as pq

from analysis.io import private_temporaries, private_temporary

if TYPE_CHECKING:
    from analysis.embed import EmbedParams


def vector_key(p: EmbedParams) -> str:
    """The revision under which ``p``'s vectors are cached: the weights' revision, plus the
    route and the token limit when they are not the precise defaults (never mixed)."""
    key = p.revision
    if p.route == "onnx-int8":
        from analysis.embed_onnx import RECIPE

        key += f"+{RECIPE}"
    elif p.route == "static":
        from analysis.embed_static import RECIPE as STATIC

        key += f"+{STATIC}"
    if p.max_seq_length != 256:
        key += f"+max{p.max_seq_length}"
    return key


def text_key(text: str) -> str:
    """Content address of a text: sha256 of its UTF-8 bytes, hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def text_keys(texts: pl.Series) -> pl.Series:
    """:func:`text_key` of every text of a column, compiled (no Python per text)."""
    return texts.to_frame("t").select(pl.col("t").chash.sha2_256())["t"].alias("text_sha256")


class EmbeddingCache:
    """Vectors keyed by (model, revision, sha256(text)), in Parquet shards.

    One folder per (model, revision); each shard holds ``text_sha256`` and ``embedding`` and is
    named after the hash of its keys, so writing the same texts twice gives the same file.
    """

    def __init__(self, root: Path | str, model: str, revision: str) -> None:
        safe = f"{model}@{revision}".replace("/", "_")
        self.folder = Path(root) / safe
        self.model, self.revision = model, revision
        #: each shard's keys as last read, by path, with the (mtime, size) they were read at:
        #: the embed stage looks up one month at a time, and re-reading every shard's keys for
        #: each month cost ~0.4 s a month at 1M posts
        self._keys: dict[Path, tuple[tuple[int, int], pl.DataFrame]] = {}

    @classmethod
    def at(cls, folder: Path) -> EmbeddingCache:
        """The cache held in ``folder`` (``<model>@<revision>`` under a cache root)."""
        model, _, revision = folder.name.rpartition("@")
        cache = cls(folder.parent, model, revision)
        cache.folder = folder  # the name as found ("/" in a model name was written "_")
        return cache

    def lookup(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """Cached vectors of those ``keys`` that are present, by key."""
        shards = sorted(self.folder.glob("shard-*.parquet"))
        if not shards or not keys:
            return {}
        dim = _dim(shards[0])
        found, matrix = self.vectors(pl.Series(list(keys), dtype=pl.String), dim)
        return {k: matrix[i] for i, k in enumerate(keys) if found[i]}

    def vectors(self, keys: pl.Series, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """Which ``keys`` are cached (a bool per key) and the ``(len(keys), dim)`` float32
        matrix of their vectors in the keys' order (zero rows where not cached).

        The keys of every shard are read first, with their row numbers, then the vectors of
        the row groups that hold a hit only (reading every shard's vectors made each lookup
        cost the whole cache: an embed stage of 10M posts, looking up 200k texts per chunk,
        spent minutes per chunk reading vectors it did not want; reading a shard with a hit
        through to its last hit read a month's neighbours too). A key in two shards takes the
        first shard's vector (sorted order), a key twice in a shard its first row. The vectors
        are read with pyarrow, a row group at a time, and placed straight into the matrix:
        polars decoding a whole shard, a dict of its rows and a loop filling the matrix from
        it took 1.5-2x as long (``benchmarks/embed_cache.py``; the embed stage of 1M cached
        posts 45.4 -> 34.0 s at the same peak).
        """
        n = keys.len()
        found = np.zeros(n, dtype=bool)
        matrix = np.zeros((n, dim), dtype=np.float32)
        shards = sorted(self.folder.glob("shard-*.parquet"))
        if not shards or n == 0:
            return found, matrix
        wanted = pl.DataFrame({"text_sha256": keys.cast(pl.String)}).with_row_index("_at")
        # in the shards' sorted order and each shard's row order: the first of a key's rows
        hits = (
            self._key_index(shards)
            .join(
                wanted.lazy().select("text_sha256").unique(),
                on="text_sha256",
                how="semi",
                maintain_order="left",
            )
            .unique("text_sha256", keep="first", maintain_order=True)
            .collect()
        )
        for shard, group in hits.group_by("_shard"):
            # every position each hit is asked at, with the hit's row in the shard
            need = group.select("text_sha256", "_row").join(wanted, on="text_sha256")
            rows, at = need["_row"].to_numpy().astype(np.int64), need["_at"].to_numpy()
            # a row group at a time: a whole shard's table (and pyarrow's pool keeping it)
            # raised the stage's peak by ~1.2 GiB at 1M posts
            for first, ask, column in _row_groups(Path(shard[0]), rows):
                if isinstance(column.type, pa.FixedSizeListType):  # what ``store`` writes
                    vecs = column.flatten().to_numpy().reshape(-1, column.type.list_size)
                else:
                    vecs = np.asarray(pl.Series(column).to_list(), dtype=np.float32)
                matrix[at[ask]] = vecs[rows[ask] - first]
                found[at[ask]] = True
        return found, matrix

    def _key_index(self, shards: Sequence[Path]) -> pl.LazyFrame:
        """:func:`_key_index` of ``shards``, each shard's keys read once while it is unchanged
        (a shard is written once under its content's name; ``prune`` rewrites or deletes it)."""
        known, self._keys = self._keys, {}
        for shard in shards:
            st = shard.stat()
            stamp = (st.st_mtime_ns, st.st_size)
            got = known.get(shard)
            if got is None or got[0] != stamp:
                # the shard's path as a category: one copy, not one per key (~150 B a key)
                got = (
                    stamp,
                    _key_index([shard])
                    .collect()
                    .with_columns(pl.col("_shard").cast(pl.Categorical)),
                )
            self._keys[shard] = got
        if not self._keys:
            return _key_index(shards)
        return pl.concat([frame for _, frame in self._keys.values()]).lazy()

    def store(self, keys: Sequence[str], vectors: np.ndarray) -> Path | None:
        """Write one shard with these vectors; returns its path (None when empty)."""
        if not keys:
            return None
        self.folder.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256("".join(sorted(keys)).encode()).hexdigest()[:20]
        path = self.folder / f"shard-{name}.parquet"
        frame = pl.DataFrame(
            {
                "text_sha256": list(keys),
                "embedding": pl.Series(
                    vectors.astype(np.float32), dtype=pl.Array(pl.Float32, vectors.shape[1])
                ),
            }
        )
        # content-addressed: a writer at once with the same texts writes the same bytes
        tmp = private_temporary(path)
        try:
            frame.write_parquet(tmp, compression="zstd", row_group_size=SHARD_GROUP_ROWS)
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    def keys(self) -> set[str]:
        """Every key with a cached vector."""
        shards = sorted(self.folder.glob("shard-*.parquet"))
        if not shards:
            return set()
        return set(_key_index(shards).collect()["text_sha256"])

    def prune(self, keep: Iterable[str] | pl.Series) -> int:
        """Keep only the vectors of ``keep`` (erasure: a forgotten text leaves no row behind).

        The keys are read first; only the shards holding a key to remove are read whole, one at
        a time, and each is replaced by its survivors (written before the old shard is
        deleted: a killed run leaves every shard either whole or pruned, and the next run
        prunes again). A cache with nothing to remove reads no vector, so memory stays that of
        one shard whatever the cache's size (it was every cached vector, twice). Returns the
        number of distinct keys removed.
        """
        # a killed run's temporary shards first: they hold vectors of texts that may be erased
        # now (a store writing at this very moment then fails, loudly: never a half shard)
        for tmp in private_temporaries(self.folder, "shard-*.parquet"):
            tmp.unlink(missing_ok=True)
        shards = sorted(self.folder.glob("shard-*.parquet"))
        if not shards:
            return 0
        kept_keys = keep if isinstance(keep, pl.Series) else pl.Series(list(keep), dtype=pl.String)
        wanted = pl.DataFrame({"text_sha256": kept_keys.cast(pl.String)})
        gone = _key_index(shards).join(wanted.lazy(), on="text_sha256", how="anti").collect()
        if gone.height == 0:
            return 0
        for shard in sorted(set(gone["_shard"].to_list())):
            old = Path(shard)
            survivors = pl.read_parquet(old).join(wanted, on="text_sha256", how="semi")
            new = (
                self.store(
                    survivors["text_sha256"].to_list(),
                    survivors["embedding"].to_numpy().astype(np.float32),
                )
                if survivors.height
                else None
            )
            if new != old:
                old.unlink(missing_ok=True)  # another process's prune may have been first
        return gone["text_sha256"].n_unique()


#: Rows per row group of a shard (~12 MiB of 384-dim float32): the unit a lookup reads, so a
#: month's texts are read without their neighbours in the shard (shards written before held
#: ~83k rows a group, and are read the same way).
SHARD_GROUP_ROWS = 8_192


def _row_groups(shard: Path, rows: np.ndarray) -> Iterator[tuple[int, np.ndarray, pa.Array]]:
    """The shard's vectors of the row groups holding any of ``rows`` (row numbers in the
    shard), :data:`SHARD_GROUP_ROWS` rows at a time (an older shard's larger groups too): the
    batch's first row, which of ``rows`` it holds (a mask) and its ``embedding`` column (the
    file closed after)."""
    with pq.ParquetFile(shard, buffer_size=1 << 22, pre_buffer=False) as reader:
        meta = reader.metadata
        ends = np.cumsum([meta.row_group(g).num_rows for g in range(meta.num_row_groups)])
        for g in np.unique(np.searchsorted(ends, rows, side="right")):
            first = int(ends[g] - meta.row_group(int(g)).num_rows)
            batches = reader.iter_batches(
                batch_size=SHARD_GROUP_ROWS, row_groups=[int(g)], columns=["embedding"]
            )
            for batch in batches:
                ask = (rows >= first) & (rows < first + batch.num_rows)
                if ask.any():
                    yield first, ask, batch.column(0)
                first += batch.num_rows


def _dim(shard: Path) -> int:
    """The vectors' length in a shard (from its schema; a variable-length list: its first row)."""
    kind = pq.read_schema(shard).field("embedding").type
    if isinstance(kind, pa.FixedSizeListType):
        return kind.list_size
    return len(pl.read_parquet(shard, columns=["embedding"], n_rows=1)["embedding"][0])


def _key_index(shards: Sequence[Path]) -> pl.LazyFrame:
    """Every shard's keys, the shard holding each (``_shard``) and its row there (``_row``),
    without their vectors; shard after shard, each in its rows' order."""
    return pl.concat(
        [
            pl.scan_parquet([shard], include_file_paths="_shard")
            .select("text_sha256", "_shard")
            .with_row_index("_row")
            for shard in shards
        ]
    )
