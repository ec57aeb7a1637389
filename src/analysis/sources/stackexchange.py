"""Adapter ``stackexchange``: one site of the official Stack Exchange data dump (stage ``ingest``).

Reads a dump folder holding ``Posts``, ``Users`` (both required) and optionally ``Comments``
and ``Votes``, each as ``<Name>.xml`` or ``<Name>.xml.gz``, and returns raw canonical tables
(see docs/data-format.md, section "Stack Exchange", for the field-by-field mapping).
``PostLinks``, ``Badges``, ``PostHistory`` and ``Tags`` have no canonical column and are not
read (questions carry their tags themselves; ``Tags`` only names the tag wikis, rejected).

Parsing streams each file through expat (bounded memory: rows are collected as columns and turned
into polars chunks every ``stackexchange_xml.CHUNK_ROWS`` rows) and records the line of every row,
so each reject names its file and line. The decoder is forced to UTF-8, which the dump always is: a
UTF-16 file, bytes that are not UTF-8 (a Latin-1 re-encode), a truncated file or a row that is not
well-formed stop the stage with a :class:`SourceError` naming file, line and expectation.

Decisions, with the numbers measured on the four shared sites (beer, quantumcomputing,
bicycles-meta, french-meta) behind them:

* **Deleted users.** Posts without ``OwnerUserId`` (27, 2, 41, 33 posts: 0.1 to 4.2 %) and
  comments without ``UserId`` (50, 1, 85, 36) belong to accounts deleted on the site; the dump
  keeps their former display name (``user90``, ``anon``). Deleting one's account is the
  platform's own erasure, so Resonance honours it like an opt-out: each distinct name becomes a
  pseudo-account ``deleted:<name>`` with ``has_consent = false``, and ingest removes it with
  everything it wrote (counted under ``removed_no_consent`` / ``removed_privacy``); answers and
  comments below its posts are detached and stay, addressed to the non-participant placeholder.
  Such accounts are counted as read, so the counts reconcile. A row with neither id nor name is
  rejected.
* **Post types.** 1 question and 2 answer; 6 (moderator nomination: the candidate's own
  statement, commented on by others) is kind ``"post"``. Wiki text is not an authored post:
  edited by many, it is owned by whoever created it (the Community bot for most), so 3 (orphaned
  tag wiki), 4/5 (tag wiki excerpt/body), 7 (site text, the wiki placeholders of election and
  help pages) and 8 (privilege wiki) are rejected with their type in the reason, as is any other
  PostTypeId (unknown to this adapter). Rejected: 165, 314, 22, 20 and 109 rows on beer,
  quantumcomputing, bicycles-meta, french-meta and ai (none had a vote or a comment).
* **The Community user** (Id -1: "Hi, I'm not really a person", a background process) is the
  site's system account, not a participant. Besides wiki text it opens the moderator election
  questions and the site self-evaluations and posts their results as answers (3 questions on
  bicycles-meta, 7 questions + 6 answers on french-meta, none on the three other sites). Kept,
  they made it a participant, scored and ranked on the votes for its announcements (17 and 48
  votes). Its posts and comments are rejected (out of scope), as are the votes on them; the
  posts of people below them are kept (2 answers and 2 comments on french-meta), detached (no
  parent, no root, their thread's labels) and addressed to it, so at ingest it authors nothing,
  is a non-participant and every reference to it (replies, the bounties it starts) goes to the
  placeholder. An accept of a person's answer to its question stays anonymous.
* **Minors.** Dumps before 2019 give ``Age`` in Users: whole years at the export (the ai site,
  2016: 1,000 of 3,157 users, 54 under 18). A user is a minor (``is_minor``, removed whole at
  ingest with everything written) where ``Age`` minus the years between ``CreationDate`` and the
  export (the latest ``LastAccessDate``) is below 18: one who may have joined under 18. On ai
  that is 76 users and 162 of 2,335 posts and comments, all scored and ranked before. Later
  dumps carry no age: nothing is inferred.
* **Labels** are the thread's tags: questions carry their own, answers and comments inherit
  their question's (ground truth for topic attribution at thread level).
* **Votes** of types 2, 3, 1, 5, 8, 9 are reactions (upvote, downvote, accept, favourite,
  bounty start and award). Every other type (close, deletion, spam, edit approval...) is
  moderation and goes to rejects with its type in the reason, as do votes whose post is not in
  the posts table (5 to 8 % of votes point at deleted posts left out of the dump).
* **Who voted.** ``UserId`` is in the dump for favourites and bounty starts only. Two more
  actors follow from the platform's rules: an accept (1) is cast by the owner of the answer's
  question (the only one who can accept), and a bounty award (9) by the sponsor of the latest
  bounty start (8) on that question, dated no later than the award (where the dump has that
  start and its UserId). So an asker accepting their own answer is a self-reaction, not
  someone else's approval: 21, 17, 7, 10 and 10 such accepts on beer, quantumcomputing,
  bicycles-meta, french-meta and ai. An accept by a deleted asker is a reaction of the
  ``deleted:<name>`` account and goes with it at ingest (3, 0, 6, 1, 0).
* ``FavoriteCount`` is not copied into ``n_likes``: a favourite is a bookmark, and the dump
  has favourites as reactions (vote type 5). ``n_likes`` and ``n_reposts`` stay null.
* Comment ids share numbers with post ids, so comments get the post id ``c<Id>``.
* **@-replies.** A comment answers the post it is under, unless it @-mentions a user SE
  would notify instead: one who commented on the same post earlier (SE's rule: the name
  without spaces, case-insensitive, a prefix of at least three characters; one user per
  comment, the first mention that matches). It then answers that user's latest comment before
  it (the parent), so it addresses that user. Before, every comment credited the post's owner,
  so an owner answering a commenter ("@Bob thanks") was a self-reply and Bob got nothing: 9.2,
  15.0, 25.9, 13.9 and 18.8 % of the comments on beer, ai, quantumcomputing, bicycles-meta and
  french-meta answer another comment so
  (:func:`~analysis.sources.stackexchange_tables.comment_parents`).
* Dates in the dump are naive ISO strings in UTC. A vote's date is its day only (00:00:00):
  it is stamped at the last microsecond of that UTC day, the first instant the vote is surely
  cast, so a vote never counts at a scoring date before it was cast (at 00:00, one cast in the
  afternoon counted from midnight on) and never predates its post (3,641, 4,512, 1,413, 1,183
  and 1,600 votes did on beer, quantumcomputing, bicycles-meta, french-meta and ai: those of
  the post's own day). A vote row with a time of day keeps it.

Where each part lives: streaming the XML files in ``analysis.sources.stackexchange_xml``; each
file's rows checked and mapped to canonical tables in ``analysis.sources.stackexchange_tables``.
This module finds the files and assembles the tables (:func:`read`).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import polars as pl

from analysis import schema
from analysis.sources.base import SourceError, SourceTables
from analysis.sources.stackexchange_tables import (
    PLATFORM,
    comment_parents,
    read_accounts,
    read_comments,
    read_posts,
    read_votes,
)
from analysis.sources.stackexchange_xml import find_file

log = logging.getLogger(__name__)


def read(path: Path) -> SourceTables:
    """Read one Stack Exchange site dump folder into raw canonical tables.

    Args:
        path: the folder (or any file inside it) holding Posts.xml[.gz], Users.xml[.gz] and
            optionally Comments and Votes.

    Returns:
        ``SourceTables`` with platform ``"stackexchange"``; ``missing_inputs`` lists the
        optional files that were absent and what the dump never carries.

    Raises:
        SourceError: a required file is missing, or a file is not well-formed UTF-8 XML.
    """
    started = time.perf_counter()
    folder = path if path.is_dir() else path.parent
    files = {name: find_file(folder, name) for name in ("Posts", "Users", "Comments", "Votes")}
    for name in ("Posts", "Users"):
        if files[name] is None:
            raise SourceError(
                folder, None, f"required file {name}.xml is missing", f"{name}.xml or {name}.xml.gz"
            )
    # The dump has no followers, reposts or likes; votes are anonymous except favourites and
    # bounties. Absent optional files are added below.
    missing = ["follower_count", "n_reposts", "n_likes"]
    posts, post_rej, deleted, post_ids, system = read_posts(files["Posts"])
    n_posts, all_post_ids = post_ids.len(), post_ids.drop_nulls()
    if files["Comments"] is not None:
        comments, com_rej, com_deleted, n_comments = read_comments(
            files["Comments"], posts, all_post_ids, system
        )
        deleted = pl.concat([deleted, com_deleted])
    else:
        comments, com_rej, n_comments = schema.empty("posts"), None, 0
        missing.append("comments")
    if files["Votes"] is not None:
        reactions, vote_rej, n_votes = read_votes(files["Votes"], posts, all_post_ids, system)
    else:
        reactions, vote_rej, n_votes = schema.empty("reactions"), None, 0
        missing.append("reactions")
    accounts, acc_rej, n_accounts, acc_flags = read_accounts(
        files["Users"], deleted["OwnerDisplayName"]
    )
    # an @-reply to an earlier commenter answers that commenter's comment, not the post
    answered = comment_parents(comments, posts, accounts)
    comments = (
        comments.join(
            answered.rename({"parent_post_id": "_to"}),
            on="post_id",
            how="left",
            maintain_order="left",
        )
        .with_columns(pl.coalesce("_to", "parent_post_id").alias("parent_post_id"))
        .select(comments.columns)
    )
    log.info("%s: %d comments @-reply to an earlier comment", folder.name, answered.height)
    rejects = pl.concat(
        [
            schema.conform(r, "rejects")
            for r in (acc_rej, post_rej, com_rej, vote_rej)
            if r is not None
        ]
    )
    n_read = {"accounts": n_accounts, "posts": n_posts + n_comments, "reactions": n_votes}
    tables = SourceTables(
        accounts=accounts,
        posts=pl.concat([posts, comments]),
        reactions=reactions,
        rejects=rejects,
        n_read=n_read,
        platform=PLATFORM,
        missing_inputs=tuple(missing),
        account_flags=acc_flags,
    )
    unknown = tables.posts.filter(
        ~pl.col("account_id").is_in(tables.accounts["account_id"].implode())
    ).height
    if unknown:
        log.warning("%s: %d posts have an owner that is not in Users.xml", folder.name, unknown)
    for table in ("accounts", "posts", "reactions"):
        log.info(
            "%s %s: read %d, accepted %d, rejected %d",
            folder.name,
            table,
            n_read[table],
            getattr(tables, table).height,
            tables.rejects.filter(pl.col("table") == table).height,
        )
    log.info("%s: read in %.1f s", folder.name, time.perf_counter() - started)
    return tables
