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


#: A key's 64 hex digits as four unsigned 64-bit words, most significant first: the columns the
#: key index holds and lookups and prunes compare. 32 bytes a key where its text takes ~80 (64
#: bytes out of line and a 16-byte view): at 10M cached texts the index the embed stage keeps is
#: ~0.4 GB, not ~1 GB. The whole digest is compared, nothing truncated; a key that is not 64
#: lowercase hex digits gets null words, so it never matches (a lookup misses it, a prune
#: removes it).
WORDS = ("_w0", "_w1", "_w2", "_w3")


def key_words(key: pl.Expr) -> list[pl.Expr]:
    """The :data:`WORDS` of the keys ``key`` holds (64 lowercase hex digits; else nulls)."""
    # lowercase only: to_integer also reads upper case and a leading "+", which would make
    # another text the same key (~0.1 s a million keys over a check of the length alone)
    whole = key.str.contains(r"^[0-9a-f]{64}$")
    return [
        pl.when(whole)
        .then(key.str.slice(16 * i, 16).str.to_integer(base=16, dtype=pl.UInt64, strict=False))
        .alias(word)
        for i, word in enumerate(WORDS)
    ]


def compact_keys(keys: Iterable[str] | pl.Series) -> pl.DataFrame:
    """The keys ``keys`` (hex) as :data:`WORDS`, one row a key."""
    hexes = keys if isinstance(keys, pl.Series) else pl.Series(list(keys), dtype=pl.String)
    return pl.DataFrame({"k": hexes.cast(pl.String)}).select(key_words(pl.col("k")))


class KeySet:
    """Distinct keys (:data:`WORDS`), sorted: what a prune keeps. Membership is a binary search
    on the first word, then every word compared, with no hash table: at 10M texts the prune's
    polars join of the posts' keys against the cache's, in hex, took the embed stage to 2.8 GiB
    (its 10M peak, with the lookups' index beside it: 4.4 GiB). Exact: a first word that
    several kept keys share (~1 in 4 x 10^5 sets of 10M digests; any number in made-up keys) is
    settled by a binary search on the whole 32 bytes of those keys' asked rows.

    ``words``: any frame with the :data:`WORDS` columns (repeats and nulls are dropped).
    """

    def __init__(self, words: pl.DataFrame) -> None:
        ordered = words.select(pl.col(WORDS).cast(pl.UInt64)).drop_nulls().sort(WORDS)
        differs = pl.any_horizontal(pl.col(w) != pl.col(w).shift(1) for w in WORDS)
        ordered = ordered.filter(differs.fill_null(True))  # the first of equal rows
        #: the sorted keys' words, one contiguous array each (numpy: searched and gathered
        #: without polars' per-call frames; 2.9 -> ~1 s for 4M keys asked of 8M)
        self.columns = [ordered[w].to_numpy() for w in WORDS]
        self._bytes: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.columns[0])

    def contains(self, words: pl.DataFrame) -> np.ndarray:
        """A bool per row of ``words`` (:data:`WORDS`): whether its key is in the set."""
        n, m = len(self), words.height
        found = np.zeros(m, dtype=bool)
        if n == 0 or m == 0:
            return found
        valid = ~words.select(pl.any_horizontal(pl.col(WORDS).is_null())).to_series().to_numpy()
        # unsigned, as the set's (numpy compares uint64 with int64 as floats)
        asked = [words[w].cast(pl.UInt64).fill_null(0).to_numpy() for w in WORDS]
        # the first words searched in their own order (a merge-like walk: 4M of 8M keys ~0.8 s,
        # where 4M searches in their rows' order took ~4 s, a cache miss a step)
        order = np.argsort(asked[0], kind="stable")
        first, query = self.columns[0], asked[0][order]
        lo, hi = np.empty(m, dtype=np.int64), np.empty(m, dtype=np.int64)
        lo[order] = np.searchsorted(first, query, side="left")
        hi[order] = np.searchsorted(first, query, side="right")
        del order, query
        one = np.flatnonzero(valid & (hi - lo == 1))  # one kept key of that first word
        same = np.ones(one.size, dtype=bool)
        for kept, q in zip(self.columns[1:], asked[1:], strict=True):
            same &= kept[lo[one]] == q[one]
        found[one] = same
        several = np.flatnonzero(valid & (hi - lo > 1))
        if several.size:
            if self._bytes is None:
                self._bytes = _key_bytes(self.columns)
            b, q = self._bytes, _key_bytes([a[several] for a in asked])
            at = np.searchsorted(b, q).clip(0, n - 1)
            found[several] = b[at] == q
        return found


def _key_bytes(columns: list[np.ndarray]) -> np.ndarray:
    """Keys given as their four words (one array each, :data:`WORDS`' order) as their 32
    bytes (numpy ``S32``, most significant word first): sorted as the words sort, equal
    exactly when all four are."""
    big = np.empty((len(columns[0]), 4), dtype=">u8")
    for i, column in enumerate(columns):
        big[:, i] = column
    return big.view("S32").reshape(len(columns[0]))


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
        wanted = (
            pl.DataFrame({"k": keys.cast(pl.String)})
            .select(key_words(pl.col("k")))
            .with_row_index("_at")
        )
        # in the shards' sorted order and each shard's row order: the first of a key's rows
        # (a join on the first word, hashing one integer column, then every word of the few)
        asked = wanted.lazy().select(WORDS).unique()
        hits = (
            self._key_index(shards)
            .join(asked.select("_w0"), on="_w0", how="semi", maintain_order="left")
            .join(asked, on=WORDS, how="semi", maintain_order="left")
            .unique(WORDS, keep="first", maintain_order=True)
            .collect()
        )
        for shard, group in hits.group_by("_shard"):
            # every position each hit is asked at, with the hit's row in the shard
            need = group.select(*WORDS, "_row").join(wanted, on=WORDS)
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
        known = {shard: self._shard_index(shard) for shard in shards}
        self._keys = {shard: self._keys[shard] for shard in known}  # the shards still there
        if not known:
            return _key_index(shards)
        return pl.concat(list(known.values())).lazy()

    def _shard_index(self, shard: Path, remember: bool = True) -> pl.DataFrame:
        """:func:`_key_index` of one shard: as held while the shard is unchanged, else read
        (and held when ``remember``)."""
        st = shard.stat()
        stamp = (st.st_mtime_ns, st.st_size)
        got = self._keys.get(shard)
        if got is not None and got[0] == stamp:
            return got[1]
        # the shard's path as a category: one copy, not one per key (~150 B a key)
        frame = _key_index([shard]).collect().with_columns(pl.col("_shard").cast(pl.Categorical))
        if remember:
            self._keys[shard] = (stamp, frame)
        return frame

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
                    vectors.astype(np.float32, copy=False),
                    dtype=pl.Array(pl.Float32, vectors.shape[1]),
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
        return set(pl.scan_parquet(shards).select("text_sha256").collect()["text_sha256"])

    def prune(self, keep: Iterable[str] | pl.Series | KeySet) -> int:
        """Keep only the vectors of ``keep`` (erasure: a forgotten text leaves no row behind):
        keys in hex, or a :class:`KeySet` of them.

        The keys are read first, a shard at a time (those the lookups hold already are not
        read again); only the shards holding a key to remove are read whole, one at a time,
        and each is replaced by its survivors (written before the old shard is
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
        kept = keep if isinstance(keep, KeySet) else KeySet(compact_keys(keep))
        removed: list[pl.Series] = []
        for old in shards:
            # the index holds the shard's keys in its rows' order: one test serves both
            keep_rows = kept.contains(self._shard_index(old, remember=False))
            if keep_rows.all():
                continue
            rows = pl.read_parquet(old)
            survivors = rows.filter(keep_rows)
            removed.append(rows.filter(~keep_rows)["text_sha256"])
            del rows
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
        return pl.concat(removed).n_unique() if removed else 0


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
    """Every shard's keys as :data:`WORDS`, the shard holding each (``_shard``) and its row
    there (``_row``), without their vectors; shard after shard, each in its rows' order."""
    return pl.concat(
        [
            pl.scan_parquet([shard], include_file_paths="_shard")
            .select(*key_words(pl.col("text_sha256")), "_shard")
            .with_row_index("_row")
            for shard in shards
        ]
    )
