"""Stage ``demo``: a simulated community with planted ground truth, in the canonical format.

Writes ``data/raw/demo/{accounts,posts,reactions}.parquet`` (raw layer: raw ids, handles and
display names, and personal data planted in texts, so the privacy rules have work to do) and
``data/raw/demo_truth/{accounts,posts}.parquet`` (roles, planted subjects; no model reads it).

Planted roles: broadcasters (large reach, few answer them), quiet experts (small reach, long
threads with many distinct repliers, they answer back), conversationalists (reply a lot,
reciprocally), volume gamers (many low-value posts, no replies), regulars; attributes on top:
weekends offline, two weeks offline, one post about an unrelated subject (one-off), minors; plus
accounts that only ever get mentioned or replied to (non-participants).

A demo whose roles are defined by replies per post only checks that the conversation models
count replies. With ``reply_trait_correlation`` set (0..1), every author also gets a **hidden
trait** (true influence, standard normal) that drives an outcome no model reads: other accounts
later *adopting* its posts (adopting an answer, quoting it, starting a thread on its subject),
``adoptions_per_post · exp(trait_effect · trait)`` per post on average, recorded only in
``data/raw/demo_truth/adoptions.parquet``. Each author's replies drawn are multiplied by
``exp(reply_spread · z)`` (mean 1) with ``z = ρ · trait + sqrt(1 - ρ²) · noise``, so reply counts
are only partly correlated with the trait (``ρ`` = the knob). Weekend activity is
``weekend_activity`` of weekdays for every role (posts and replies), on top of the planted
weekend-offline and vacation attributes. ``None`` keeps the roles alone: the old demo, draw for
draw (a special case).

The community's make-up (subjects, vocabularies, templates, names, roles and their behaviour) is
data, in ``analysis.demo_world``; this module runs the simulation (:func:`generate`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from analysis import schema
from analysis.config import DemoParams
from analysis.demo_world import (
    DAYS,
    LOW_VALUE,
    ONE_OFF,
    ONE_OFF_SUBJECT,
    ROLE_BEHAVIOUR,
    ROLE_SHARES,
    SUBJECTS,
    TEMPLATES_REPLY,
    TEMPLATES_ROOT,
    fill,
    person_name,
)
from analysis.sources.base import frame

#: Columns of the adoption truth table (no model reads it).
ADOPTION_SCHEMA = {
    "adoption_id": pl.String,
    "post_id": pl.String,
    "source_account_id": pl.String,
    "adopter_account_id": pl.String,
    "kind": pl.String,
    "created_at": schema.UTC_TIME,
}
ADOPTION_KINDS = ("adopted its answer", "quoted it", "started a thread on its subject")


@dataclass(frozen=True)
class DemoDump:
    """The generated raw tables and the ground truth kept apart from them."""

    accounts: pl.DataFrame
    posts: pl.DataFrame
    reactions: pl.DataFrame
    truth_accounts: pl.DataFrame
    truth_posts: pl.DataFrame
    #: Later adoptions of each post (the hidden trait's outcome); empty without the trait.
    truth_adoptions: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema=ADOPTION_SCHEMA)
    )


class _Sim:
    """Mutable state of one simulation run (kept private; ``generate`` is the pure entry point)."""

    def __init__(self, params: DemoParams) -> None:
        self.p = params
        self.rng = np.random.default_rng(params.seed)
        self.start = datetime(params.start.year, params.start.month, params.start.day, tzinfo=UTC)
        self.accounts: list[dict] = []
        self.truth: dict[str, dict] = {}
        self.handles: dict[str, str] = {}
        self.names: dict[str, str] = {}
        self.authors: list[str] = []
        self.np_ids: list[str] = []
        self.posts: list[dict] = []
        self.post_truth: list[dict] = []
        self.reactions: list[dict] = []
        self.adoptions: list[dict] = []
        self.by_subject: dict[str, np.ndarray] = {}
        self.traited = params.reply_trait_correlation is not None
        self.reply_mult: dict[str, float] = {}

    # ------------------------------------------------------------------ people
    def people(self) -> None:
        rng, n, subjects = self.rng, self.p.n_accounts, list(SUBJECTS)
        roles = rng.choice(list(ROLE_SHARES), size=n, p=list(ROLE_SHARES.values()))
        roles[: len(ROLE_SHARES)] = list(ROLE_SHARES)  # every role present even in a small demo
        for i in range(n):
            aid = f"u{10000 + i}"
            self._name(aid)
            beh = ROLE_BEHAVIOUR[roles[i]]
            followers = int(10 ** rng.normal(beh["log_followers"], 0.35))
            main = rng.choice(len(subjects), size=2, replace=False)
            vacation = rng.random() < 0.15
            self.accounts.append(
                dict(
                    account_id=aid,
                    platform="demo",
                    handle=self.handles[aid],
                    display_name=self.names[aid],
                    created_at=self.start - timedelta(days=int(rng.integers(30, 2000))),
                    follower_count=followers,
                    is_minor=False,
                    has_consent=True,
                )
            )
            self.truth[aid] = dict(
                account_id=aid,
                role=str(roles[i]),
                subjects=[subjects[j] for j in main],
                is_weekend_off=bool(rng.random() < 0.2),
                vacation_start=self.start
                + timedelta(days=int(rng.integers(20, self.p.n_days - 20)))
                if vacation
                else None,
                is_one_off=bool(
                    roles[i] != "gamer" and roles[i] != "broadcaster" and rng.random() < 0.12
                ),
                is_minor=False,
                is_nonparticipant=False,
                followers=followers,
            )
            self.authors.append(aid)
        regular = [a for a in self.authors if self.truth[a]["role"] == "regular"]
        for aid in rng.choice(regular, size=max(2, n // 50), replace=False):
            self.truth[str(aid)]["is_minor"] = True
            self.accounts[self.authors.index(str(aid))]["is_minor"] = True
        # Non-participants: on the platform's user list, mentioned and answered, never authors.
        for j in range(max(5, n // 15)):
            aid = f"u{90000 + j}"
            self._name(aid)
            self.np_ids.append(aid)
            self.accounts.append(
                dict(
                    account_id=aid,
                    platform="demo",
                    handle=self.handles[aid],
                    display_name=self.names[aid],
                    created_at=self.start - timedelta(days=400),
                    follower_count=int(rng.integers(10, 5000)),
                    is_minor=False,
                    has_consent=None,
                )
            )
            self.truth[aid] = dict(
                account_id=aid,
                role="nonparticipant",
                subjects=[],
                is_weekend_off=False,
                vacation_start=None,
                is_one_off=False,
                is_minor=False,
                is_nonparticipant=True,
                followers=0,
            )
        self.replier_weight = np.array(
            [ROLE_BEHAVIOUR[self.truth[a]["role"]]["replier"] for a in self.authors]
        )
        self.interest = {
            s: np.array([3.0 if s in self.truth[a]["subjects"] else 0.3 for a in self.authors])
            for s in subjects
        }
        if self.traited:
            self.traits()

    def traits(self) -> None:
        """The hidden trait and the reply multiplier partly correlated with it (drawn last, so
        the accounts and roles are those of the old demo with the same seed)."""
        rho, spread = float(self.p.reply_trait_correlation or 0.0), self.p.reply_spread
        trait = self.rng.normal(size=len(self.authors))
        noise = self.rng.normal(size=len(self.authors))
        z = rho * trait + np.sqrt(1 - rho**2) * noise
        mult = np.exp(spread * z - spread**2 / 2)
        for aid, t, m in zip(self.authors, trait, mult, strict=True):
            self.truth[aid].update(trait=float(t), reply_multiplier=float(m))
            self.reply_mult[aid] = float(m)
        for aid in self.np_ids:
            self.truth[aid].update(trait=None, reply_multiplier=None)

    def _name(self, aid: str) -> None:
        handle, display = person_name(self.rng)
        while handle in self.handles.values():
            handle, display = person_name(self.rng)
        self.handles[aid], self.names[aid] = handle, display

    def active(self, aid: str, when: datetime) -> bool:
        t = self.truth[aid]
        if t["is_weekend_off"] and when.weekday() >= 5:
            return False
        vs = t["vacation_start"]
        return not (vs is not None and vs <= when < vs + timedelta(days=14))

    def present(self, aid: str, when: datetime) -> bool:
        """Active, and (with the trait) online this weekend day: every role is less active on
        weekends (``weekend_activity``)."""
        if not self.active(aid, when):
            return False
        if self.traited and when.weekday() >= 5:
            return bool(self.rng.random() < self.p.weekend_activity)
        return True

    # ------------------------------------------------------------------ posts
    def add(
        self,
        aid: str,
        when: datetime,
        kind: str,
        text: str,
        subject: str,
        parent: dict | None,
        reach: int | None,
    ) -> dict:
        row = dict(
            post_id=f"p{len(self.posts) + 1:07d}",
            platform="demo",
            account_id=aid,
            kind=kind,
            parent_post_id=parent["post_id"] if parent else None,
            root_post_id=(parent["root_post_id"] or parent["post_id"]) if parent else None,
            created_at=when,
            text=self.personalise(text, aid),
            n_views=reach,
            follower_count=self.truth[aid]["followers"],
            labels=[subject],
        )
        self.posts.append(row)
        self.post_truth.append(
            dict(
                post_id=row["post_id"],
                account_id=aid,
                subject=subject,
                is_low_value=subject == "spam",
            )
        )
        return row

    def personalise(self, text: str, aid: str) -> str:
        """Plant personal data that the scrubber must remove."""
        rng, r = self.rng, self.rng.random()
        if r < 0.04:
            return text + f" Mail me at {self.handles[aid]}@example.org if you want the details."
        if r < 0.07:
            pool = self.np_ids if rng.random() < 0.5 else self.authors
            return text + f" cc @{self.handles[pool[int(rng.integers(len(pool)))]]}"
        if r < 0.09:
            return (
                text
                + f" Full write-up: https://blog.example.com/{self.handles[aid]}?utm_source=demo"
            )
        if r < 0.10:
            return text + " Call me on +44 20 7946 0958 after six."
        if r < 0.12:
            other = self.authors[int(rng.integers(len(self.authors)))]
            return f"Thanks {self.names[other]} for the earlier advice. " + text
        return text

    def reply(
        self, parent: dict, aid: str, subject: str, vocab: dict[str, list[str]]
    ) -> dict | None:
        when = parent["created_at"] + timedelta(minutes=int(self.rng.exponential(240)) + 1)
        if not self.present(aid, when):
            return None
        text = fill(str(self.rng.choice(TEMPLATES_REPLY)), vocab, self.rng)
        return self.add(aid, when, "reply", text, subject, parent, None)

    def thread(self, root: dict, subject: str) -> None:
        """Replies to a root post: who answers depends on topic interest and role."""
        rng, author = self.rng, root["account_id"]
        beh = ROLE_BEHAVIOUR[self.truth[author]["role"]]
        mean = beh["replies"] * self.reply_mult.get(author, 1.0)
        if subject == "spam":
            n_replies = rng.poisson(mean * 0.1)
            vocab = SUBJECTS[self.truth[author]["subjects"][0]]
        else:
            n_replies = rng.negative_binomial(2, 2 / (2 + mean))
            vocab = SUBJECTS[subject]
        w = self.replier_weight * (self.interest.get(subject, 1.0))
        w = w / w.sum()
        nodes = [root]
        for _ in range(n_replies):
            replier = self.authors[int(rng.choice(len(self.authors), p=w))]
            if replier == author:
                continue
            parent = nodes[int(rng.integers(len(nodes)))] if rng.random() < 0.35 else root
            child = self.reply(parent, replier, subject, vocab)
            if child is None:
                continue
            nodes.append(child)
            if rng.random() < beh["answer_back"]:
                back = self.reply(child, author, subject, vocab)
                if back is not None:
                    nodes.append(back)

    def activity(self) -> None:
        rng = self.rng
        for d in range(self.p.n_days):
            day = self.start + timedelta(days=d)
            for aid in self.authors:
                t = self.truth[aid]
                for _ in range(rng.poisson(ROLE_BEHAVIOUR[t["role"]]["rate"])):
                    when = day + timedelta(seconds=int(rng.integers(6 * 3600, 23 * 3600)))
                    if not self.present(aid, when):
                        continue
                    if t["role"] == "gamer" and rng.random() < 0.85:
                        subject = "spam"
                        text = str(rng.choice(LOW_VALUE)).format(day=DAYS[when.weekday()])
                    else:
                        subject = str(rng.choice(t["subjects"], p=[0.75, 0.25]))
                        text = fill(str(rng.choice(TEMPLATES_ROOT)), SUBJECTS[subject], rng)
                    reach = int(t["followers"] * rng.uniform(0.05, 0.4))
                    self.thread(self.add(aid, when, "post", text, subject, None, reach), subject)
        # Exactly one post about an unrelated subject per one-off account (Klout's "Barbie" case);
        # it may even draw a reply or two.
        for aid in self.authors:
            if self.truth[aid]["is_one_off"]:
                when = self.start + timedelta(
                    days=int(rng.integers(5, self.p.n_days - 5)), hours=12
                )
                text = fill(str(rng.choice(TEMPLATES_ROOT)), ONE_OFF, rng)
                root = self.add(
                    aid,
                    when,
                    "post",
                    text,
                    ONE_OFF_SUBJECT,
                    None,
                    int(self.truth[aid]["followers"] * rng.uniform(0.05, 0.4)),
                )
                for _ in range(rng.poisson(1.0)):
                    other = self.authors[int(rng.integers(len(self.authors)))]
                    if other != aid:
                        self.reply(root, other, ONE_OFF_SUBJECT, ONE_OFF)
        # Replies to non-participants: their post is not in the dump, the addressee is known.
        for _ in range(len(self.np_ids) * 3):
            aid = self.authors[int(rng.integers(len(self.authors)))]
            subject = str(rng.choice(self.truth[aid]["subjects"]))
            when = self.start + timedelta(days=int(rng.integers(0, self.p.n_days)), hours=15)
            text = fill(str(rng.choice(TEMPLATES_REPLY)), SUBJECTS[subject], rng)
            row = self.add(aid, when, "reply", text, subject, None, None)
            row["reply_to_account_id"] = self.np_ids[int(rng.integers(len(self.np_ids)))]

    def likes(self) -> None:
        """Like totals in ``n_likes``; individual likes with known actors in ``reactions``."""
        rng = self.rng
        quality = {
            "expert": 4.0,
            "conversationalist": 2.0,
            "regular": 1.0,
            "broadcaster": 1.5,
            "gamer": 0.2,
        }
        everyone = [a["account_id"] for a in self.accounts]
        for row in self.posts:
            t = self.truth[row["account_id"]]
            q = quality[t["role"]] * (0.2 if row["labels"] == ["spam"] else 1.0)
            if row["kind"] == "post":
                total = int(rng.poisson(q + 0.003 * t["followers"] ** 0.8))
            else:
                total = int(rng.poisson(0.4 * q))
            row["n_likes"] = total
            row["n_reposts"] = int(rng.poisson(0.1 * total))
            known = min(total, int(rng.poisson(0.6 * min(total, 8))))
            for a in rng.choice(len(everyone), size=known, replace=False):
                actor = everyone[int(a)]
                if actor == row["account_id"]:
                    continue
                self.reactions.append(
                    dict(
                        reaction_id=f"r{len(self.reactions) + 1:08d}",
                        platform="demo",
                        post_id=row["post_id"],
                        kind="like",
                        created_at=row["created_at"]
                        + timedelta(minutes=int(rng.integers(1, 3000))),
                        actor_account_id=actor,
                    )
                )


def _adoptions(sim: _Sim) -> None:
    """Later adoptions of each non-spam post, driven by its author's hidden trait only."""
    rng, p = sim.rng, sim.p
    effect = p.trait_effect
    for row, truth in zip(sim.posts, sim.post_truth, strict=True):
        trait = sim.truth[row["account_id"]].get("trait")
        if trait is None or truth["is_low_value"]:
            continue
        lam = p.adoptions_per_post * np.exp(effect * trait - effect**2 / 2)
        for _ in range(rng.poisson(lam)):
            adopter = sim.authors[int(rng.integers(len(sim.authors)))]
            if adopter == row["account_id"]:
                continue
            sim.adoptions.append(
                dict(
                    adoption_id=f"a{len(sim.adoptions) + 1:07d}",
                    post_id=row["post_id"],
                    source_account_id=row["account_id"],
                    adopter_account_id=adopter,
                    kind=ADOPTION_KINDS[int(rng.integers(len(ADOPTION_KINDS)))],
                    created_at=row["created_at"] + timedelta(hours=float(rng.exponential(240))),
                )
            )


def generate(params: DemoParams) -> DemoDump:
    """Simulate the community. Pure: the same params give identical tables."""
    sim = _Sim(params)
    sim.people()
    sim.activity()
    sim.likes()
    if sim.traited:
        _adoptions(sim)
    posts = sorted(sim.posts, key=lambda r: (r["created_at"], r["post_id"]))
    truth = [{**t, "vacation_start": t["vacation_start"]} for t in sim.truth.values()]
    return DemoDump(
        accounts=frame(sim.accounts, "accounts"),
        posts=frame(posts, "posts"),
        reactions=frame(sim.reactions, "reactions"),
        truth_accounts=pl.DataFrame(truth).with_columns(
            pl.col("vacation_start").cast(schema.UTC_TIME)
        ),
        truth_posts=pl.DataFrame(sim.post_truth),
        truth_adoptions=pl.DataFrame(sim.adoptions, schema=ADOPTION_SCHEMA),
    )
