"""The ``static`` route of stage ``embed``: distilled offline from the packaged weights, cached,
chosen by ``embed.static_above_posts``, deterministic, never mixed with MiniLM's vectors."""

from __future__ import annotations

import argparse
import json
import socket

import numpy as np
import polars as pl
import pytest

from analysis import embed, embed_models, embed_static
from analysis.embed import EmbedParams, for_size
from analysis.embed_cache import vector_key
from analysis.embed_models import ModelEncoder
from analysis.vectors import read_table
from tests.project import build_once

#: one worker distils the model and runs every test that reads it (tests/xdist_groups.FIRST)
pytestmark = pytest.mark.xdist_group("static-model")

TEXTS = [
    "How long should I age a barleywine before opening it?",
    "Is a cold crash needed for a clear lager?",
    "Which hops give a citrus aroma to a pale ale?",
    "The bottle conditioned ale tastes of cardboard after a year in the cellar.",
    "Can I use bread yeast for a quick cider?",
    "short",
]


def _distil_offline(root) -> None:
    """Distil the static model into ``root`` with every network connection refused."""
    real_connect = socket.socket.connect

    def refuse(self, address):  # a unix socket (a local pipe) is not the network
        if self.family in (socket.AF_INET, socket.AF_INET6):
            raise OSError(f"network access during the distillation: {address}")
        return real_connect(self, address)

    mp = pytest.MonkeyPatch()
    mp.setattr(socket.socket, "connect", refuse)
    try:
        embed_static.build_static("all-MiniLM-L6-v2", "0.1.0", root, threads=1)
    finally:
        mp.undo()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The static model, distilled offline once per session (shared by the xdist workers)."""
    root = build_once(tmp_path_factory, f"models-{embed_static.RECIPE}", _distil_offline)
    return root, embed_static.build_static("all-MiniLM-L6-v2", "0.1.0", root)


def test_the_static_model_is_built_once_offline_and_recorded(built, monkeypatch) -> None:
    root, folder = built
    assert folder.name == f"all-MiniLM-L6-v2@0.1.0+{embed_static.RECIPE}"
    recipe = json.loads((folder / "recipe.json").read_text())
    assert recipe["recipe"] == embed_static.RECIPE and recipe["pca_dims"] == "auto"
    import model2vec.distill

    def no_distill(*_a, **_k):
        raise AssertionError("distilled again although cached")

    monkeypatch.setattr(model2vec.distill, "distill", no_distill)
    assert embed_static.build_static("all-MiniLM-L6-v2", "0.1.0", root) == folder
    assert not list(root.glob("*.tmp*"))  # no half-built folder left behind


def test_a_model_another_process_built_meanwhile_is_kept_and_ours_removed(
    tmp_path, monkeypatch
) -> None:
    """Two processes distil at once: the second finds the folder there when it renames its
    copy. It keeps the first one's and deletes its own (a leftover ``.tmp<pid>`` folder is a
    whole model on disk)."""
    import model2vec.distill

    folder = tmp_path / f"all-MiniLM-L6-v2@0.1.0+{embed_static.RECIPE}"

    class Distilled:
        def save_pretrained(self, path: str) -> None:
            from pathlib import Path

            Path(path).mkdir(parents=True)
            (Path(path) / "model.safetensors").write_text("ours")

    def distill_while_another_finishes(*_a, **_k):
        folder.mkdir()  # the other process renamed its folder into place meanwhile
        (folder / "model.safetensors").write_text("theirs")
        return Distilled()

    monkeypatch.setattr(model2vec.distill, "distill", distill_while_another_finishes)
    assert embed_static.build_static("all-MiniLM-L6-v2", "0.1.0", tmp_path) == folder
    assert (folder / "model.safetensors").read_text() == "theirs"
    assert not list(tmp_path.glob("*.tmp*"))


def test_static_vectors_are_unit_float32_and_a_function_of_the_text_only(built) -> None:
    _, folder = built
    enc = embed_static.StaticEncoder(folder)
    vecs = enc(TEXTS)
    assert vecs.shape == (len(TEXTS), embed.DIM) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    alone = np.concatenate([enc([t]) for t in TEXTS])
    assert np.array_equal(alone, vecs)  # no batch effects
    assert np.array_equal(enc(TEXTS[::-1])[::-1], vecs)  # nor order effects
    again = embed_static.StaticEncoder(folder)(TEXTS)  # a fresh load: the same vectors
    assert np.array_equal(again, vecs)
    # it embeds meaning, not noise: the two lager/ale questions are closer than ale vs cider
    sims = vecs @ vecs.T
    assert sims[1, 2] > 0.0 and len({round(float(s), 6) for s in sims[0, 1:]}) == len(TEXTS) - 1


def test_the_token_limit_cuts_long_texts(built) -> None:
    _, folder = built
    cut = embed_static.StaticEncoder(folder, max_tokens=32)
    head = " ".join(["the stout was dark and roasty"] * 10)  # ~60 tokens
    a, b = head + " and then hops hops hops", head + " but the lager was crisp and pale"
    va, vb = cut([a, b])
    assert np.array_equal(va, vb)  # the endings lie past 32 tokens
    fa, fb = embed_static.StaticEncoder(folder)([a, b])
    assert float(fa @ fb) < 0.9999


def test_the_route_is_chosen_by_the_size_threshold() -> None:
    p = EmbedParams(static_above_posts=1000)
    assert for_size(p, 1000).route == "torch"  # at the threshold: still the precise route
    assert for_size(p, 1001).route == "static"
    assert for_size(p, 1001).model_copy(update={"route": "torch"}) == p  # nothing else moves
    assert for_size(EmbedParams(static_above_posts=None), 10**9).route == "torch"
    assert for_size(EmbedParams(route="onnx-int8"), 10).route == "onnx-int8"
    # the default keeps the demo and every shared real dump (< 100k posts) on torch
    assert for_size(EmbedParams(), 100_000).route == "torch"
    assert vector_key(EmbedParams(route="static")) == f"0.1.0+{embed_static.RECIPE}"
    assert len({vector_key(EmbedParams(route=r)) for r in ("torch", "onnx-int8", "static")}) == 3
    with pytest.raises(ValueError):
        EmbedParams(static_above_posts=-1)


def test_the_stage_takes_the_static_route_above_the_threshold(built, tmp_path, monkeypatch):
    from analysis.stages import embed as stage

    root, _ = built
    monkeypatch.chdir(tmp_path)
    posts = pl.DataFrame({"post_id": [f"p{i}" for i in range(len(TEXTS))], "text": TEXTS})
    posts = posts.with_columns(created_at=pl.datetime(2024, 1, 1, time_zone="UTC"))
    (tmp_path / "data" / "interim").mkdir(parents=True)
    posts.write_parquet(tmp_path / "data" / "interim" / "posts.parquet")
    params = {
        "embed": {
            "static_above_posts": len(TEXTS) - 1,
            "model_cache_dir": str(root),
            "cache_dir": str(tmp_path / "cache"),
            "device": "cpu",
        }
    }
    assert stage.run(params, argparse.Namespace()) == 0
    out = read_table(tmp_path / "data" / "processed" / "embeddings")
    got = np.vstack(out.sort("post_id")["embedding"].to_list())
    want = embed_static.StaticEncoder(root / f"all-MiniLM-L6-v2@0.1.0+{embed_static.RECIPE}")(
        posts.sort("post_id")["text"].to_list()
    )
    assert np.allclose(got, want, atol=1e-7)
    # the vectors went to the static route's own cache folder, not MiniLM's
    folders = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert folders == [f"all-MiniLM-L6-v2@0.1.0+{embed_static.RECIPE}"]


def test_the_stage_encoder_resolves_the_static_route(built) -> None:
    root, _ = built
    spec = ModelEncoder.of(EmbedParams(route="static", model_cache_dir=str(root)))
    assert isinstance(embed_models.resolve_encoder(spec), embed_static.StaticEncoder)
    assert spec(TEXTS[:2]).shape == (2, embed.DIM)
