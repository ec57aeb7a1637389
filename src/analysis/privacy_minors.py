"""Minors known from their own words: a first-person statement of an age under 18 (pure).

Used by stage ``ingest`` (``ingest_dump``), which removes such an account with everything it
wrote, as it removes an account its dump flags ``is_minor``. Few dumps say who is a minor
(Stack Exchange before 2019 gave an age; Reddit, Hacker News, Usenet, Mastodon and Twitter
give none), but people say it themselves: "I'm 14 years old", "im 15 yo", "as a 17 year old
dude". On the shared real dumps (about 60,000 texts) the rule matches 5 Reddit posts, all five a
person stating their own age (13, 14, 14, 17, 17), and nothing else (a first version also read
"performs about as well as a 4 year old", an answer on the ai site, as a statement).

The rule is English and first person only, on the author's own words: quote lines (``>``) and
``<blockquote>`` blocks are left out (``ingest_quotes.drop_quotes``), and ingest reads it on
authored texts, never a repost's (a retweet's text is another's). A retrospective "as a 15 year
old I loved it" is read as a minor's statement too: the rule errs on the side of the person, and
what it costs is an adult's posts left out, never a child's kept. "My son is 14" and "I was 14"
are not statements about the writer now and do not match.
"""

from __future__ import annotations

import polars as pl

from analysis.ingest_quotes import drop_quotes

#: Ages under 18 as written: digits 4-17 or words 13-17 (under 13 written in words is rare).
_AGE = r"(?:1[0-7]|[4-9]|thirteen|fourteen|fifteen|sixteen|seventeen)"
#: "years old" and its short forms ("yrs old", "yo", "y/o", "y.o.").
_OLD = r"(?:[\s-]*(?:years?|yrs?)[\s-]*old\b|\s*(?:yo|y/o|y\.o\.)(?:\W|$))"
#: "I'm", "I am", "im" (the apostrophe straight or typographic).
_I_AM = r"(?:\bi\s*['’]?\s*m|\bi\s+am|\bim)"
#: "as a 17 year old" about the writer: opening a sentence or a clause, or after a few words
#: that keep the writer its subject ("I need help as a 17 year old"); not a comparison ("performs
#: about as well as a 4 year old", an answer on the ai site).
_AS_A = r"(?:^|[\n.!?,;:(]\s*|\b(?:help|here|speaking|writing|asking|me|myself)\s+)as"
#: A first-person statement of an age under 18 (Rust regex syntax, case-insensitive).
DECLARED_MINOR = (
    rf"(?i)(?:{_I_AM}\s+(?:only\s+|just\s+)?\b{_AGE}{_OLD}"
    rf"|(?:{_I_AM}|{_AS_A})\s+an?\s+\b{_AGE}\b[\s-]*(?:years?|yrs?)[\s-]*old\b)"
)


def declares_minor(texts: pl.Series) -> pl.Series:
    """Per text: does its author, outside quotes, state an age under 18? (null text: False)"""
    hit = texts.str.contains(DECLARED_MINOR).fill_null(False)
    if not hit.any():
        return hit
    # the few texts that match, read again without what they quote
    at = hit.arg_true()
    own = drop_quotes(texts.gather(at)).str.contains(DECLARED_MINOR).fill_null(False)
    return hit.scatter(at, own)
