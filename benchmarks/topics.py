"""Benchmark: which clustering method for topics, and BERTopic's default pipeline beside it.

Prints, for the demo (``data/processed/embeddings/`` + interim posts: run the pipeline up
to ``embed`` first) and one Stack Exchange site (embedded here, through the project's embedding
cache): number of topics, NMI / ARI vs labels (planted subject / first tag), outlier share,
stability (mean pairwise ARI over 5 seeds), seconds; then BERTopic 0.17 defaults (UMAP +
HDBSCAN + c-TF-IDF) on the same embeddings. BERTopic, umap-learn and hdbscan are benchmark-only
(``pip install bertopic``); the pipeline never imports them.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/topics.py [--site french-meta] [--no-bertopic]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import polars as pl

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from analysis import attribution
from analysis.embed import EmbedParams, embed_posts
from analysis.embed_cache import EmbeddingCache
from analysis.embed_models import load_model, model_encoder
from analysis.topics import TopicsParams, agreement
from analysis.topics_clustering import cluster_posts, stability
from analysis.topics_keywords import ctfidf_keywords, diversity
from analysis.vectors import read_table

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"


def se_site(site: str) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Posts, accounts (all participants), reactions and embeddings of one SE site."""
    from analysis.sources import read_source

    t = read_source("stackexchange", REAL / f"stackexchange-{site}")
    ep = EmbedParams()
    model = load_model(ep.model, "cpu", threads=ep.threads)
    emb, st = embed_posts(
        t.posts,
        model_encoder(model, ep.batch_size),
        EmbeddingCache(ep.cache_dir, ep.model, ep.revision),
    )
    print(
        f"{site}: {st.n_posts} posts, {st.n_encoded} encoded, {st.n_cached} cached, {st.seconds:.0f} s"
    )
    accounts = t.accounts.select("account_id").with_columns(is_participant=pl.lit(True))
    return t.posts, accounts, t.reactions, emb


def compare(
    name: str,
    posts: pl.DataFrame,
    emb: pl.DataFrame,
    accounts: pl.DataFrame,
    reactions: pl.DataFrame,
    bertopic: bool,
) -> None:
    emb = emb.filter(~pl.col("is_empty_text"))
    data = emb.select("post_id").join(
        posts.select("post_id", "account_id", "text", "labels", "kind"),
        on="post_id",
        how="left",
        maintain_order="left",
    )
    x = emb["embedding"].to_numpy().astype(np.float32)
    truth = data["labels"].list.first().to_list()
    n_labels = len({t for t in truth if t is not None})
    print(f"\n== {name}: {len(x)} posts, {n_labels} distinct first labels")
    print(
        f"{'method':<16}{'k':>4}{'NMI':>7}{'ARI':>7}{'outl%':>7}{'stab':>7}{'div':>6}{'sec':>7}   P@3 naive/evidence(common)"
    )
    configs = [
        ("kmeans auto-k", TopicsParams(method="kmeans")),
        ("kmeans k=10", TopicsParams(method="kmeans", n_topics=10)),
        ("agglo k=10", TopicsParams(method="agglomerative", n_topics=10)),
        ("agglo auto-k", TopicsParams(method="agglomerative")),
        ("hdbscan", TopicsParams(method="hdbscan")),
        ("hdbscan nore", TopicsParams(method="hdbscan", outlier_min_cosine=1.0)),
    ]
    for label, p in configs:
        t0 = time.perf_counter()
        res = cluster_posts(x, p)
        sec = time.perf_counter() - t0
        k = len(res.topic_ids)
        agr = agreement(res.labels, truth)
        stab = (
            stability(x, p.model_copy(update={"n_topics": k}))
            if p.method != "hdbscan"
            else stability(x, p)
        )
        kw = ctfidf_keywords(data["text"].fill_null(""), res.labels, data["account_id"], 10)
        prim = pl.DataFrame({"post_id": data["post_id"], "topic_id": res.labels})
        extra = ""
        if (posts["kind"] == "answer").any():
            att = attribution.attribute(posts, reactions, accounts, prim, p)
            ev = attribution.evaluate_tags(att, prim, posts)
            f3 = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
            n, e = ev["naive"], ev["evidence"]
            extra = (
                f"   {f3(n['precision_at_3'])}/{f3(e['precision_at_3'])}"
                f" ({f3(n['precision_at_3_common'])}/{f3(e['precision_at_3_common'])})"
                f" credited {n['n_answerers_credited']}/{e['n_answerers_credited']}"
            )
        print(
            f"{label:<16}{k:>4}{agr['nmi']:>7.3f}{agr['ari']:>7.3f}{100 * (res.labels == -1).mean():>7.1f}"
            f"{stab:>7.3f}{diversity(kw) or 0:>6.2f}{sec:>7.1f}{extra}",
            flush=True,
        )
    if bertopic:
        from bertopic import BERTopic
        from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

        docs = data["text"].fill_null("").to_list()
        t0 = time.perf_counter()
        model = BERTopic(embedding_model=None, calculate_probabilities=False, verbose=False)
        labels, _ = model.fit_transform(docs, embeddings=x)
        sec = time.perf_counter() - t0
        labels = np.asarray(labels)
        keep = [i for i, t in enumerate(truth) if t is not None]
        kw = {t: [w for w, _ in model.get_topic(t)] for t in set(labels.tolist()) if t != -1}
        print(
            f"{'BERTopic dflt':<16}{len(kw):>4}"
            f"{normalized_mutual_info_score([truth[i] for i in keep], labels[keep]):>7.3f}"
            f"{adjusted_rand_score([truth[i] for i in keep], labels[keep]):>7.3f}"
            f"{100 * (labels == -1).mean():>7.1f}{'n/a':>7}{diversity(kw) or 0:>6.2f}{sec:>7.1f}"
            "  (UMAP not seeded by default: not deterministic)"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--site", default="french-meta")
    ap.add_argument("--no-bertopic", action="store_true")
    ap.add_argument("--skip-demo", action="store_true")
    a = ap.parse_args()
    if not a.skip_demo:
        posts = pl.read_parquet("data/interim/posts.parquet")
        compare(
            "demo",
            posts,
            read_table(Path("data/processed/embeddings")),
            pl.read_parquet("data/interim/accounts.parquet"),
            pl.read_parquet("data/interim/reactions.parquet"),
            not a.no_bertopic,
        )
    if a.site:
        posts, accounts, reactions, emb = se_site(a.site)
        compare(f"stackexchange-{a.site}", posts, emb, accounts, reactions, not a.no_bertopic)


if __name__ == "__main__":
    main()
