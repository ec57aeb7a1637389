"""Benchmark: embedding speed against the machine's float32 peak, and ONNX Runtime as a peer.

Prints sentences/s and tokens/s of all-MiniLM-L6-v2 on short (~20 words) and long (~120 words)
posts, the numpy sgemm peak (GFLOP/s) and the fraction of it achieved (MiniLM-L6 costs about
21.5 MFLOP per token), for: the pipeline's route (``analysis.embed.encode_texts``: dedup-free,
length-sorted batches), plain ``SentenceTransformer.encode``, and, if ``onnxruntime`` and
``onnx`` are installed (benchmark-only: ``pip install onnxruntime onnx``), an ONNX export in
fp32 and dynamic int8, with the min/mean cosine to the torch vectors. Adoption rule: ONNX only
if >= 1.5x faster with cosine >= 0.99 on every text. Never gates on a wall time.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/embed.py [--threads 2] [--n-short 512] [--n-long 128]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]  # also run as a script: benchmarks/embed.py

from benchmarks.common import MFLOP_PER_TOKEN, sgemm_peak  # noqa: E402

WORDS = [
    "espresso",
    "grinder",
    "burr",
    "roast",
    "beans",
    "extraction",
    "derailleur",
    "chainring",
    "cassette",
    "saddle",
    "telescope",
    "eyepiece",
    "nebula",
    "galaxy",
    "compost",
    "seedlings",
    "mulch",
    "decorator",
    "asyncio",
    "dataframe",
    "sourdough",
    "gluten",
    "crumb",
    "shutter",
    "aperture",
    "tripod",
    "inverter",
    "battery",
    "insulation",
    "the",
    "a",
    "of",
    "to",
    "and",
    "is",
    "was",
    "with",
    "my",
    "for",
    "on",
    "it",
    "that",
    "this",
    "I",
    "you",
    "have",
    "not",
    "but",
    "what",
    "when",
]


def texts(n: int, words: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=words)).capitalize() + "." for _ in range(n)]


def timed(fn, reps: int = 3) -> tuple[float, np.ndarray]:
    """Median seconds over ``reps`` runs and the last result."""
    secs, out = [], None
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        secs.append(time.perf_counter() - t0)
    return statistics.median(secs), out


def onnx_routes(model, tmp: Path, threads: int):
    """Export the transformer to ONNX (fp32) and quantise it (int8); return encoder functions."""
    import onnxruntime as ort
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    bert = model[0].auto_model.eval()
    tok = model.tokenizer

    class Wrap(torch.nn.Module):  # transformers 5.x: pass keywords, not positionals
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.m(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    enc = tok(["hello world"], return_tensors="pt", padding=True)
    fp32 = tmp / "model.onnx"
    axes = {0: "batch", 1: "seq"}
    torch.onnx.export(
        Wrap(bert),
        (enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]),
        str(fp32),
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["last_hidden_state"],
        opset_version=17,
        dynamo=False,
        dynamic_axes={
            "input_ids": axes,
            "attention_mask": axes,
            "token_type_ids": axes,
            "last_hidden_state": axes,
        },
    )
    int8 = tmp / "model-int8.onnx"
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads

    def make(path: Path):
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])

        def encode(batch_texts: list[str], batch_size: int = 64) -> np.ndarray:
            order = np.argsort([len(t) for t in batch_texts])[::-1]
            out = np.empty((len(batch_texts), 384), dtype=np.float32)
            for s in range(0, len(order), batch_size):
                idx = order[s : s + batch_size]
                e = tok(
                    [batch_texts[i] for i in idx],
                    return_tensors="np",
                    padding=True,
                    truncation=True,
                    max_length=model.max_seq_length,
                )
                h = sess.run(
                    None,
                    {
                        k: e[k].astype(np.int64)
                        for k in ("input_ids", "attention_mask", "token_type_ids")
                    },
                )[0]
                m = e["attention_mask"][..., None].astype(np.float32)
                v = (h * m).sum(1) / m.sum(1)
                out[idx] = v / np.linalg.norm(v, axis=1, keepdims=True)
            return out

        return encode

    return {"onnx fp32": make(fp32), "onnx int8": make(int8)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n-short", type=int, default=512)
    ap.add_argument("--n-long", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=64)
    a = ap.parse_args()

    import torch

    from analysis.embed import encode_texts
    from analysis.embed_models import load_model, model_encoder

    torch.set_num_threads(a.threads)
    peak = sgemm_peak(a.threads)
    print(
        f"numpy sgemm peak: {peak:.0f} GFLOP/s on {a.threads} threads "
        f"-> MiniLM-L6 ceiling {peak * 1e3 / MFLOP_PER_TOKEN:,.0f} tokens/s"
    )
    model = load_model("all-MiniLM-L6-v2", "cpu", threads=a.threads)
    sets = {
        "short (~20 words)": texts(a.n_short, 20, 1),
        "long (~120 words)": texts(a.n_long, 120, 2),
    }
    routes = {
        "pipeline encode_texts": lambda ts: encode_texts(
            ts, model_encoder(model, a.batch_size), a.batch_size
        ),
        "plain model.encode": lambda ts: model.encode(
            ts, batch_size=a.batch_size, normalize_embeddings=True
        ),
    }
    try:
        tmp = Path(tempfile.mkdtemp())
        routes.update({k: v for k, v in onnx_routes(model, tmp, a.threads).items()})
    except Exception as exc:  # benchmark: report and go on without ONNX
        print(f"ONNX route unavailable: {type(exc).__name__}: {exc}")
    print(
        f"{'set':<20}{'route':<24}{'sent/s':>9}{'tok/s':>9}{'%peak':>7}{'x torch':>9}{'min cos':>9}{'mean cos':>9}"
    )
    for name, ts in sets.items():
        n_tokens = sum(
            len(model.tokenizer(t, truncation=True, max_length=model.max_seq_length)["input_ids"])
            for t in ts
        )
        ref = None
        base = None
        for route, fn in routes.items():
            sec, vecs = timed(lambda fn=fn, ts=ts: np.asarray(fn(ts)))
            if ref is None:
                ref, base = vecs, sec
            cos = np.sum(ref * vecs, axis=1)
            tps = n_tokens / sec
            print(
                f"{name:<20}{route:<24}{len(ts) / sec:>9.0f}{tps:>9.0f}"
                f"{100 * tps * MFLOP_PER_TOKEN / 1e3 / peak:>6.0f}%{base / sec:>9.2f}"
                f"{cos.min():>9.4f}{cos.mean():>9.4f}",
                flush=True,
            )
        print(f"{'':<20}({n_tokens / len(ts):.0f} tokens per text)")


if __name__ == "__main__":
    main()
