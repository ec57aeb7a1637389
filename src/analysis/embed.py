"""Embeddings of scrubbed post texts (logic of stage ``embed``; I/O lives in ``stages/embed.py``).

Reads nothing and writes nothing itself except the content-addressed cache it is handed:

* :func:`~analysis.embed_models.load_model` loads the packaged all-MiniLM-L6-v2 offline
  (384 dims); importing ``sentence_transformers`` costs 7-10 s, so it happens inside the
  function, never at import.
* :func:`encode_texts` encodes in batches, texts of one token length together (no padding; a
  text's vector then depends on the text alone, not on its batch: warm and cold caches give the
  same bits), with an explicit thread count and a progress bar on long runs.
* :class:`~analysis.embed_cache.EmbeddingCache` keeps vectors keyed by (model, revision,
  sha256(text)) in Parquet shards under ``data/cache/embeddings/<model>@<revision>/``. A run
  writes one new shard with only the texts it had to encode, so adding 1 % new posts encodes
  only those.
* :func:`embed_posts` deduplicates identical texts, looks them up in the cache, encodes the
  rest and returns one row per post.

The encoders and their routes (``embed.route``: ``torch``, ``onnx-int8``, ``static``) live in
``analysis.embed_models``, the cache in ``analysis.embed_cache``. Length-sorted batches and
deduplication are on for every route.

Null or blank texts (deleted posts, image-only posts, texts the scrubber emptied) are **kept
and flagged**: ``is_empty_text = True`` with a null embedding. A zero vector would sit at the
same cosine 0 from everything and form a fake "empty" cluster; dropping rows silently would
break the rule that every row is either used or accounted for. Downstream stages filter on
``is_empty_text`` and count what they skipped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import polars as pl
from pydantic import Field

from analysis.config import Frozen
from analysis.embed_cache import EmbeddingCache, text_keys, vector_key

# load_model stays importable from here: the test session's model fixture (tests/conftest.py)
# loads it as analysis.embed.load_model.
from analysis.embed_models import Encoder, length_batches, load_model, token_lengths  # noqa: F401

if TYPE_CHECKING:
    from analysis.compute import Engine

log = logging.getLogger(__name__)

DIM = 384


class EmbedParams(Frozen):
    """``embed``: which model embeds the posts, and how."""

    model: str = "all-MiniLM-L6-v2"
    #: Version of the package that ships the weights; the stage refuses another installed version
    #: (a new revision would silently mix vectors of two models in one table).
    revision: str = "0.1.0"
    batch_size: int = Field(64, ge=1)
    #: Forward passes at once on the CPU, each on one torch thread (0: torch's thread count,
    #: every core unless set); speed only: the vectors are the same at any count
    #: (``embed_models.TorchEncoder``).
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


def vector_space(p: EmbedParams, n_posts: int) -> str:
    """What the vectors of a dump of ``n_posts`` posts are: ``model@revision`` plus the route's
    recipe and the token limit where they differ from the precise defaults (the cache's key,
    ``embed_cache.vector_key``). Vectors of two spaces must not meet: a frozen topic fit
    refuses the embeddings of another."""
    return f"{p.model}@{vector_key(for_size(p, n_posts))}"


def text_batches(texts: Sequence[str], encoder: Encoder, batch_size: int) -> list[np.ndarray]:
    """Indices of ``texts`` in the batches the encoder is handed, longest texts first.

    An encoder that counts tokens (the torch route) gets batches of one token length each: no
    padding, and the very batches it would form itself (:class:`~analysis.embed_models.
    TorchEncoder`, whose vectors do not depend on the batch). Other encoders get texts sorted by
    characters (~2x faster than input order on beer). The batches depend only on the texts, the
    encoder and ``batch_size``, never on the engine.
    """
    tokens = token_lengths(encoder, texts)
    if tokens is not None:
        return length_batches(tokens, batch_size, exact=True)
    return length_batches(np.array([len(t) for t in texts]), batch_size)


def encode_batches(batches: list[list[str]], encoder: Encoder) -> list[np.ndarray]:
    """Encode the texts of ``batches`` (a task of the compute engine) with one call of
    ``encoder``, split back into one array per batch.

    One call, not one per batch: the torch route runs its forward passes on one thread each,
    several at once (:class:`~analysis.embed_models.TorchEncoder`), so a call of one batch used
    one core (the demo's embed stage 63 -> 108 s on 2 cores). A text's vector does not depend on
    the texts it is encoded with on any route, so the vectors are the same."""
    texts = [t for batch in batches for t in batch]
    vecs = np.asarray(encoder(texts), dtype=np.float32)
    if vecs.shape[0] != len(texts):
        raise RuntimeError(f"encoder returned {vecs.shape[0]} vectors for {len(texts)} texts")
    return np.split(vecs, np.cumsum([len(batch) for batch in batches])[:-1])


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
        batch_size: texts per batch (per forward pass on the torch route).
        progress: show a tqdm bar.
        engine: where the batches run (None: this process).
        chunk_batches: batches per call of ``encoder`` (:func:`encode_batches`), here or in
            an engine task; at least four per thread of an encoder that has ``threads``.

    Returns:
        float32 array of shape (len(texts), dim).
    """
    if not texts:
        return np.zeros((0, DIM), dtype=np.float32)
    from tqdm.auto import tqdm

    batches = text_batches(texts, encoder, batch_size)
    # a call runs its passes side by side (TorchEncoder): enough batches to keep every one of
    # its threads busy to the call's end
    chunk_batches = max(chunk_batches, 4 * (getattr(encoder, "threads", 0) or 0))
    # each batch's vectors put in their rows as they come: one (texts, dim) array held, not the
    # batches', their concatenation and the array in input order (three copies before)
    out: np.ndarray | None = None
    rows = iter(batches)

    def place(vecs: list[np.ndarray]) -> None:
        nonlocal out
        for v in vecs:
            if out is None:
                out = np.empty((len(texts), v.shape[1]), dtype=np.float32)
            out[next(rows)] = v

    with tqdm(total=len(texts), desc="embed", unit="text", disable=not progress) as bar:
        tasks = [
            [[texts[i] for i in idx] for idx in batches[s : s + chunk_batches]]
            for s in range(0, len(batches), chunk_batches)
        ]
        if engine is None:  # here, ``chunk_batches`` batches a call (encode_batches)
            for task in tasks:
                place(encode_batches(task, encoder))
                bar.update(sum(len(batch) for batch in task))
        else:
            for done in engine.map(encode_batches, tasks, encoder=encoder):
                place(done)
            bar.update(len(texts))
    if out is None:  # texts is not empty: one batch at least came back
        raise RuntimeError("embed: the encoder returned no batch")
    return out


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
    unique = keyed.filter(~pl.col("is_empty_text"))["text"].unique(maintain_order=True)
    keys = text_keys(unique)
    if cache is not None:
        found, matrix = cache.vectors(keys, dim)
    else:
        found, matrix = np.zeros(len(unique), dtype=bool), np.zeros((len(unique), dim), np.float32)
    missing = np.flatnonzero(~found)
    texts = unique.to_list()
    new = encode_texts(
        [texts[i] for i in missing],
        encoder,
        batch_size=batch_size,
        progress=missing.size >= progress_min_texts,
        engine=engine,
    )
    if cache is not None and missing.size:
        cache.store(keys.gather(missing).to_list(), new)
    if missing.size and missing.size == len(texts):  # nothing cached: the zeros never written
        matrix = new
    elif missing.size:
        matrix[missing] = new
    del new
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
        n_cached=len(texts) - missing.size,
        n_encoded=int(missing.size),
        seconds=time.perf_counter() - started,
    )
    return out, stats


def embedding_matrix(embeddings: pl.DataFrame) -> np.ndarray:
    """The (n, dim) float32 matrix of a frame's non-null ``embedding`` column, in row order."""
    col = embeddings["embedding"].drop_nulls()
    if col.len() == 0:
        return np.zeros((0, DIM), dtype=np.float32)
    return col.to_numpy().astype(np.float32, copy=False)
