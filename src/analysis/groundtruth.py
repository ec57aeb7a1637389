"""The demo's planted ground truth, with ids pseudonymised exactly as ``ingest`` does.

Evaluation stages (``topic_eval``, ``validate``, ``compare``, ``divergence``) call
:func:`load_truth`; no model ever reads it. Truth rows of accounts that ingest removed (minors,
opt-outs) are dropped here too, so no evaluation output can carry anything about them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from analysis import privacy, privacy_keys
from analysis.config import PrivacyParams, SourceParams, section


def truth_dir(params: dict[str, Any]) -> Path | None:
    """The ground-truth folder ``source.truth_path`` names; None when it names none.

    A named folder without its files is an error, not a silent skip: DVC lists it as a dep of
    every evaluation stage, so it is missing only when something went wrong.
    """
    src = section(params, "source", SourceParams)
    if src.truth_path is None:
        return None
    path = Path(src.truth_path)
    for name in ("accounts.parquet", "posts.parquet"):
        if not (path / name).exists():
            raise FileNotFoundError(
                f"{path / name} is missing (source.truth_path: {src.truth_path}); run "
                "`python -m analysis demo`, or set source.truth_path: null for a dump without "
                "ground truth"
            )
    return path


def has_truth(params: dict[str, Any]) -> bool:
    """True when params name a ground-truth folder (``source.truth_path``)."""
    return truth_dir(params) is not None


def pseudonymise_truth(
    accounts: pl.DataFrame, posts: pl.DataFrame, key: bytes, namespace: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Replace raw ids of the truth frames by the pseudonyms ingest gives them."""
    acct = privacy.pseudonymise_expr(
        "account_id", key, namespace, "account", privacy.ACCOUNT_PREFIX
    )
    post = privacy.pseudonymise_expr("post_id", key, namespace, "post", privacy.POST_PREFIX)
    return accounts.with_columns(acct), posts.with_columns(post, acct)


def load_truth(
    params: dict[str, Any], interim_accounts: pl.DataFrame | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Ground truth (accounts with ``role`` etc., posts with ``subject``) under pseudonyms.

    With ``interim_accounts`` given, accounts that are not participants of the interim tables
    (removed minors, opted-out accounts) are dropped; non-participant truth rows are kept only
    as a count-free role so that nothing about them can be reported.
    """
    src = section(params, "source", SourceParams)
    priv = section(params, "privacy", PrivacyParams)
    key = privacy_keys.resolve_key(priv, src)
    folder = truth_dir(params)
    if folder is None:
        raise ValueError("no ground truth: source.truth_path is null")
    accounts = pl.read_parquet(folder / "accounts.parquet")
    posts = pl.read_parquet(folder / "posts.parquet")
    accounts, posts = pseudonymise_truth(accounts, posts, key, src.namespace())
    if interim_accounts is not None:
        keep = interim_accounts.filter(pl.col("is_participant"))["account_id"].implode()
        accounts = accounts.filter(pl.col("account_id").is_in(keep))
        posts = posts.filter(pl.col("account_id").is_in(keep))
    return accounts, posts
