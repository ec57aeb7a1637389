"""The fast embedding route of stage ``embed``: MiniLM exported to ONNX, int8, on ONNX Runtime.

Serves ``embed`` when ``embed.route`` is ``onnx-int8``. Reads the packaged weights (offline) and
writes one derived artefact, the quantised ONNX graph, into a cache folder
(``embed.model_cache_dir``, default ``data/cache/models/<model>@<revision>+<recipe>/``): built by
:func:`build_onnx` on first use from the local weights (export ~10 s, quantisation ~5 s on 2
cores), never committed and never downloaded. The recipe name is part of the folder and of the
embedding cache's key, so vectors of two recipes never mix.

Recipe ``onnx-int8-v1`` (measured in ``benchmarks/embed_routes.py``, docs/scaling.md):

* export: the BERT encoder only (keywords through a wrapper: transformers 5.x refuses
  positionals inside ``torch.onnx.export``), TorchScript exporter, opset 17, dynamic batch and
  sequence axes; mean pooling over the attention mask and L2 normalisation are done here in
  numpy, as sentence-transformers does them;
* ONNX Runtime's BERT fusions (attention, LayerNorm, GELU) before quantisation;
* dynamic int8 quantisation of the weights, per channel (``quantize_dynamic``): activations are
  quantised per batch from their own range, so no calibration set can be stale.

Texts are tokenised with the model's own fast tokenizer, truncated at the model's
``max_seq_length`` (256), encoded longest first in batches so that padding stays short.
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

log = logging.getLogger(__name__)

RECIPE = "onnx-int8-v1"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def model_folder(name: str) -> Path:
    """Folder of a packaged model's files (or ``name`` itself when it is a folder)."""
    from analysis.embed import PACKAGED_MODELS

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
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model

    safe = f"{name}@{revision}+{RECIPE}".replace("/", "_")
    folder = Path(cache_root) / safe
    if (folder / "recipe.json").exists() and (folder / "model.onnx").exists():
        return folder
    weights = model_folder(name)
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    log.info("building %s of %s@%s in %s (once)", RECIPE, name, revision, folder)
    max_len = _export(weights, tmp / "fp32.onnx")
    config = json.loads((weights / "config.json").read_text())
    fused = optimize_model(
        str(tmp / "fp32.onnx"),
        model_type="bert",
        num_heads=int(config["num_attention_heads"]),
        hidden_size=int(config["hidden_size"]),
        opt_level=1,
        use_gpu=False,
    )
    fused.save_model_to_file(str(tmp / "fused.onnx"))
    quantize_dynamic(
        str(tmp / "fused.onnx"),
        str(tmp / "model.onnx"),
        weight_type=QuantType.QInt8,
        per_channel=True,
    )
    for f in ("fp32.onnx", "fused.onnx"):
        (tmp / f).unlink()
    digest = hashlib.sha256((tmp / "model.onnx").read_bytes()).hexdigest()
    (tmp / "recipe.json").write_text(
        json.dumps({"recipe": RECIPE, "max_seq_length": max_len, "sha256": digest}, indent=1)
    )
    tmp.replace(folder) if not folder.exists() else None  # another process may have won
    return folder


class OnnxEncoder:
    """An ``embed.Encoder`` over an ONNX graph: tokenise, run, mean-pool, L2-normalise."""

    def __init__(self, folder: Path | str, weights: Path | str, threads: int = 0) -> None:
        import onnxruntime as ort
        from transformers import AutoTokenizer

        folder = Path(folder)
        recipe = json.loads((folder / "recipe.json").read_text())
        self.max_seq_length = int(recipe["max_seq_length"])
        self.tokenizer = AutoTokenizer.from_pretrained(str(weights))
        so = ort.SessionOptions()
        if threads:
            so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(folder / "model.onnx"), so, providers=["CPUExecutionProvider"]
        )
        self.device = "cpu"

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        enc = self.tokenizer(
            list(texts),
            return_tensors="np",
            padding=True,
            truncation=True,
            max_length=self.max_seq_length,
        )
        hidden = self.session.run(None, {k: enc[k].astype(np.int64) for k in INPUTS})[0]
        mask = enc["attention_mask"][..., None].astype(np.float32)
        pooled = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
