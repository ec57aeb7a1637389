"""Topics: determinism, outlier reassignment, c-TF-IDF keywords, soft membership, attribution."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest

from analysis.attribution import attribute, evaluate_tags
from analysis.schema import NONPARTICIPANT_ID
from analysis.topics import TopicsParams
from analysis.topics_clustering import (
    OUTLIER,
    Assigner,
    choose_k,
    cluster_posts,
    normalise,
    one_se_k,
    silhouette_curve,
    soft_membership,
)
from analysis.topics_keywords import ctfidf_keywords, diversity, topic_table


def _blobs(
    n_per: int = 40, k: int = 3, noise: int = 0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.eye(16)[:k] * 5
    x = np.concatenate([c + rng.normal(0, 0.3, (n_per, 16)) for c in centres])
    y = np.repeat(np.arange(k), n_per)
    if noise:
        x = np.concatenate([x, rng.normal(0, 1, (noise, 16))])
        y = np.concatenate([y, np.full(noise, -1)])
    return x.astype(np.float32), y


@pytest.mark.parametrize("method", ["kmeans", "agglomerative", "hdbscan"])
def test_clustering_is_deterministic_and_recovers_blobs(method):
    x, y = _blobs()
    p = TopicsParams(method=method, n_topics=3, seed=3, hdbscan_min_cluster_size=10)
    a, b = cluster_posts(x, p), cluster_posts(x, p)
    assert np.array_equal(a.labels, b.labels)
    assert len(a.topic_ids) == 3
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(y, a.labels) > 0.95


def test_choose_k_finds_the_blobs():
    x, _ = _blobs(k=4)
    res = cluster_posts(x, TopicsParams(method="kmeans", n_topics=0, k_grid=(2, 3, 4, 6, 8)))
    assert len(res.topic_ids) == 4


@pytest.mark.parametrize("rule", ["one_se", "mean_silhouette"])
def test_replicated_rules_find_the_blobs_and_are_deterministic(rule):
    x, _ = _blobs(k=4)
    p = TopicsParams(n_topics=0, k_grid=(2, 3, 4, 6, 8), k_rule=rule, k_replicates=3)
    assert len(cluster_posts(x, p).topic_ids) == 4
    a = silhouette_curve(x, p.k_grid, 7, 100, 3)
    b = silhouette_curve(x, p.k_grid, 7, 100, 3)
    assert a[0] == b[0] == (2, 3, 4, 6, 8)
    np.testing.assert_array_equal(a[1], b[1])
    assert a[1].shape == (3, 5)


def test_one_se_rule_holds_k_where_the_argmax_moves():
    # A flat silhouette curve (real dumps: every k within ~0.003, SE ~0.002) measured on 5
    # replicates, then the same curve after a perturbation of the size of the int8 vectors'
    # effect (a shift of ~1 SE at every k). The argmax of the mean moves from 25 to 10; the
    # one-SE rule keeps the smallest k, since no k beats it by more than the noise.
    grid = (6, 8, 10, 12, 15, 20, 25)
    rng = np.random.default_rng(0)
    curve = np.array([0.0505, 0.0495, 0.0505, 0.0490, 0.0500, 0.0503, 0.0510])
    noise = rng.normal(0, 1, (5, len(grid)))
    noise = (noise - noise.mean(axis=0)) / noise.std(axis=0, ddof=1)
    scores = curve + 0.002 * noise  # means exactly ``curve``, SE 0.002 / sqrt(5) = 0.0009
    shifted = scores + np.array([0, 0, 0.0008, 0, 0, 0, -0.0008])
    assert grid[int(np.argmax(scores.mean(axis=0)))] == 25
    assert grid[int(np.argmax(shifted.mean(axis=0)))] == 10
    assert one_se_k(grid, scores) == one_se_k(grid, shifted) == 6
    # ... but a k that beats the smallest by clearly more than one SE is taken
    clear = scores + np.array([0, 0, 0.02, 0, 0, 0, 0])
    assert one_se_k(grid, clear) == 10


def test_unknown_k_rule_is_refused():
    x, _ = _blobs(k=2)
    with pytest.raises(ValueError, match="k_rule"):
        choose_k(x, (2, 3), 0, rule="median")


def test_outliers_are_the_posts_far_from_every_topic_by_one_rule():
    x, _ = _blobs(n_per=30, noise=0)
    # three points a threshold of -0.05 lets in, three with negative cosine to every blob
    near = np.eye(16)[10:13] * 5  # orthogonal to every blob: cosine ~0
    far = -np.eye(16)[[0, 1, 2]] * 5 - 1  # negative cosine to every blob
    x = np.concatenate([x, near, far]).astype(np.float32)
    p = TopicsParams(method="hdbscan", hdbscan_min_cluster_size=10, outlier_min_cosine=-0.05)
    keep = cluster_posts(x, p)
    # the contract: a post belongs to no topic iff its best cosine to the fit's centroids is
    # below the threshold, whatever HDBSCAN made of it
    best = (normalise(x) @ keep.assigner.centroids.T).max(axis=1)
    assert np.array_equal(keep.labels == OUTLIER, best < -0.05)
    assert (keep.labels[-6:-3] != OUTLIER).all()
    assert (keep.labels[-3:] == OUTLIER).all()  # kept as outliers, and counted
    assert keep.n_fit_outliers >= 6  # HDBSCAN left the six out of its clusters
    assert keep.n_reassigned == keep.n_fit_outliers - 3
    assert np.array_equal(keep.assigner.labels(normalise(x)), keep.labels)
    # k-means leaves no outliers: the threshold is HDBSCAN's
    km = cluster_posts(x, p.model_copy(update={"method": "kmeans", "n_topics": 3}))
    assert km.assigner.min_cosine is None and (km.labels != OUTLIER).all()


def test_a_centroid_no_post_joined_is_kept_in_the_product_and_never_chosen():
    """The fit keeps every centroid of its pass, in its order (the same matrix product, so the
    same nearest to the last bit); one no post joined is marked OUTLIER and never chosen."""
    cents = normalise(np.eye(4, 16, dtype=np.float32) + 0.01)
    x = normalise(np.eye(4, 16, dtype=np.float32)[[0, 1, 1, 2, 3]])
    full = Assigner(cents, np.array([0, 1, 2, 3]))
    marked = Assigner(cents, np.array([0, OUTLIER, 2, 3]))
    got = marked.labels(x)
    assert full.labels(x).tolist() == [0, 1, 1, 2, 3]
    assert OUTLIER not in got and got[[0, 3, 4]].tolist() == [0, 2, 3]
    assert Assigner(cents, np.full(4, OUTLIER)).labels(x).tolist() == [OUTLIER] * 5
    # with HDBSCAN's threshold the best remaining cosine decides
    far = Assigner(cents, np.array([0, OUTLIER, 2, 3]), min_cosine=0.5)
    assert (far.labels(x)[[1, 2]] == OUTLIER).all()


@pytest.mark.parametrize("method", ["kmeans", "agglomerative", "hdbscan"])
def test_posts_in_and_out_of_the_fitting_sample_take_their_topic_by_the_same_rule(method):
    """A post's topic is a function of its vector and the fit: the copy of a sampled post
    outside the sample gets the sampled one's topic (k-means' own labels, by Euclidean
    distance to unnormalised centres, would give a few of them another)."""
    x, _ = _blobs(n_per=60, noise=30, seed=3)
    p = TopicsParams(
        method=method, n_topics=3, fit_max_posts=100, hdbscan_min_cluster_size=8, seed=1
    )
    x2 = np.concatenate([x, x])  # every vector twice: one copy may be sampled, the other not
    res = cluster_posts(x2, p)
    assert np.array_equal(res.labels[: len(x)], res.labels[len(x) :])
    assert np.array_equal(res.assigner.labels(normalise(x2)), res.labels)


def test_ctfidf_keywords_on_tiny_texts():
    texts = [
        "espresso grinder espresso [handle]",
        "espresso beans roast",
        "burr grinder espresso",
        "derailleur chain bike [url]",
        "bike saddle derailleur",
        "gravel bike tyre",
    ]
    labels = np.array([0, 0, 0, 1, 1, -1])
    authors = [f"acct_{i}" for i in range(len(texts))]
    kw = ctfidf_keywords(texts, labels, authors, n_keywords=3, min_authors=1)
    assert kw[0][0] == "espresso" and kw[1][0] in {"derailleur", "bike"}
    assert set(kw) == {0, 1}  # outliers get no keywords
    flat = {w for ws in kw.values() for w in ws}
    assert not flat & {"handle", "url", "the"}
    table = topic_table(labels, kw)
    assert table.filter(pl.col("topic_id") == OUTLIER)["label"].item() == "outliers"
    assert table.filter(pl.col("topic_id") == 0)["n_posts"].item() == 3
    assert diversity({0: ["a", "b"], 1: ["a", "c"]}) == 0.75
    # the smallest k publication allows: the words of one author ("roast", "chain") drop out
    two = ctfidf_keywords(texts, labels, authors, n_keywords=3, min_authors=2)
    assert two == {0: ["espresso", "grinder"], 1: ["bike", "derailleur"]}


def _farm_world(n_farm_posts: int = 40) -> tuple[list[str], list[str], np.ndarray]:
    """The reviewer's case: topic 0 of 30 authors writing generic words, one more author
    signing ``n_farm_posts`` posts with the farm's name; topic 1 of 30 other authors."""
    texts, authors, labels = [], [], []
    for a in range(30):
        for _ in range(3):
            texts.append("hoppy pale ale tastes bitter and fresh")
            authors.append(f"acct_{a:016x}")
            labels.append(0)
    for _ in range(n_farm_posts):
        texts.append("Brewed at Zyxwick Farm, Zyxwick Farm ales, Zyxwick forever")
        authors.append("acct_" + "f" * 16)
        labels.append(0)
    for a in range(30):
        for _ in range(3):
            texts.append("red wine grapes vineyard")
            authors.append(f"acct_{100 + a:016x}")
            labels.append(1)
    return texts, authors, np.array(labels)


FARM_WORDS = {"zyxwick", "farm", "brewed", "ales", "forever"}


def test_a_word_one_author_repeats_is_no_keyword_nor_in_the_published_label():
    """A keyword only one person writes (a nickname, signature, farm, employer) identifies
    them, however many authors the topic has: a topic's keyword needs ``min_authors``
    (privacy.min_cell_k) distinct authors in it. Before: ``0_zyxwick_ale_bitter``."""
    from analysis.report.frames import topic_table as report_topic_table
    from analysis.report.public import public_tables

    texts, authors, labels = _farm_world()
    kw = ctfidf_keywords(texts, labels, authors, 10, min_authors=10)
    assert not FARM_WORDS & set(kw[0])
    assert kw[0][:3] == ["ale", "bitter", "fresh"]  # the 30 authors' words
    assert kw[1][:3] == ["grapes", "red", "vineyard"]
    # through the report's public table, as published (topic 0 has 31 authors: not suppressed)
    topics = topic_table(labels, kw)
    posts = pl.DataFrame({"post_id": [f"p{i}" for i in range(len(texts))], "account_id": authors})
    pt = pl.DataFrame({"post_id": posts["post_id"], "topic_id": labels, "is_primary": True})
    pub = public_tables({"topics": report_topic_table(topics, pt, posts)}, k=10)["topics"]
    row = pub.filter(pl.col("label").str.starts_with("0_"))
    assert row["label"].to_list() == ["0_ale_bitter_fresh"]
    published = " ".join(pub["label"].to_list() + pub["keywords"].to_list())
    assert not any(w in published for w in FARM_WORDS)
    # however often they write it, and whatever the batches
    texts, authors, labels = _farm_world(400)
    for rows in (None, 1, 37):
        kw = ctfidf_keywords(texts, labels, authors, 10, min_authors=10, batch_rows=rows)
        assert not FARM_WORDS & {w for ws in kw.values() for w in ws}, rows


@pytest.mark.parametrize("k", [2, 10])
def test_a_word_k_authors_use_in_the_topic_can_be_a_keyword(k: int, monkeypatch):
    """``k`` distinct authors of a word in its topic make it a keyword (and the label's first
    word here); ``k - 1`` do not, however often they write it; authors of the word in another
    topic do not count; counted across batches, whatever their cut."""
    from analysis import topics_keywords

    texts, authors, labels = _farm_world()
    for i in range(k):  # k of topic 0's authors mention the farm once each
        texts[3 * i] += " zyxwick"
    kw = ctfidf_keywords(texts, labels, authors, 10, min_authors=k)
    assert kw[0][0] == "zyxwick"
    assert topic_table(labels, kw)["label"][0] == "0_zyxwick_ale_bitter"
    # k - 1 authors of the topic, and one more in topic 1: never a keyword of either
    texts, authors, labels = _farm_world(0)
    for i in range(k - 1):
        texts[3 * i] = " ".join(["zyxwick"] * 50)
    texts[-1] += " zyxwick"
    for rows in (None, 1, 7):
        kw = ctfidf_keywords(texts, labels, authors, 10, min_authors=k, batch_rows=rows)
        assert "zyxwick" not in {w for ws in kw.values() for w in ws}, rows
    # the authors counted over batches of one text each, recounted after every batch
    monkeypatch.setattr(topics_keywords, "REDUCE_ROWS", 1)
    texts, authors, labels = _farm_world()
    for i in range(k):
        texts[3 * i] += " zyxwick"
    assert ctfidf_keywords(texts, labels, authors, 10, min_authors=k, batch_rows=1)[0][0] == (
        "zyxwick"
    )


def test_soft_membership():
    x, _ = _blobs(n_per=20)
    p = TopicsParams(
        method="kmeans",
        n_topics=3,
        max_topics_per_post=2,
        softmax_temperature=1.0,
        min_probability=0.0,
    )
    res = cluster_posts(x, p)
    labels = res.labels.copy()
    labels[0] = OUTLIER
    soft = soft_membership(x, labels, res.centroids, p)
    per = soft.group_by("row").agg(
        pl.len(), pl.col("is_primary").sum(), pl.col("probability").sum()
    )
    assert per["len"].max() <= 2 and (per["is_primary"] == 1).all()
    assert (per.filter(pl.col("row") > 0)["probability"] <= 1 + 1e-9).all()
    prim = soft.filter("is_primary").sort("row")
    assert prim["topic_id"].to_list() == labels.tolist()
    assert soft.filter(pl.col("row") == 0)["probability"].null_count() == 1
    # a hard temperature and threshold leaves one topic per post
    hard = soft_membership(
        x,
        res.labels,
        res.centroids,
        p.model_copy(update={"softmax_temperature": 0.01, "min_probability": 0.2}),
    )
    assert hard.height == len(x)


def test_soft_membership_and_assignment_do_not_depend_on_the_blas_thread_count():
    """The same vectors and centroids give the same bits on one BLAS thread as on four (a
    machine with more cores): beer's 384-dimension posts against 25 centroids moved by 2e-6
    between 2 threads and 1, and with them the published network_topic interval."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    x = normalise(rng.normal(size=(200, 384)).astype(np.float32))
    cents = normalise(rng.normal(size=(25, 384)).astype(np.float32))
    labels = np.argmax(x @ cents.T, axis=1)
    p = TopicsParams(max_topics_per_post=25, softmax_temperature=0.05, min_probability=0.0)
    near = Assigner(centroids=cents, topic_ids=np.arange(25))
    runs = []
    for threads in (1, 4):
        with threadpool_limits(limits=threads, user_api="blas"):
            runs.append((soft_membership(x, labels, cents, p), near.labels(x)))
    (soft_1, lab_1), (soft_4, lab_4) = runs
    assert soft_4.equals(soft_1)  # exact floats, not close
    assert np.array_equal(lab_4, lab_1)


def test_soft_membership_lists_the_label_first_then_the_likeliest_qualifying_topics():
    """Row by row: the label (even when another topic is likelier), then the other topics of
    the top max_topics_per_post that reach min_probability, likeliest first; outliers one row
    with no probability."""
    cents = np.eye(4, dtype=np.float32)
    # row 0: closest to topic 2, then 1, then 0; labelled 0 (kept first although less likely)
    # row 1: an outlier; row 2: all but topic 3 nearly equal, labelled 3
    x = np.array([[0.2, 0.5, 0.9, -1.0], [1, 0, 0, 0], [0.5, 0.5, 0.5, 0.1]], dtype=np.float32)
    labels = np.array([0, OUTLIER, 3])
    p = TopicsParams(max_topics_per_post=3, softmax_temperature=0.2, min_probability=0.15)
    soft = soft_membership(x, labels, cents, p)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    logits = unit @ cents.T / 0.2
    prob = np.exp(logits - logits.max(axis=1, keepdims=True))
    prob /= prob.sum(axis=1, keepdims=True)
    want_topics = {0: [0, 2, 1], 1: [OUTLIER], 2: [3, 0, 1]}
    assert prob[0, 1] >= 0.15 and prob[2, 2] >= 0.15  # ... so the cut is max_topics_per_post
    for row, topics in want_topics.items():
        got = soft.filter(pl.col("row") == row)
        assert got["topic_id"].to_list() == topics
        assert got["is_primary"].to_list() == [True] + [False] * (len(topics) - 1)
    assert soft.filter(pl.col("row") == 1)["probability"].to_list() == [None]
    np.testing.assert_allclose(
        soft.filter(pl.col("row") == 0)["probability"].to_numpy(), prob[0, [0, 2, 1]], rtol=1e-6
    )
    # a threshold above the second topic's probability leaves the label alone
    strict = soft_membership(x, labels, cents, p.model_copy(update={"min_probability": 0.99}))
    assert strict["topic_id"].to_list() == [0, OUTLIER, 3]


# ---------------------------------------------------------------------------- attribution
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _community() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Topic 0: 'expert' with 4 posts answered by 3 people; 'oneoff' with 1 post and 5 replies
    (from 5 people); 'quiet' with 4 posts, no engagement. Topic 1: 'expert' 1 post."""
    posts, topic = [], []

    def add(pid, acct, t, parent=None):
        posts.append(
            {
                "post_id": pid,
                "account_id": acct,
                "parent_post_id": parent,
                "kind": "reply" if parent else "post",
                "created_at": T0,
            }
        )
        topic.append({"post_id": pid, "topic_id": t})

    for i in range(4):
        add(f"e{i}", "expert", 0)
        add(f"e{i}r", ["r1", "r2", "r3", "r1"][i], 0, parent=f"e{i}")
        add(f"q{i}", "quiet", 0)
    add("o0", "oneoff", 0)
    for j in range(5):
        add(f"o0r{j}", f"r{j + 1}", 0, parent="o0")
    add("e9", "expert", 1)
    add("n0", NONPARTICIPANT_ID, 0)
    add("n0r", "r1", 0, parent="n0")
    add("n1r", "r2", 0, parent="n0")
    accounts = pl.DataFrame(
        {
            "account_id": [
                "expert",
                "quiet",
                "oneoff",
                "r1",
                "r2",
                "r3",
                "r4",
                "r5",
                NONPARTICIPANT_ID,
            ],
            "is_participant": [True] * 8 + [False],
        }
    )
    reactions = pl.DataFrame(
        {"post_id": ["q0", "q1"], "actor_account_id": [None, "quiet"]},
        schema={"post_id": pl.String, "actor_account_id": pl.String},
    )
    return pl.DataFrame(posts), accounts, reactions, pl.DataFrame(topic)


def test_attribution_needs_evidence():
    posts, accounts, reactions, topic = _community()
    att = attribute(posts, reactions, accounts, topic, TopicsParams(min_posts=3, min_engagers=2))
    ev = att.filter(pl.col("method") == "evidence")
    naive = att.filter(pl.col("method") == "naive")

    def get(df: pl.DataFrame, a: str, t: int) -> dict:
        return df.filter((pl.col("account_id") == a) & (pl.col("topic_id") == t)).row(0, named=True)

    assert get(ev, "expert", 0)["is_attributed"] and get(ev, "expert", 0)["n_engagers"] == 3
    assert not get(ev, "oneoff", 0)["is_attributed"]  # a single post never attributes ...
    assert get(naive, "oneoff", 0)["is_attributed"]  # ... but Klout-style counting does
    assert not get(ev, "expert", 1)["is_attributed"]
    assert not get(ev, "quiet", 0)["is_attributed"]  # 4 posts, no engagers (anonymous/self votes)
    assert get(ev, "quiet", 0)["n_engagers"] == 0
    assert NONPARTICIPANT_ID not in att["account_id"].to_list()
    assert (ev.filter(pl.col("n_posts") == 1)["is_attributed"]).sum() == 0
    assert set(att.columns) >= {
        "method",
        "account_id",
        "topic_id",
        "n_posts",
        "n_engagers",
        "estimate",
        "ci_low",
        "ci_high",
        "is_attributed",
    }
    # intervals contain their estimate
    assert ((ev["ci_low"] <= ev["estimate"]) & (ev["estimate"] <= ev["ci_high"])).all()


def test_shrinkage_pulls_single_post_toward_topic_mean():
    posts, accounts, reactions, topic = _community()
    att = attribute(posts, reactions, accounts, topic, TopicsParams())

    def row(m: str) -> dict:
        return att.filter((pl.col("method") == m) & (pl.col("account_id") == "oneoff")).row(
            0, named=True
        )

    raw, shrunk = row("naive")["estimate"], row("evidence")["estimate"]
    assert raw > 2  # 5 replies on one post, topic mean ~1
    assert 1 <= shrunk < raw  # pulled toward the topic mean (1 = baseline)
    ev = row("evidence")
    assert ev["ci_high"] - ev["ci_low"] > 0.3  # one post: a wide interval


def test_one_person_replying_again_under_a_post_is_one_replier_there() -> None:
    """The rate counts each post's distinct repliers, as the gate counts distinct engagers: a
    fan's twenty replies under the oneoff's post must not raise its estimate."""
    posts, accounts, reactions, topic = _community()
    fan = pl.DataFrame(
        {
            "post_id": [f"fan{i}" for i in range(20)],
            "account_id": ["r1"] * 20,
            "parent_post_id": ["o0"] * 20,
            "kind": ["reply"] * 20,
            "created_at": [T0] * 20,
        }
    )
    more = pl.concat([posts, fan.select(posts.columns).cast(posts.schema)])
    base = attribute(posts, reactions, accounts, topic, TopicsParams())
    # the fan's replies have no topic of their own (no pair of the fan changes the prior)
    chatty = attribute(more, reactions, accounts, topic, TopicsParams())

    def oneoff(att: pl.DataFrame) -> dict:
        return att.filter(
            (pl.col("method") == "evidence") & (pl.col("account_id") == "oneoff")
        ).row(0, named=True)

    assert oneoff(chatty)["n_replies"] == oneoff(base)["n_replies"] == 5
    assert oneoff(chatty)["estimate"] == oneoff(base)["estimate"]


def test_rank_and_min_ci_low():
    posts, accounts, reactions, topic = _community()
    att = attribute(
        posts,
        reactions,
        accounts,
        topic,
        TopicsParams(min_posts=1, min_engagers=0, min_ci_low=10.0),
    )
    assert att.filter(pl.col("method") == "evidence")["is_attributed"].sum() == 0
    naive = att.filter((pl.col("method") == "naive") & (pl.col("account_id") == "expert")).sort(
        "rank"
    )
    assert naive["topic_id"].to_list() == [0, 1]  # more posts first


def test_evaluate_tags_precision():
    posts = pl.DataFrame(
        {
            "post_id": ["q1", "a1", "q2", "a2"],
            "account_id": ["x", "u", "y", "u"],
            "kind": ["question", "answer", "question", "answer"],
            "score": [1, 5, 1, 0],
            "labels": [["beer"], ["beer"], ["wine"], ["wine"]],
        }
    )
    topic = pl.DataFrame({"post_id": ["q1", "a1", "q2", "a2"], "topic_id": [0, 0, 1, 1]})
    att = pl.DataFrame(
        {
            "method": ["naive", "naive", "evidence"],
            "account_id": ["u", "u", "u"],
            "topic_id": [1, 0, 0],
            "n_posts": [1, 1, 1],
            "is_attributed": [True] * 3,
            "rank": [1, 2, 1],
        }
    )
    ev = evaluate_tags(att, topic, posts)
    assert ev["n_answerers_with_truth"] == 1  # the 0-score wine answer is no evidence
    # P@3 over three slots, a missing one a miss: evidence's one label is not P@1
    assert ev["naive"]["precision_at_3"] == pytest.approx(1 / 3)
    assert ev["evidence"]["precision_at_3"] == pytest.approx(1 / 3)
    assert ev["naive"]["map"] == 0.5 and ev["evidence"]["map"] == 1.0
    # at evidence's own length (1): beer vs naive's first label, wine
    paired = ev["paired_at_evidence_length"]
    assert (paired["n_answerers"], paired["evidence"], paired["naive"]) == (1, 1.0, 0.0)
    assert paired["difference"] == 1.0 and paired["ci_low"] is None  # one answerer: no interval


def _answerers(evidence_hit: list[bool], naive_first_hit: list[bool], names: list[str]) -> tuple:
    """Answerers who each answered on two tags (t0 and t1 of their own); evidence credits
    each one topic (t0 when ``evidence_hit``, else t2: no answer there), naive three (t0, t1,
    t2 by rank when ``naive_first_hit``, else t2, t0, t1: the right two after a wrong one)."""
    posts, topic, att = [], [], []
    for i, who in enumerate(names):
        for j in range(3):
            tag = f"tag{i}_{j}"
            posts.append((f"q{i}_{j}", "asker", "question", 1, [tag]))
            topic.append((f"q{i}_{j}", 3 * i + j))
            if j < 2:
                posts.append((f"a{i}_{j}", who, "answer", 2, [tag]))
                topic.append((f"a{i}_{j}", 3 * i + j))
        ev_topic = 3 * i if evidence_hit[i] else 3 * i + 2
        att.append(("evidence", who, ev_topic, 1, True, 1))
        naive_order = (0, 1, 2) if naive_first_hit[i] else (2, 0, 1)
        for rank, j in enumerate(naive_order, start=1):
            att.append(("naive", who, 3 * i + j, 1, True, rank))
    posts_df = pl.DataFrame(
        posts, schema=["post_id", "account_id", "kind", "score", "labels"], orient="row"
    )
    topic_df = pl.DataFrame(topic, schema=["post_id", "topic_id"], orient="row")
    att_df = pl.DataFrame(
        att,
        schema=["method", "account_id", "topic_id", "n_posts", "is_attributed", "rank"],
        orient="row",
    )
    return att_df, topic_df, posts_df


def test_evaluate_tags_compares_the_methods_at_the_same_cut_off() -> None:
    """Evidence credits one topic, naive three: evidence was scored hits / 1 against naive's
    hits / 3 (beer: P@1 0.592 against P@3). Now P@3 counts the missing slots as misses, and
    the paired comparison cuts naive to evidence's length, with a bootstrap interval that does
    not depend on the pseudonyms."""
    rng = np.random.default_rng(3)
    ev_hit = (rng.random(40) < 0.6).tolist()
    naive_hit = (rng.random(40) < 0.5).tolist()
    names = [f"acct_{i:02d}" for i in range(40)]
    ev = evaluate_tags(*_answerers(ev_hit, naive_hit, names), seed=7)
    assert ev["evidence"]["precision_at_3"] == pytest.approx(np.mean(ev_hit) / 3)
    assert ev["naive"]["precision_at_3"] == pytest.approx(2 / 3)  # two right in three, always
    paired = ev["paired_at_evidence_length"]
    # at one slot, naive scores its first label
    assert paired["n_answerers"] == 40
    assert paired["evidence"] == pytest.approx(np.mean(ev_hit))
    assert paired["naive"] == pytest.approx(np.mean(naive_hit))
    assert paired["difference"] == pytest.approx(np.mean(ev_hit) - np.mean(naive_hit))
    assert paired["ci_low"] < paired["difference"] < paired["ci_high"]
    assert (paired["interval"], paired["n_boot"], paired["seed"]) == (0.95, 2000, 7)
    # other pseudonyms (another key: another order of the same answerers), same interval; with
    # few draws too (2,000 means of 0/1 pairs sit on a grid that hides an order's effect)
    other = [f"acct_{(7 * i + 3) % 40:02d}x" for i in range(40)]
    for n_boot in (2000, 37):
        once = evaluate_tags(*_answerers(ev_hit, naive_hit, names), seed=7, n_boot=n_boot)
        again = evaluate_tags(*_answerers(ev_hit, naive_hit, other), seed=7, n_boot=n_boot)
        assert again["paired_at_evidence_length"] == once["paired_at_evidence_length"]


def _evaluate_tags_by_loops(att, topic, posts, k=3):
    """The per-answerer loops ``evaluate_tags`` replaced: the reference it must equal."""
    from collections import Counter

    from analysis.attribution import answer_truth

    rel: dict[str, set[str]] = {}
    for a, t in answer_truth(posts).select("account_id", "tag").iter_rows():
        rel.setdefault(a, set()).add(t)
    # a topic's tag for an answerer: the most frequent first tag of the topic's posts by others
    # (no root_post_id here: each post its own thread, so the answerer's own posts are left out)
    tagged = (
        posts.select("post_id", "account_id", label=pl.col("labels").list.first())
        .join(topic, on="post_id")
        .filter((pl.col("topic_id") != OUTLIER) & pl.col("label").is_not_null())
    )
    labels = []
    for a, t in att.filter("is_attributed").select("account_id", "topic_id").unique().iter_rows():
        c = Counter(tagged.filter((pl.col("topic_id") == t) & (pl.col("account_id") != a))["label"])
        if c:
            labels.append((a, t, min(c, key=lambda lab: (-c[lab], lab))))
    label = pl.DataFrame(
        labels,
        schema={"account_id": pl.String, "topic_id": pl.Int64, "label": pl.String},
        orient="row",
    )
    rows = (
        att.filter("is_attributed")
        .join(label, on=["account_id", "topic_id"])
        .filter(pl.col("account_id").is_in(list(rel)))
        .sort("rank", "label")
    )
    out = {}
    for method in ("naive", "evidence"):
        per: dict[str, list[str]] = {}
        for a, lab in (
            rows.filter(pl.col("method") == method).select("account_id", "label").iter_rows()
        ):
            if lab not in per.setdefault(a, []):
                per[a].append(lab)
        p_k, ap = {}, {}
        for a, ts in per.items():
            p_k[a] = sum(t in rel[a] for t in ts[:k]) / k
            hits, s = 0, 0.0
            for i, t in enumerate(ts, start=1):
                if t in rel[a]:
                    hits += 1
                    s += hits / i
            ap[a] = s / len(rel[a])
        out[method] = (p_k, ap, per)
    # the two methods at evidence's length, on the answerers evidence credits
    ev_lists, naive_lists = out["evidence"][2], out["naive"][2]
    pe, pn = [], []
    for a, ts in ev_lists.items():
        n = min(k, len(ts))
        pe.append(sum(t in rel[a] for t in ts[:n]) / n)
        pn.append(sum(t in rel[a] for t in naive_lists.get(a, [])[:n]) / n)
    paired = (float(np.mean(pe)), float(np.mean(pn))) if pe else (None, None)
    return len(rel), {m: v[:2] for m, v in out.items()}, paired


def test_evaluate_tags_equals_the_per_answerer_loops() -> None:
    """Random tagged answers and attributions (labels shared by several topics, so an answerer's
    list drops repeats; equal ranks; answerers without truth; one method absent): the same
    answerers, the same P@3 and AP per answerer and the same means as the loops."""
    rng = np.random.default_rng(11)
    tags = ["beer", "wine", "tea", "gin", "rum"]
    for trial in range(25):
        n = int(rng.integers(5, 120))
        posts = pl.DataFrame(
            {
                "post_id": [f"p{i}" for i in range(n)],
                "account_id": [f"u{int(x)}" for x in rng.integers(0, 12, n)],
                "kind": rng.choice(["question", "answer"], n).tolist(),
                "score": rng.integers(-1, 4, n).tolist(),
                "labels": [
                    rng.choice(tags, int(rng.integers(1, 3)), replace=False).tolist()
                    for _ in range(n)
                ],
            }
        )
        topic = pl.DataFrame(
            {"post_id": posts["post_id"], "topic_id": rng.integers(-1, 8, n).tolist()}
        )
        m = int(rng.integers(0, 60))
        methods = ["naive", "evidence"] if trial % 5 else ["naive"]
        att = pl.DataFrame(
            {
                "method": rng.choice(methods, m).tolist(),
                "account_id": [f"u{int(x)}" for x in rng.integers(0, 14, m)],
                "topic_id": rng.integers(0, 8, m).tolist(),
                "n_posts": rng.integers(1, 4, m).tolist(),
                "is_attributed": (rng.random(m) < 0.8).tolist(),
                "rank": rng.integers(1, 5, m).tolist(),
            },
            schema_overrides={"rank": pl.Int64, "topic_id": pl.Int64, "n_posts": pl.Int64},
        ).unique(["method", "account_id", "topic_id"], keep="first", maintain_order=True)
        ev = evaluate_tags(att, topic, posts)
        n_truth, ref, paired = _evaluate_tags_by_loops(att, topic, posts)
        assert ev["n_answerers_with_truth"] == n_truth
        got_paired = ev["paired_at_evidence_length"]
        for key, want in zip(("evidence", "naive"), paired, strict=True):
            if want is None:
                assert got_paired[key] is None, (trial, key)
            else:
                assert got_paired[key] == pytest.approx(want, rel=1e-12), (trial, key)
        common = set(ref["evidence"][0])
        for method, (p_k, ap) in ref.items():
            got = ev[method]
            assert got["n_answerers_credited"] == len(p_k)
            for key, values, who in (
                ("precision_at_3", p_k, None),
                ("map", ap, None),
                ("precision_at_3_common", p_k, common),
                ("map_common", ap, common),
            ):
                vals = [v for a, v in sorted(values.items()) if who is None or a in who]
                want = float(np.mean(vals)) if vals else None
                if want is None:
                    assert got[key] is None, (trial, method, key)
                else:
                    assert got[key] == pytest.approx(want, rel=1e-12), (trial, method, key)


def test_agreement_with_labels_as_codes_equals_scikit_learn_on_the_strings() -> None:
    """The topic-vs-label agreement compares the labels as integer codes: the same NMI and ARI,
    to the bit, as scikit-learn on the strings (nulls left out; non-ASCII labels sorted alike)."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    from analysis.topics import agreement

    rng = np.random.default_rng(4)
    tags = ["beer", "ale", "Ölbier", "zymurgy", "café", "IPA", None]
    truth = [tags[i] for i in rng.integers(0, len(tags), 500)]
    labels = rng.integers(-1, 6, 500)
    keep = [i for i, t in enumerate(truth) if t is not None]
    want_true, want_pred = [truth[i] for i in keep], labels[keep]
    for given in (truth, pl.Series(truth)):
        got = agreement(labels, given)
        assert got["n_labelled"] == len(keep)
        assert got["nmi"] == normalized_mutual_info_score(want_true, want_pred)
        assert got["ari"] == adjusted_rand_score(want_true, want_pred)
    assert agreement(labels[:3], [None, "a", None]) == {"nmi": None, "ari": None, "n_labelled": 1}


@pytest.mark.parametrize(
    "case", ["random", "one_class", "one_cluster", "same", "renamed", "many", "pairs", "half"]
)
def test_agreement_is_scikit_learns_nmi_and_ari_to_the_bit(case: str) -> None:
    """``agreement`` computes NMI and ARI itself (no scikit-learn import in stage ``topics``):
    scikit-learn's values, bit for bit, in its special cases too (one class, one cluster, the
    same partition under other names)."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    from analysis.topics import agreement

    rng = np.random.default_rng(11)
    n = 20_000 if case == "many" else 300
    labels = rng.integers(-1, 30 if case == "many" else 5, n)
    truth = {
        "random": rng.integers(0, 7, n),
        "one_class": np.zeros(n, dtype=np.int64),
        "one_cluster": rng.integers(0, 7, n),
        "same": labels + 1,
        "renamed": (labels * 7) % 11,
        "many": rng.integers(0, 2_000, n),
        "pairs": np.arange(n) // 2,
        "half": (labels >= 2).astype(np.int64),
    }[case]
    if case == "one_cluster":
        labels = np.full(n, 3)
    strings = [f"tag{t}" for t in truth]
    got = agreement(labels, strings)
    codes = pl.Series(strings).rank("dense").to_numpy()
    assert got["nmi"] == normalized_mutual_info_score(codes, labels)
    assert got["ari"] == adjusted_rand_score(codes, labels)


def test_attribution_intervals_are_scipys_gamma_quantiles_to_the_bit() -> None:
    from scipy import stats

    from analysis.attribution import _gamma_ppf

    rng = np.random.default_rng(3)
    shape = np.concatenate([rng.gamma(2.0, 3.0, 500), [1e-3, 0.5, 1.0, 250.0, 0.0, -1.0]])
    rate = np.concatenate([rng.gamma(2.0, 1.0, 500), [0.2, 1e-3, 5.0, 90.0, 1.0, 1.0]])
    # posteriors share shapes (a topic's prior plus a count), each with its own rate: the
    # quantile is computed once per shape and must come back to every row of it
    shared = rng.choice(shape[:20], 300) + rng.integers(0, 4, 300)
    shape = rng.permutation(np.concatenate([shape, shared]))
    rate = np.concatenate([rate, rng.gamma(2.0, 1.0, 300)])
    for q in (0.05, 0.5, 0.95, 0.025):
        want = stats.gamma.ppf(q, shape, scale=1 / rate)
        np.testing.assert_array_equal(_gamma_ppf(q, shape, rate), want)


def test_the_topics_stage_imports_neither_scikit_learn_nor_scipy_stats() -> None:
    """Stage ``topics`` runs on every new post: scikit-learn and scipy.stats (with pandas) cost
    ~2-3 s of its start, for nothing it needs (the fitting stage imports them)."""
    import subprocess
    import sys

    code = (
        "import sys, analysis.stages.topics; "
        "print(sorted(m for m in ('sklearn', 'scipy.stats', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_agreement_takes_labels_of_any_range_or_type_as_scikit_learn_does() -> None:
    """Topic labels are small integers and are counted as packed pairs; labels far apart (a
    range past 2^31, int64's ends) or not integers are taken by their ranks: scikit-learn's
    NMI and ARI either way, bit for bit (packed as they come, they would collide)."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    from analysis.topics import agreement

    rng = np.random.default_rng(5)
    truth = [f"t{i}" for i in rng.integers(0, 4, 200)]
    base = rng.integers(0, 3, 200)
    info = np.iinfo(np.int64)
    for labels in (
        np.where(base == 1, 2**40, base),
        np.where(base == 1, 2**32, base),
        np.choose(base, [info.min, 0, info.max]),
        base.astype(np.uint64) + 2**63,
        base * 0.5 + 0.2,
        base == 1,
    ):
        got = agreement(labels, truth)
        assert got["nmi"] == normalized_mutual_info_score(truth, labels), labels.dtype
        assert got["ari"] == adjusted_rand_score(truth, labels), labels.dtype


def test_post_numbers_are_the_pseudonyms_numbers_or_none():
    """The post pseudonyms ingest writes become privacy's numbers of them (the same order); a
    column holding anything else stays text (None), nulls kept; the embeddings' ids of posts
    held as numbers must be pseudonyms too (a clear error, not a wrong join)."""
    from analysis import privacy
    from analysis.topics import _file_post_numbers, post_numbers

    ids = [
        privacy.pseudonym(b"k" * 32, "demo", "post", str(i), privacy.POST_PREFIX) for i in range(50)
    ]
    col = pl.Series("post_id", [*ids, None])
    got = post_numbers(col)
    assert got is not None and got.dtype == pl.UInt64 and got.name == "post_id"
    digits = pl.Series("post_id", [i[len(privacy.POST_PREFIX) :] for i in ids] + [None])
    assert got.to_list() == privacy.as_numbers(digits).to_list()
    assert np.array_equal(np.argsort(got.to_numpy()[:-1]), np.argsort(np.array(ids)))
    for other in ("p1", "POST_" + ids[0][5:], ids[0].upper(), ids[0] + "0", ids[0][:-1], ""):
        assert post_numbers(pl.Series([*ids, other])) is None, other
    with pytest.raises(ValueError, match="not post pseudonyms"):
        _file_post_numbers(pl.Series(["p1"]))


def test_post_vectors_joins_the_same_rows_on_numbers_as_on_text(tmp_path):
    """topic_fit holds the post ids as numbers: the embedded posts, their order and vectors
    are those the text ids give, from a frame and from the stage's file."""
    from analysis import privacy
    from analysis.stages.embed import _write_part
    from analysis.topics import post_numbers, post_vectors

    rng = np.random.default_rng(4)
    n = 40
    ids = [
        privacy.pseudonym(b"k" * 32, "demo", "post", str(i), privacy.POST_PREFIX) for i in range(n)
    ]
    when = [datetime(2024, 1, 1 + i // 4, tzinfo=UTC) for i in range(n)]
    x = rng.standard_normal((n, 8)).astype(np.float32)
    emb = pl.DataFrame(
        {
            "post_id": ids,
            "is_empty_text": [i % 7 == 3 for i in range(n)],
            "embedding": pl.Series(x, dtype=pl.Array(pl.Float32, 8)),
        }
    ).with_columns(pl.when(~pl.col("is_empty_text")).then(pl.col("embedding")).alias("embedding"))
    (tmp_path / "emb").mkdir()
    _write_part(emb, tmp_path / "emb" / "2024-01.parquet")
    posts = pl.DataFrame(
        {"post_id": ids, "created_at": when, "text": [f"t{i}" for i in range(n)]}
    ).sample(fraction=1.0, shuffle=True, seed=1)
    numbered = posts.with_columns(post_numbers(posts["post_id"]))
    for source in (tmp_path / "emb", emb):
        text_rows, text_x = post_vectors(posts, source)
        num_rows, num_x = post_vectors(numbered, source)
        assert num_rows["post_id"].dtype == pl.UInt64
        assert num_rows["post_id"].to_list() == post_numbers(text_rows["post_id"]).to_list()
        assert num_rows["created_at"].to_list() == text_rows["created_at"].to_list()
        a = np.concatenate([b for _, b in text_x.batches()])
        b = np.concatenate([b for _, b in num_x.batches()])
        assert np.array_equal(a, b) and len(a) == n - len(range(3, n, 7))
