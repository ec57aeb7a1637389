"""Model ``network_topic``: topic-sensitive (TwitterRank-style) PageRank; see ``network``."""

from __future__ import annotations

from analysis.models.network import score_topic as score

NAME = "network_topic"
TITLE = "Network by topic (PageRank personalised per topic, TwitterRank-style)"
UNIT = "PageRank x number of accounts (1 = average), summed over topics by prevalence"
OBS = "replies it received from others (edges into it)"
COMPONENTS: dict[str, str] = {}  # one c_topic_<id> per topic: "rank within topic <id>"

__all__ = ["COMPONENTS", "NAME", "TITLE", "UNIT", "score"]
