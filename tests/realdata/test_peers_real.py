"""The cascade peer against the ``birdspotter`` package on the shared PHEME threads.

Rizoiu et al.'s estimator is implemented in ``analysis.models.peers``; here the package's own
code computes every user's influence over the same cascades (PHEME's retweets before T, T the
70 % quantile of post times, as in the ranking check of the validate stage) and the two agree.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from analysis.config import IngestParams, PrivacyParams
from analysis.ingest import Source, ingest
from analysis.models import peers
from analysis.models.base import Tables
from analysis.sources import read_source
from tests.unit.test_peers import birdspotter_influence, user_influence_by_birdspotter

pytestmark = pytest.mark.realdata

KEY = b"realdata-test-key-0123456789abcdef"


def test_cascade_influence_equals_birdspotter_on_pheme(real_data) -> None:
    bs = birdspotter_influence()
    path = real_data / "pheme-rumour-scheme"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    res = ingest(
        [Source("pheme", read_source("twitter", path))],
        KEY,
        set(),
        IngestParams(max_reject_share=0.5),
        PrivacyParams(),
        datetime.now(UTC),
    )
    tables = Tables(res.accounts, res.posts, res.reactions)
    as_of = res.posts["created_at"].sort().quantile(0.7, "nearest")
    ours = dict(peers.cascade_influence(tables, as_of).iter_rows())
    theirs = user_influence_by_birdspotter(bs, tables, as_of)
    assert len(ours) > 100  # hundreds of retweeters and authors before T
    assert ours.keys() == theirs.keys()
    worst = max(abs(ours[a] - theirs[a]) / max(1.0, abs(theirs[a])) for a in ours)
    assert worst < 1e-9, worst
