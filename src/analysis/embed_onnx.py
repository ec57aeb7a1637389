"""The fast route of stage ``embed`` (``embed.route: onnx-int8``): MiniLM exported to ONNX,
quantised to int8, run on ONNX Runtime, texts cut at ``embed.max_seq_length`` tokens.

Reads the packaged weights (offline) and writes one derived artefact, the quantised graph, into
``embed.model_cache_dir`` (default ``data/cache/models/<model>@<revision>+<recipe>/``, git-ignored):
built by :func:`build_onnx` on first use from the local weights (export + quantisation, ~30 s on
2 cores), never committed and never downloaded. The recipe is part of the folder name and of
the embedding cache's key (:func:`analysis.embed_cache.vector_key`), so vectors of two routes never mix.

Recipe ``onnx-int8-v1``:

* export: the BERT encoder only (keywords through a wrapper: transformers 5.x refuses
  positionals inside ``torch.onnx.export``), TorchScript exporter, opset 17, dynamic batch and
  sequence axes; mean pooling over the attention mask and L2 normalisation are done in numpy,
  as sentence-transformers does them;
* dynamic int8 quantisation of the weights, per channel (``quantize_dynamic``): activations are
  quantised per batch from their own range, so there is no calibration set to go stale.
  (ONNX Runtime's BERT fusions before quantising measured no faster here; ``reduce_range``
  lowered the cosine to fp32.)

Measured on Stack Exchange beer (``benchmarks/embed_routes.py``, docs/scaling.md): batched int8
is ~1.0x torch on this AVX2 CPU at 256 tokens; one text per run with texts cut at 128 tokens is
~2.8x. At a fixed number of topics its topics and attribution match the precise route's (NMI
+0.001, P@3 -0.010); with the automatic k they do not (k 25 -> 6), hence opt-in.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from analysis.embed_models import PACKAGED_MODELS

log = logging.getLogger(__name__)

RECIPE = "onnx-int8-v1"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def model_folder(name: str) -> Path:
    """Folder of a packaged model's files (or ``name`` itself when it is a folder)."""
    if name in PACKAGED_MODELS:
        return Path(__import__(PACKAGED_MODELS[name]).get_model_path())
    path = Path(name)
    if not path.exists():
        raise FileNotFoundError(
            f"embedding model {name!r}: no packaged model of that name and no folder {path}"
        )
    return path


def _export(weights: Path, target: Path) -> int:
    """Export the transformer of ``weights`` to ONNX at ``target``; returns max_seq_length."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    bert = AutoModel.from_pretrained(str(weights)).eval()
    tok = AutoTokenizer.from_pretrained(str(weights))

    class Wrap(torch.nn.Module):  # transformers 5.x: keywords, not positionals
        def __init__(self, m: Any) -> None:
            super().__init__()
            self.m = m

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.m(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    enc = tok(["an example text", "a second one"], return_tensors="pt", padding=True)
    axes = {0: "batch", 1: "seq"}
    with torch.no_grad():
        torch.onnx.export(
            Wrap(bert),
            tuple(enc[k] for k in INPUTS),
            str(target),
            input_names=list(INPUTS),
            output_names=["last_hidden_state"],
            opset_version=17,
            dynamo=False,
            dynamic_axes={k: axes for k in (*INPUTS, "last_hidden_state")},
        )
    config = json.loads((weights / "sentence_bert_config.json").read_text())
    return int(config.get("max_seq_length", 256))


def build_onnx(name: str, revision: str, cache_root: Path | str) -> Path:
    """The int8 ONNX graph of model ``name``, built once from the local weights and cached.

    Args:
        name: packaged model name or model folder.
        revision: the weights' revision (part of the cache folder).
        cache_root: folder of derived models (``embed.model_cache_dir``).

    Returns:
        The cache folder, holding ``model.onnx`` and ``recipe.json`` (recipe, max_seq_length,
        sha256 of the graph).
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    safe = f"{name}@{revision}+{RECIPE}".replace("/", "_")
    folder = Path(cache_root) / safe
    if (folder / "recipe.json").exists() and (folder / "model.onnx").exists():
        return folder
    weights = model_folder(name)
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    log.info("building %s of %s@%s in %s (once)", RECIPE, name, revision, folder)
    max_len = _export(weights, tmp / "fp32.onnx")
    # a malformed export fails here with the node at fault, not later inside the quantiser
    onnx.checker.check_model(str(tmp / "fp32.onnx"))
    quantize_dynamic(
        str(tmp / "fp32.onnx"),
        str(tmp / "model.onnx"),
        weight_type=QuantType.QInt8,
        per_channel=True,
    )
    (tmp / "fp32.onnx").unlink()
    digest = hashlib.sha256((tmp / "model.onnx").read_bytes()).hexdigest()
    (tmp / "recipe.json").write_text(
        json.dumps({"recipe": RECIPE, "max_seq_length": max_len, "sha256": digest}, indent=1)
    )
    if not folder.exists():  # another process may have built it meanwhile
        tmp.replace(folder)
    return folder


class OnnxEncoder:
    """An ``embed.Encoder`` over an ONNX graph: tokenise, run, mean-pool, L2-normalise."""

    def __init__(
        self,
        folder: Path | str,
        weights: Path | str,
        threads: int = 0,
        max_seq_length: int | None = None,
    ) -> None:
        import onnxruntime as ort
        from transformers import AutoTokenizer

        folder = Path(folder)
        recipe = json.loads((folder / "recipe.json").read_text())
        #: tokens kept per text: the model's own limit (256), or fewer when asked
        self.max_seq_length = min(int(recipe["max_seq_length"]), max_seq_length or 10**9)
        self.tokenizer = AutoTokenizer.from_pretrained(str(weights))
        so = ort.SessionOptions()
        if threads:
            so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(folder / "model.onnx"), so, providers=["CPUExecutionProvider"]
        )
        self.device = "cpu"
        self.dim = int(json.loads((Path(weights) / "config.json").read_text())["hidden_size"])

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """One run per text: no padding, and a text's vector never depends on its neighbours.

        Dynamic int8 quantises activations with the range of the whole input tensor, padded
        positions included, so in a batch a text's vector would move with the other texts
        (cosine 0.98-0.99 alone vs batched on beer). Alone, the vector is a function of the text
        only (same in a fresh run, an incremental run and any row order) and, with no padding,
        ~1.3x faster than batches of 64 on beer.
        """
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            enc = self.tokenizer(
                [text], return_tensors="np", truncation=True, max_length=self.max_seq_length
            )
            hidden = self.session.run(None, {k: enc[k].astype(np.int64) for k in INPUTS})[0][0]
            pooled = hidden.mean(axis=0)  # no padding: every position is a token
            out[i] = pooled / max(float(np.linalg.norm(pooled)), 1e-12)
        return out
