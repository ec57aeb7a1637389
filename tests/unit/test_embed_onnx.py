"""The ``onnx-int8`` route of stage ``embed``: built offline from the packaged weights, cached,
close to the torch vectors, truncating where asked, never mixed with the precise vectors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analysis import embed, embed_models, embed_onnx
from analysis.embed import EmbedParams
from analysis.embed_cache import vector_key
from analysis.embed_models import ModelEncoder
from tests.project import build_once

#: one worker builds the graph and runs every test that reads it
pytestmark = pytest.mark.xdist_group("onnx-model")

TEXTS = [
    "How long should I age a barleywine before opening it?",
    "Is a cold crash needed for a clear lager?",
    "Which hops give a citrus aroma to a pale ale?",
    "The bottle conditioned ale tastes of cardboard after a year in the cellar.",
    "Can I use bread yeast for a quick cider?",
    "short",
]


def _build(root) -> None:
    embed_onnx.build_onnx("all-MiniLM-L6-v2", "0.1.0", root)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The int8 graph, built once per session (shared by the xdist workers)."""
    root = build_once(tmp_path_factory, f"models-{embed_onnx.RECIPE}", _build)
    return root, embed_onnx.build_onnx("all-MiniLM-L6-v2", "0.1.0", root)


def test_the_graph_is_built_once_from_local_weights_and_recorded(built, monkeypatch) -> None:
    root, folder = built
    assert folder.name == f"all-MiniLM-L6-v2@0.1.0+{embed_onnx.RECIPE}"
    recipe = json.loads((folder / "recipe.json").read_text())
    import hashlib

    assert recipe["sha256"] == hashlib.sha256((folder / "model.onnx").read_bytes()).hexdigest()
    assert recipe["max_seq_length"] == 256 and recipe["recipe"] == embed_onnx.RECIPE
    stamp = (folder / "model.onnx").stat().st_mtime_ns

    def no_export(*_a, **_k):
        raise AssertionError("rebuilt although cached")

    monkeypatch.setattr(embed_onnx, "_export", no_export)
    assert embed_onnx.build_onnx("all-MiniLM-L6-v2", "0.1.0", root) == folder
    assert (folder / "model.onnx").stat().st_mtime_ns == stamp
    assert not list(root.glob("*.tmp*"))  # no half-built folder left behind


def test_int8_vectors_are_close_to_the_torch_vectors(built, embedding_model) -> None:
    _, folder = built
    enc = embed_onnx.OnnxEncoder(folder, embed_onnx.model_folder("all-MiniLM-L6-v2"), 1)
    fast = enc(TEXTS)
    ref = embed_models.model_encoder(embedding_model, 8)(TEXTS)
    assert fast.shape == ref.shape == (len(TEXTS), embed.DIM) and fast.dtype == np.float32
    assert np.allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-5)
    cos = np.sum(fast * ref, axis=1)
    assert cos.min() > 0.95 and cos.mean() > 0.98, cos
    # it is not a copy of the fp32 vectors either: int8 moves them a little
    assert cos.min() < 0.99999
    # each text runs alone: its vector does not depend on its neighbours or their order
    alone = np.concatenate([enc([t]) for t in TEXTS])
    assert np.array_equal(alone, fast)
    assert np.array_equal(enc(TEXTS[::-1])[::-1], fast)


def test_max_seq_length_cuts_long_texts(built) -> None:
    _, folder = built
    weights = embed_onnx.model_folder("all-MiniLM-L6-v2")
    full = embed_onnx.OnnxEncoder(folder, weights, 1)
    cut = embed_onnx.OnnxEncoder(folder, weights, 1, max_seq_length=32)
    assert cut.max_seq_length == 32 and full.max_seq_length == 256
    head = " ".join(["the stout was dark and roasty"] * 10)  # ~60 tokens
    a, b = head + " and then hops hops hops", head + " but the lager was crisp and pale"
    va, vb = cut([a, b])
    assert float(va @ vb) > 0.9999  # the endings lie past 32 tokens: same vector
    fa, fb = full([a, b])
    assert float(fa @ fb) < 0.999  # with 256 tokens they differ


def test_routes_and_token_limits_never_share_a_cache_folder() -> None:
    keys = {
        vector_key(EmbedParams()),
        vector_key(EmbedParams(route="onnx-int8")),
        vector_key(EmbedParams(route="onnx-int8", max_seq_length=128)),
        vector_key(EmbedParams(max_seq_length=128)),
    }
    assert len(keys) == 4
    assert vector_key(EmbedParams()) == "0.1.0"  # the precise cache of earlier runs stays valid
    with pytest.raises(ValueError, match="route"):
        EmbedParams(route="int4")  # type: ignore[arg-type]


def test_the_stage_encoder_resolves_the_route(built) -> None:
    root, _ = built
    spec = ModelEncoder.of(
        EmbedParams(route="onnx-int8", max_seq_length=128, device="cpu", model_cache_dir=str(root))
    )
    loaded = embed_models.resolve_encoder(spec)
    assert isinstance(loaded, embed_onnx.OnnxEncoder) and loaded.max_seq_length == 128
    assert spec(TEXTS[:2]).shape == (2, embed.DIM)
    on_gpu = ModelEncoder.of(EmbedParams(route="onnx-int8", device="cuda"))
    with pytest.raises(ValueError, match="CPU"):
        embed_models.resolve_encoder(on_gpu)
