"""Size-sweep benchmarks of every stage, each beside its peer, measured on the same data.

Each function here runs in its own spawned process (``common.isolated``), so its peak RSS is
its own, and returns a list of :class:`common.Figure`. The data are a synthetic canonical dump
(``benchmarks.synthetic``), written to a temporary folder first.

* ingest: the canonical route of stage ``ingest`` (``sources.read_source`` + ``ingest.plan`` +
  ``ingest_texts``: validation, removals, pseudonyms, scrubbing, then the interim Parquet
  written), with each ``ingest.engine`` (memory, streaming) in its own process, beside the
  limit (polars reading the same Parquet) and the peer (pandas doing the pseudonyms and the
  scrubbing with ``privacy.scrub_text`` per text, eagerly).
* aggregates: ``analysis.aggregates.account_month_aggregates`` (one group-by on packed integer
  keys, streaming engine) vs pandas ``groupby`` on the interim posts ingest wrote. Like for like: both group by
  the month's first instant and format "YYYY-MM" once per group, and give the same table (the
  peer once ran ``strftime`` over every row, half its time, which inflated the ratio to 2.5x).
* pagerank: ``analysis.models.network.pagerank`` vs networkx (build + run), same edges.
* models: every influence model's ``score`` on ``benchmarks.models.synthetic_tables``.
* embedding: ``analysis.embed.embed_posts`` vs plain ``SentenceTransformer.encode``, and the
  static route (``embed.route: static``) on the same texts and on 100x as many.
* topics: ``analysis.topics_clustering.cluster_posts`` vs BERTopic's default pipeline (if installed).
* incremental: the embedding cache, full run vs 1 % new posts.
"""

from __future__ import annotations

import os
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import Figure, measure

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

KEY = b"benchmark-key-not-secret-0123456789"
NS = "bench"
CHUNK_ROWS = 1_000_000
#: Runs of each aggregates query (ours and the peer's alike): the best is the figure, the first
#: (cold) one is printed beside it. One run of ~1 s on a shared machine varied 2x between sweeps.
AGG_REPEAT = 3


def tmpdir(prefix: str) -> Path:
    """A temporary folder on the disk (not /dev/shm: its size would count as memory)."""
    return Path(tempfile.mkdtemp(prefix=prefix))


# --------------------------------------------------------------------------- data


def generate(n: int, folder: str, words: int = 14) -> list[Figure]:
    """Write a synthetic canonical dump of ``n`` posts (``words`` per text) to ``folder``/raw."""
    from benchmarks.synthetic import write_synthetic_dump

    fig, files = measure(
        "generate",
        "synthetic.write_synthetic_dump",
        n,
        lambda: write_synthetic_dump(Path(folder) / "raw", n, CHUNK_ROWS, words=words),
    )
    fig.extra.update(parquet_mib=sum(p.stat().st_size for p in files) / 2**20)
    return [fig]


def in_memory_mib(folder: str) -> float:
    """Size of the raw posts once loaded in memory (polars estimated_size)."""
    import polars as pl

    return pl.read_parquet(Path(folder) / "raw" / "posts.parquet").estimated_size() / 2**20


# --------------------------------------------------------------------------- ingest


def ingest_ours(n: int, folder: str, engine: str = "memory") -> list[Figure]:
    """Stage ``ingest`` on the canonical route with ``ingest.engine``: read, validate, remove,
    pseudonymise, scrub, write ``folder``/interim (what ``dvc repro`` runs, names redacted).

    ``memory`` writes ``interim`` (the aggregates benchmark reads it); ``streaming`` writes
    ``interim-streaming`` with the same content, its texts a batch at a time. ``ru_maxrss_mib``
    is the process's own peak (a fresh process per engine), beside the sampled peak RSS.
    """
    import resource
    from datetime import UTC, datetime

    from analysis import schema
    from analysis.config import IngestParams, PrivacyParams
    from analysis.ingest import Source, plan
    from analysis.ingest_texts import posts_in_memory, sink_posts
    from analysis.io import write_parquet, write_table
    from analysis.sources import read_source

    out = Path(folder) / ("interim" if engine == "memory" else f"interim-{engine}")
    out.mkdir(parents=True, exist_ok=True)
    params = IngestParams(engine=engine)  # type: ignore[arg-type]

    def run() -> int:
        tables = read_source("canonical", Path(folder) / "raw", lazy_text=engine == "streaming")
        res = plan(
            [Source(NS, tables)],
            KEY,
            set(),
            params,
            PrivacyParams(),
            now=datetime(2030, 1, 1, tzinfo=UTC),
        )
        for table in ("accounts", "reactions"):
            write_table(getattr(res, table), out / f"{table}.parquet", table, schema.INTERIM)
        write_parquet(res.rejects, out / "rejects.parquet")
        if engine == "streaming":
            sink_posts(
                res.posts,
                [tables],
                res.names,
                out / "posts.parquet",
                params.batch_rows,
                edits=res.text_edits,
            )
        else:
            posts = posts_in_memory(res.posts, [tables], res.names, res.text_edits)
            write_table(posts, out / "posts.parquet", "posts", schema.INTERIM)
        return res.posts.height

    fig, rows = measure("ingest (canonical route)", f"stage ingest, engine {engine}", n, run)
    fig.extra.update(
        rows_written=rows,
        batch_rows=params.batch_rows if engine == "streaming" else None,
        ru_maxrss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    return [fig]


def ingest_streaming(n: int, folder: str) -> list[Figure]:
    """:func:`ingest_ours` with ``ingest.engine: streaming``."""
    return ingest_ours(n, folder, "streaming")


def same_outputs(folder: str) -> bool:
    """Whether both engines wrote identical interim tables (row order included)."""
    import polars as pl

    a, b = Path(folder) / "interim", Path(folder) / "interim-streaming"
    return all(
        pl.read_parquet(a / f).equals(pl.read_parquet(b / f))
        for f in ("accounts.parquet", "posts.parquet", "reactions.parquet", "rejects.parquet")
    )


def read_polars(n: int, folder: str) -> list[Figure]:
    """The limit: polars reading the same raw posts Parquet (no work on it)."""
    import polars as pl

    fig, _ = measure(
        "ingest (canonical route)",
        "limit: polars read_parquet",
        n,
        lambda: pl.read_parquet(Path(folder) / "raw" / "posts.parquet").height,
    )
    return [fig]


def read_write_polars(n: int, folder: str) -> list[Figure]:
    """The floor of any ingest writing what stage ``ingest`` writes: polars reading the raw posts
    Parquet and writing it back as ``io.write_parquet`` does (zstd, statistics), no work between.
    An ingest cannot go faster than its read and its write on this machine."""
    import polars as pl

    out = Path(folder) / "read-write.parquet"

    def run() -> int:
        df = pl.read_parquet(Path(folder) / "raw" / "posts.parquet")
        df.write_parquet(out, compression="zstd", statistics=True)
        return df.height

    fig, _ = measure("ingest (canonical route)", "floor: polars read + write, no work", n, run)
    out.unlink(missing_ok=True)
    return [fig]


def scrubbed_texts(folder: str) -> Any:
    """The raw posts' texts of ``folder`` scrubbed as stage ``ingest`` scrubs them: the run's
    name redactor built from the dump (``ingest_names.redactor_for``), then every text through
    ``scrub.scrub_series`` (on every core): what no ingest that scrubs this way can skip."""
    import polars as pl

    from analysis import scrub
    from analysis.ingest_names import redactor_for
    from analysis.sources import read_source

    texts = pl.read_parquet(Path(folder) / "raw" / "posts.parquet", columns=["text"])["text"]
    return scrub.scrub_series(texts, redactor_for(read_source("canonical", Path(folder) / "raw")))


def scrub_alone(n: int, folder: str) -> list[Figure]:
    """The floor of the scrubbing inside stage ``ingest``: :func:`scrubbed_texts` (its read of
    the text column included: ~0.05 s at 1M posts)."""
    fig, _ = measure(
        "ingest (canonical route)",
        "floor: scrubbing alone (names built)",
        n,
        lambda: scrubbed_texts(folder).len(),
    )
    return [fig]


def ingest_pandas(n: int, folder: str) -> list[Figure]:
    """The peer: pandas doing the pseudonyms (one HMAC per distinct id) and the scrubbing
    (``privacy.scrub_text`` per text, names redacted) eagerly, then writing Parquet."""
    import pandas as pd

    from analysis import privacy
    from analysis.ingest_names import redactor_for
    from analysis.sources import read_source

    out = Path(folder) / "interim-pandas.parquet"

    def run() -> int:
        df = pd.read_parquet(Path(folder) / "raw" / "posts.parquet")
        names = redactor_for(read_source("canonical", Path(folder) / "raw"))
        for cols, kind, prefix in (
            (("post_id", "parent_post_id", "root_post_id"), "post", privacy.POST_PREFIX),
            (("account_id", "reply_to_account_id"), "account", privacy.ACCOUNT_PREFIX),
        ):
            uniq = pd.unique(pd.concat([df[c] for c in cols]).dropna())
            table = {v: privacy.pseudonym(KEY, NS, kind, v, prefix) for v in uniq}
            for c in cols:
                df[c] = df[c].map(table)
        df["text"] = df["text"].map(lambda t: privacy.scrub_text(t, names))
        df.to_parquet(out)
        return len(df)

    fig, _ = measure("ingest (canonical route)", "pandas eager", n, run)
    return [fig]


# --------------------------------------------------------------------------- aggregates


def aggregate_ours(n: int, folder: str) -> list[Figure]:
    """Per-account monthly aggregates of the interim posts: one lazy query, streaming engine."""
    import polars as pl

    from analysis.aggregates import account_month_aggregates

    src = Path(folder) / "interim" / "posts.parquet"
    fig, res = measure(
        "aggregates",
        "packed-key group_by (streaming)",
        n,
        lambda: account_month_aggregates(pl.scan_parquet(src)),
        repeat=AGG_REPEAT,
    )
    fig.extra.update(groups=res.height)
    return [fig]


def pandas_aggregates(df: Any) -> Any:
    """The peer's table: ``account_month_aggregates`` done with pandas ``groupby``.

    ``df``: a pandas frame of interim posts (platform, created_at, account_id,
    reply_to_account_id). Returns a frame with the same columns and rows as ours.
    """
    import pandas as pd

    # like ours: grouped by the month's first instant, formatted once per group at the end
    # (strftime over every row cost pandas as much as all its groupbys)
    df = df.assign(month=df["created_at"].dt.tz_convert(None).to_numpy().astype("datetime64[M]"))
    keys = ["platform", "month", "account_id"]
    authored = df.groupby(keys).size().rename("n_posts")
    rep = df[
        df.reply_to_account_id.notna()
        & (df.reply_to_account_id != df.account_id)
        & (df.reply_to_account_id != "acct_nonparticipant")
    ]
    pairs = rep.groupby(["platform", "month", "reply_to_account_id", "account_id"]).size()
    received = pairs.groupby(level=[0, 1, 2]).agg(["sum", "size"])
    received.index.names = keys
    received.columns = ["n_replies_received", "n_distinct_repliers"]
    out = pd.concat([authored, received], axis=1).fillna(0).sort_index().reset_index()
    out["month"] = out["month"].dt.strftime("%Y-%m")
    return out


def aggregate_pandas(n: int, folder: str) -> list[Figure]:
    """The peer: pandas reads the same interim posts and groups by (platform, month, account)."""
    import pandas as pd

    cols = ["platform", "created_at", "account_id", "reply_to_account_id"]

    def run() -> int:
        df = pd.read_parquet(Path(folder) / "interim" / "posts.parquet", columns=cols)
        return len(pandas_aggregates(df))

    fig, _ = measure("aggregates", "pandas groupby", n, run, repeat=AGG_REPEAT)
    return [fig]


# --------------------------------------------------------------------------- graphs and models


def _edges(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    rng = np.random.default_rng(seed)
    nodes = max(n // 10, 10)
    w = 1.0 / np.arange(1, nodes + 1) ** 0.9  # popular accounts are replied to more
    return (
        rng.integers(0, nodes, n),
        rng.choice(nodes, size=n, p=w / w.sum()),
        rng.uniform(0.05, 1.0, n),
        nodes,
    )


def pagerank_ours(n: int) -> list[Figure]:
    """``network.pagerank`` (scipy.sparse power iteration) on ``n`` weighted edges."""
    from analysis.models import network

    s, d, w, nodes = _edges(n)
    fig, _ = measure(
        "pagerank",
        "scipy.sparse",
        n,
        lambda: network.pagerank(s, d, w, nodes, tol=1e-8),
        unit="edges",
    )
    return [fig]


def pagerank_networkx(n: int) -> list[Figure]:
    """networkx PageRank on the same edges (graph build included, as a user would pay it)."""
    import networkx as nx
    import polars as pl

    from analysis.models import network

    s, d, w, nodes = _edges(n)

    def run() -> dict:
        g = nx.DiGraph()
        g.add_nodes_from(range(nodes))
        agg = pl.DataFrame({"s": s, "d": d, "w": w}).group_by("s", "d").agg(pl.col("w").sum())
        g.add_weighted_edges_from(agg.iter_rows())
        return nx.pagerank(g, alpha=0.85, weight="weight", tol=1e-8)

    fig, ref = measure("pagerank", "networkx", n, run, unit="edges")
    x, _ = network.pagerank(s, d, w, nodes, tol=1e-10)
    fig.extra["l1_vs_ours"] = float(np.abs(x - np.array([ref[i] for i in range(nodes)])).sum())
    return [fig]


def models_ours(n: int) -> list[Figure]:
    """Every influence model's ``score`` on ``n`` synthetic interim posts (no peer exists)."""
    from analysis.models import MODELS
    from analysis.models.params import ModelParams
    from benchmarks.models import START, synthetic_tables

    tables = synthetic_tables(n, max(100, min(100_000, n // 10)))
    p = ModelParams()
    as_of = START + timedelta(days=181)
    figs = []
    for name, module in MODELS.items():
        fig, _ = measure("model " + name, "score()", n, lambda m=module: m.score(tables, p, as_of))
        figs.append(fig)
    return figs


# --------------------------------------------------------------------------- embedding, topics


def _texts(n: int, seed: int = 3) -> list[str]:
    from benchmarks.synthetic import synthetic_posts

    return synthetic_posts(n, seed=seed)["text"].to_list()


def embed_both(n: int, folder: str) -> list[Figure]:
    """Pipeline ``embed_posts`` (dedup + length-sorted batches, no cache) vs plain ``encode``.

    Saves the vectors to ``folder``/emb-<n>.npy for the topics benchmark.
    """
    import polars as pl

    from analysis.embed import EmbedParams, embed_posts
    from analysis.embed_models import load_model, model_encoder, resolve_device

    ep = EmbedParams()
    device = resolve_device(ep.device)
    model = load_model(ep.model, ep.device, threads=ep.threads)
    texts = _texts(n)
    n_tokens = sum(
        len(ids)
        for ids in model.tokenizer(texts, truncation=True, max_length=model.max_seq_length)[
            "input_ids"
        ]
    )
    posts = pl.DataFrame({"post_id": [f"p{i}" for i in range(n)], "text": texts})
    model.encode(texts[:64], batch_size=ep.batch_size)  # warm-up: first call allocates
    ours, (emb, _stats) = measure(
        "embedding",
        "embed.embed_posts",
        n,
        lambda: embed_posts(
            posts,
            model_encoder(model, ep.batch_size),
            None,
            ep.batch_size,
            progress_min_texts=10**9,
        ),
        unit="posts",
        device=device,
        threads=ep.threads,
        tokens_per_post=n_tokens / n,
    )
    peer, vecs = measure(
        "embedding",
        "plain model.encode",
        n,
        lambda: model.encode(
            texts, batch_size=ep.batch_size, normalize_embeddings=True, show_progress_bar=False
        ),
        unit="posts",
        device=device,
    )
    x = emb["embedding"].to_numpy().astype(np.float32)
    ours.extra["min_cosine_vs_plain"] = float(np.sum(x * vecs, axis=1).min())
    np.save(Path(folder) / f"emb-{n}.npy", x)
    for f in (ours, peer):
        f.extra["tokens_per_s"] = n_tokens / f.seconds
    return [ours, peer]


def embed_static(n: int) -> list[Figure]:
    """Pipeline ``embed_posts`` on the static route (``embed.route: static``: model2vec distilled
    from MiniLM, built once into ``embed.model_cache_dir``), on the same texts as
    :func:`embed_both`; its own process, so the peak RSS is the route's (model included)."""
    import polars as pl

    from analysis.embed import EmbedParams, embed_posts
    from analysis.embed_models import ModelEncoder, resolve_encoder

    ep = EmbedParams(route="static")
    encoder = resolve_encoder(ModelEncoder.of(ep))  # distils on first use (~25 s), then loads
    texts = _texts(n)
    posts = pl.DataFrame({"post_id": [f"p{i}" for i in range(n)], "text": texts})
    fig, _ = measure(
        "embedding",
        "embed.embed_posts, route static",
        n,
        lambda: embed_posts(posts, encoder, None, ep.batch_size, progress_min_texts=10**9),
        unit="posts",
        device="cpu",
    )
    return [fig]


def topics_ours(n: int, folder: str) -> list[Figure]:
    """``topics_clustering.cluster_posts`` (defaults) on the embedding benchmark's vectors."""
    from analysis.topics import TopicsParams
    from analysis.topics_clustering import cluster_posts

    x = np.load(Path(folder) / f"emb-{n}.npy")
    fig, res = measure(
        "topics", "topics.cluster_posts", n, lambda: cluster_posts(x, TopicsParams()), unit="posts"
    )
    fig.extra["n_topics"] = len(res.topic_ids)
    return [fig]


def topics_bertopic(n: int, folder: str) -> list[Figure]:
    """BERTopic's default pipeline (UMAP + HDBSCAN + c-TF-IDF) on the same vectors and texts."""
    from bertopic import BERTopic

    x = np.load(Path(folder) / f"emb-{n}.npy")
    docs = _texts(n)

    def run() -> int:
        labels, _ = BERTopic(
            embedding_model=None, calculate_probabilities=False, verbose=False
        ).fit_transform(docs, embeddings=x)
        return len(set(labels) - {-1})

    fig, k = measure("topics", "BERTopic default", n, run, unit="posts")
    fig.extra["n_topics"] = k
    return [fig]


# --------------------------------------------------------------------------- incremental


def incremental_embed(n: int, folder: str) -> list[Figure]:
    """Embedding with the content cache: full run on ``n`` posts, then re-run with 1 % new posts."""
    import polars as pl

    from analysis.embed import EmbedParams, embed_posts
    from analysis.embed_cache import EmbeddingCache
    from analysis.embed_models import load_model, model_encoder

    ep = EmbedParams()
    model = load_model(ep.model, ep.device, threads=ep.threads)
    enc = model_encoder(model, ep.batch_size)
    texts = _texts(n + max(1, n // 100), seed=5)
    frame = pl.DataFrame({"post_id": [f"p{i}" for i in range(len(texts))], "text": texts})
    cache = EmbeddingCache(Path(folder) / "embcache", ep.model, ep.revision)
    model.encode(texts[:64], batch_size=ep.batch_size)
    full, (_, s1) = measure(
        "incremental embed",
        "full run (empty cache)",
        n,
        lambda: embed_posts(frame.head(n), enc, cache, ep.batch_size, 10**9),
        unit="posts",
    )
    inc, (warm, s2) = measure(
        "incremental embed",
        "re-run +1 % (cache)",
        len(texts),
        lambda: embed_posts(frame, enc, cache, ep.batch_size, 10**9),
        unit="posts",
    )
    # the incremental run must write what a cold run on the same posts writes, bit for bit
    cold, (cold_table, _) = measure(
        "incremental embed",
        "cold run +1 % (no cache)",
        len(texts),
        lambda: embed_posts(frame, enc, None, ep.batch_size, 10**9),
        unit="posts",
    )
    full.extra.update(encoded=s1.n_encoded)
    inc.extra.update(
        encoded=s2.n_encoded,
        cached=s2.n_cached,
        speedup=full.seconds / inc.seconds,
        same_as_cold=warm.equals(cold_table),
    )
    return [full, inc, cold]
