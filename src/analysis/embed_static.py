"""The static route of stage ``embed`` (``embed.route: static``, or any dump larger than
``embed.static_above_posts``): a model2vec static model distilled from the packaged MiniLM.

A static model is one vector per vocabulary token; a text's vector is the mean of its tokens'
vectors, L2-normalised. No transformer runs per text, so it encodes ~100,000 short texts/s on
2 cores where MiniLM does ~150: the only route under which a dump of tens of millions of posts
embeds in minutes on a CPU. The price is quality (docs/scaling.md, "Cutting embedding cost"):
no word order, no context, so topics are coarser. Hence a size threshold, off for every dump
this project ships or tests on.

Reads the packaged weights (offline) and writes one derived artefact, the static model, into
``embed.model_cache_dir`` (``<model>@<revision>+static-m2v-v1/``, git-ignored), built by
:func:`build_static` on first use with model2vec's ``distill`` (one MiniLM forward pass per
vocabulary token on CPU, PCA keeping all 384 dimensions, Zipf/SIF weights; ~1-2 min on 2 cores;
nothing downloaded: ``distill`` loads the local folder with the hub offline). The recipe is part
of the folder name and of the embedding cache's key (:func:`analysis.embed_cache.vector_key`), so
static vectors never mix with MiniLM's.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

RECIPE = "static-m2v-v1"
#: model2vec ``distill`` arguments of :data:`RECIPE`: PCA without reduction keeps 384 dims (the
#: embeddings table's schema), SIF 1e-4 (the library default), float32 weights.
DISTILL = {"pca_dims": "auto", "sif_coefficient": 1e-4, "quantize_to": "float32"}


def build_static(name: str, revision: str, cache_root: Path | str, threads: int = 0) -> Path:
    """The static model distilled from model ``name``, built once from the local weights.

    Args:
        name: packaged model name or model folder.
        revision: the weights' revision (part of the cache folder).
        cache_root: folder of derived models (``embed.model_cache_dir``).
        threads: torch threads for the distillation (0: torch's default).

    Returns:
        The cache folder (model2vec's ``save_pretrained`` layout plus ``recipe.json``).
    """
    from analysis.embed_onnx import model_folder

    safe = f"{name}@{revision}+{RECIPE}".replace("/", "_")
    folder = Path(cache_root) / safe
    if (folder / "recipe.json").exists():
        return folder
    weights = model_folder(name)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from model2vec.distill import distill

    if threads:
        torch.set_num_threads(threads)
    log.info("distilling %s of %s@%s into %s (once)", RECIPE, name, revision, folder)
    static = distill(str(weights), device="cpu", **DISTILL)  # type: ignore[arg-type]
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    static.save_pretrained(str(tmp))
    (tmp / "recipe.json").write_text(json.dumps({"recipe": RECIPE, **DISTILL}, indent=1))
    if not folder.exists():
        tmp.replace(folder)
    else:  # another process built it meanwhile: keep theirs, leave no copy of ours behind
        shutil.rmtree(tmp)
    return folder


class StaticEncoder:
    """An ``embed.Encoder`` over a static model: mean of token vectors, L2-normalised.

    Each text's vector depends on that text only (no batch effects), in one process (model2vec's
    multiprocessing is off: the stage's memory stays one process's). A text of unknown tokens
    only gets the zero vector.
    """

    def __init__(self, folder: Path | str, max_tokens: int = 256) -> None:
        from model2vec import StaticModel

        self.model = StaticModel.from_pretrained(str(folder))
        #: tokens kept per text (``embed.max_seq_length``), cut as MiniLM cuts them
        self.max_tokens = max_tokens
        self.device = "cpu"

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        vecs = np.asarray(
            self.model.encode(
                list(texts),
                max_length=self.max_tokens,
                normalize=False,
                use_multiprocessing=False,
                show_progress_bar=False,
            ),
            dtype=np.float32,
        ).reshape(len(texts), -1)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return np.divide(vecs, norms, out=np.zeros_like(vecs), where=norms > 0)
