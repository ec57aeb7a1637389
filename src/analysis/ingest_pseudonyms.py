"""Stage ``ingest``, step 5: keyed pseudonyms for one dump's kept tables and its rejects.

Every raw id (posts, parents, roots, reacted posts; authors, addressees, actors, accounts,
reactions) becomes an HMAC pseudonym of the run's key and the dump's namespace
(``privacy.pseudonym``); the non-participant placeholder stays as it is. Reject reasons are
scrubbed and lose every raw id they quote, and their record keys are pseudonymised too: raw
ids never leave ingest. Called by ``analysis.ingest_dump.one_source``.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from analysis import privacy, schema
from analysis.sources.base import SourceTables

#: The skeleton's post pseudonyms, held as the numbers their hex digits spell
#: (``privacy.as_numbers``) from :func:`pseudonymise` until the texts are attached: 8 bytes a
#: value where the text is 21 plus a 16-byte view (at 10M posts, three columns: ~0.2 GiB
#: against ~1.1 GiB through the checks, the sort and the texts' sink), in the same order.
POST_NUMBERS: dict[str, pl.DataType] = {
    "post_id": pl.UInt64(),
    "parent_post_id": pl.UInt64(),
    "root_post_id": pl.UInt64(),
}


#: The skeleton's account pseudonyms (author and addressee), held as numbers the same way
#: (at 10M posts ~0.5 GiB less from the pseudonyms to the texts' sink: 8 bytes a value where
#: the text took 18 and a 16-byte view); the non-participant placeholder, which is no digest,
#: as :data:`NONPARTICIPANT_NUMBER`.
ACCOUNT_NUMBERS: dict[str, pl.DataType] = {
    "account_id": pl.UInt64(),
    "reply_to_account_id": pl.UInt64(),
}
#: Every skeleton column held as numbers until the texts are attached.
NUMBERS: dict[str, pl.DataType] = {**POST_NUMBERS, **ACCOUNT_NUMBERS}
#: ``schema.NONPARTICIPANT_ID`` among :data:`ACCOUNT_NUMBERS`. An account whose pseudonym
#: spells it (one chance in 2**64 an account) is refused (:func:`pseudonymise`), not merged.
NONPARTICIPANT_NUMBER = 0


def ids_as_text(posts: pl.DataFrame) -> pl.DataFrame:
    """``posts`` with the :data:`NUMBERS` columns it holds as numbers put back into the
    pseudonyms' text (``privacy.POST_PREFIX`` or ``ACCOUNT_PREFIX`` + 16 hex digits;
    :data:`NONPARTICIPANT_NUMBER` as ``schema.NONPARTICIPANT_ID``)."""
    held = lambda c: c in posts.columns and posts.schema[c] == pl.UInt64  # noqa: E731
    return posts.with_columns(
        *(privacy.numbers_as_text(posts[c], privacy.POST_PREFIX) for c in POST_NUMBERS if held(c)),
        *(account_ids_as_text(posts[c]) for c in ACCOUNT_NUMBERS if held(c)),
    )


def account_ids_as_text(numbers: pl.Series) -> pl.Series:
    """Account pseudonyms held as numbers (:data:`ACCOUNT_NUMBERS`) as their text, the
    placeholder's number as ``schema.NONPARTICIPANT_ID``."""
    text = privacy.numbers_as_text(numbers, privacy.ACCOUNT_PREFIX)
    placeholder = numbers == NONPARTICIPANT_NUMBER
    if not placeholder.any():
        return text
    return pl.select(
        pl.when(placeholder).then(pl.lit(schema.NONPARTICIPANT_ID)).otherwise(text).alias(text.name)
    ).to_series()


def pseudonymise(
    posts: pl.DataFrame, reactions: pl.DataFrame, accounts: pl.DataFrame, key: bytes, ns: str
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Posts, reactions and accounts of dump ``ns`` with every raw id replaced by its pseudonym.

    One HMAC per distinct raw id of each kind: of the accounts' ids (authors, addressees,
    actors and accounts share one table), and of each slice of a column of post ids.
    References to ``schema.NONPARTICIPANT_ID`` stay the placeholder (in the posts, as
    :data:`NONPARTICIPANT_NUMBER` until the texts are attached).

    The posts' own post ids, parents, roots, authors and addressees come out as numbers
    (:data:`NUMBERS`), put into text with the texts (``ingest_texts.assemble``,
    :func:`ids_as_text`).

    ``posts`` is taken, not copied: its id columns are replaced in the frame itself, each raw
    column let go as its pseudonyms are in (where the caller holds no other frame sharing
    it), and the frame returned is ``posts``. Built beside a copy of the frame, every raw id
    column stood until the last pseudonym was made (at 10M posts ~1.5 GiB of 21-byte
    pseudonyms beside the raw ids: the streaming ingest's peak, session 58).
    """
    # The accounts' table is seeded with the accounts' ids (each distinct: the duplicates
    # were rejected by the checks; a join of a reference would add rows otherwise, which
    # raises), every reference to an account is looked up by a hash join, and a referenced id
    # not among them (the placeholder) is digested once on the way. Post ids are digested
    # where they stand, a slice at a time: a table of every post id would be as long as the
    # posts, and its joins (a reference to a post repeats less than one to its author: at
    # 10M posts 7M parents, 5M distinct) held ~1 GiB over the pseudonyms they gave.
    acct_map = privacy.digest_table(accounts["account_id"], key, ns, "account", None)
    to_post = lambda df, cols: df.with_columns(  # noqa: E731
        privacy.pseudonymise_series(df[c], key, ns, "post", privacy.POST_PREFIX) for c in cols
    )
    # texts are scrubbed later, batch by batch where streaming (analysis.ingest_texts)
    to_placeholder = posts["reply_to_account_id"] == schema.NONPARTICIPANT_ID
    # distinct (``plan`` validates them distinct again): one HMAC each, no join; the posts'
    # pseudonyms as numbers until the texts are attached (POST_NUMBERS)
    _put(posts, privacy.digest_column(posts["post_id"], key, ns, "post", None))
    for c in ("parent_post_id", "root_post_id"):
        _put(posts, privacy.pseudonymise_series(posts[c], key, ns, "post", None))
    # the accounts' pseudonyms as numbers too (ACCOUNT_NUMBERS), the placeholder's its own
    for c in ("account_id", "reply_to_account_id"):
        values, acct_map = privacy.pseudonymise_lookup(posts[c], acct_map, key, ns, "account", None)
        _put(posts, values)
    _put(
        posts,
        posts.select(
            pl.when(to_placeholder)
            .then(pl.lit(NONPARTICIPANT_NUMBER, dtype=pl.UInt64))
            .otherwise(pl.col("reply_to_account_id"))
            .alias("reply_to_account_id")
        ).to_series(),
    )
    del to_placeholder
    reactions = reactions.with_columns(
        privacy.pseudonymise_expr("reaction_id", key, ns, "reaction", privacy.REACTION_PREFIX),
        (pl.col("actor_account_id") == schema.NONPARTICIPANT_ID).alias("_placeholder"),
    )
    reactions = to_post(reactions, ("post_id",))
    actors, acct_map = privacy.pseudonymise_lookup(
        reactions["actor_account_id"], acct_map, key, ns, "account", None
    )
    reactions = reactions.with_columns(
        pl.when("_placeholder")
        .then(pl.lit(schema.NONPARTICIPANT_ID))
        .otherwise(privacy.numbers_as_text(actors, privacy.ACCOUNT_PREFIX))
        .alias("actor_account_id")
    ).drop("_placeholder")
    own, acct_map = privacy.pseudonymise_lookup(
        accounts["account_id"], acct_map, key, ns, "account", None
    )
    accounts = accounts.with_columns(privacy.numbers_as_text(own, privacy.ACCOUNT_PREFIX))
    spelt = acct_map.filter(
        (pl.col("pseudonym") == NONPARTICIPANT_NUMBER) & (pl.col("raw") != schema.NONPARTICIPANT_ID)
    )
    if spelt.height:  # one chance in 2**64 an account: refused, never merged into the placeholder
        raise RuntimeError(
            f"{ns}: an account's pseudonym spells the non-participant placeholder's number; "
            "ingest it under another key"
        )
    return posts, reactions, accounts


def _put(df: pl.DataFrame, values: pl.Series) -> None:
    """``values`` in place of ``df``'s column of the same name, in the frame itself: the column
    it replaces is let go here where no other frame shares it (``DataFrame.with_columns`` gives
    a new frame and leaves the caller's, the raw column with it, standing)."""
    df.replace_column(df.get_column_index(values.name), values)


def safe_rejects(
    rejects: Sequence[pl.DataFrame],
    raw: SourceTables,
    key: bytes,
    ns: str,
    names: privacy.NameRedactor | None,
) -> pl.DataFrame:
    """One dump's rejects as written: reasons scrubbed, raw ids in them and record keys hidden.

    ``raw`` is the dump whose post and account ids a reason may quote.
    """
    rej = pl.concat([schema.conform(r, "rejects") for r in rejects])
    # Adapters name the offending record in their reasons ("vote on post 123 ..."): raw ids
    # never leave ingest, so every raw post or account id in a reason becomes "<id>".
    # Then every reason is scrubbed and truncated (privacy.safe_reason): a reason that echoes a
    # value (an e-mail in a Reputation attribute) must not carry it into rejects.parquet or the
    # git-tracked ingest.json. Done per distinct reason: there are few.
    unique = rej["reason"].unique().drop_nulls().to_list()
    scrubbed = {r: privacy.safe_reason(r, names) or "" for r in unique}
    words = pl.Series(
        [w for r in scrubbed.values() for w in privacy.WORD.findall(r)], dtype=pl.String
    )
    # the raw ids among those words: the few words looked up in the ids (a hash set of the
    # words, not of a million ids)
    raw_ids = {
        v
        for ids in (raw.posts["post_id"], raw.accounts["account_id"])
        for v in ids.filter(ids.is_in(words.implode())).to_list()
    }
    safe = {
        r: privacy.WORD.sub(
            lambda m: "<id>" if m.group(0) in raw_ids and len(m.group(0)) >= 3 else m.group(0), s
        )
        for r, s in scrubbed.items()
    }
    rej = rej.with_columns(
        pl.col("reason").replace_strict(safe, default=pl.col("reason"), return_dtype=pl.String)
    )
    kinds = {
        "accounts": ("account", privacy.ACCOUNT_PREFIX),
        "posts": ("post", privacy.POST_PREFIX),
        "reactions": ("reaction", privacy.REACTION_PREFIX),
    }
    parts = []
    for tbl, (kind, prefix) in kinds.items():
        part = rej.filter(pl.col("table") == tbl)
        parts.append(
            part.with_columns(
                privacy.pseudonymise_expr("record_key", key, ns, kind, prefix).alias("record_key")
            )
        )
    rej = pl.concat(parts)
    return rej
