"""Models ``network`` and ``network_topic``: weighted PageRank on the reply graph.

Graph: an edge from whoever gives credit to whoever receives it, for every interaction before
``as_of`` that ``analysis.semantics`` counts as attention (a reply credits the replied-to author,
a Stack Exchange answer the answerer, a quote the quoted author; reposts are not attention),
weighted by the decay-weighted credit. Each node's out-edges are normalised by their
*undecayed* total, so the decayed share of its rank returns through the teleport vector: an
account that stopped replying long ago passes on little, and the half-life means what params
say. Every account active before ``as_of`` is a node, the non-participant placeholder included: replies to it keep their share of the flow (a reply to
someone outside the study is still attention given away), but it is never scored. Dangling
nodes (no reply given) hand their rank back through the teleport vector.

Power iteration with scipy.sparse (MEASURED.md: 1.9 s for 10 M edges):
``x = d (M^T x + leak(x) v) + (1 - d) v``, with ``M`` the decayed weights over each node's
undecayed out-weight and ``leak`` the rank a node does not pass on (all of it when dangling).
The rank is reported times the number of nodes (1 = an average node). At the fixed point it
splits into two components that add up to the score:

* ``c_replies_received``: rank flowing in along reply edges, ``d M^T x``;
* ``c_baseline``: the share everyone gets by being in the graph (teleport and dangling mass).

``network_topic`` is the TwitterRank-style variant: one PageRank per topic on the replies about
that topic (edge weight times the reply's topic probability), teleporting to accounts in
proportion to their interest in it (the share of their own posts on it); the score is the sum
weighted by each topic's share of the reply attention (edges), one
component ``c_topic_<id>`` per topic. Without ``post_topics`` it degrades to plain PageRank,
says so in the log and in ``missing_inputs``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import polars as pl

from analysis.models import graph
from analysis.models.base import Model, Tables
from analysis.models.params import ModelParams, model_params, own_params

NAME = "network"
TITLE = "Network (PageRank on who replies to whom)"
UNIT = "PageRank x number of accounts (1 = average)"
OBS = "responses it received from others (edges into it: replies, quotes; a Stack Exchange answer's credit from its asker)"
COMPONENTS = {
    "c_replies_received": "rank passed on by the people who replied to or quoted it (more if they are replied to themselves)",
    "c_baseline": "the share every account gets just by being in the graph",
}

#: Damping, tolerance and iteration cap of the power iteration.
Params = graph.PageRankParams
#: The PageRank core (importable here, where the method is described).
pagerank = graph.pagerank


def score(tables: Tables, params: ModelParams, as_of: datetime) -> pl.DataFrame:
    """Score every participant by weighted PageRank on the reply graph before ``as_of``."""
    p = model_params(params)
    return graph.plain(tables, p, own_params(p, NAME, Params), as_of, NAME)


if TYPE_CHECKING:  # a type checker verifies this module against the model protocol
    from analysis.models import network as _self

    _protocol_check: Model = _self
