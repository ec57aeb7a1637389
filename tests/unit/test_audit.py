"""The audit finds planted raw identifiers in every kind of output, and nothing in clean ones."""

from __future__ import annotations

import itertools
import json

import polars as pl
import pytest

from analysis.audit import Identifiers, audit
from analysis.sources.base import frame


def _ident() -> Identifiers:
    accounts = frame(
        [
            dict(
                account_id="u1",
                platform="x",
                handle="mara_kettle17",
                display_name="Mara Kettleworth",
            ),
            dict(
                account_id="https://masto.example/users/zed",
                platform="x",
                handle="@zed@masto.example",
            ),
            dict(account_id="123456789", platform="x"),
        ],
        "accounts",
    )
    posts = frame(
        [
            dict(
                post_id="p",
                platform="x",
                account_id="u1",
                kind="post",
                text="mail me: mara@example.org",
            )
        ],
        "posts",
    )
    return Identifiers.from_tables([accounts], [posts])


def _outputs(root, leak: str | None, where: str) -> None:
    (root / "data/processed").mkdir(parents=True)
    (root / "reports").mkdir()
    (root / "logs").mkdir()
    text = "Participants are shown as pseudonyms like acct_0123456789abcdef; 42 posts."
    pl.DataFrame({"account_id": ["acct_0123456789abcdef"], "text": [text], "n": [1]}).write_parquet(
        root / "data/processed/scores.parquet"
    )
    (root / "reports/m.json").write_text(json.dumps({"top": ["acct_0123456789abcdef"], "n": 12}))
    (root / "logs/run.log").write_text("INFO wrote 42 rows\n")
    if leak is None:
        return
    if where == "parquet-id":
        pl.DataFrame({"account_id": [leak]}).write_parquet(root / "data/processed/leak.parquet")
    elif where == "parquet-text":
        pl.DataFrame({"keywords": [["coffee", leak]]}).write_parquet(
            root / "data/processed/leak.parquet"
        )
    elif where == "html":
        (root / "reports/index.html").write_text(
            f"<html><script>var d={{'name': '{leak}'}}</script></html>"
        )
    else:
        (root / "logs/run.log").write_text(f"INFO processing {leak} now\n")


def test_clean_outputs_pass(tmp_path) -> None:
    _outputs(tmp_path, None, "")
    hits, n_files = audit(tmp_path, _ident())
    assert hits == [] and n_files == 3


def test_pseudonyms_of_no_current_account_are_found_where_they_are(tmp_path) -> None:
    """A frozen stage's output after a key rotation or an erasure: old pseudonyms remain."""
    _outputs(tmp_path, None, "")
    (tmp_path / "data/interim").mkdir(parents=True)
    current = ["acct_0123456789abcdef", "acct_00000000000000aa"]
    pl.DataFrame({"account_id": current}).write_parquet(tmp_path / "data/interim/accounts.parquet")
    assert audit(tmp_path, _ident())[0] == []  # every pseudonym in the outputs is current

    old = "acct_9999999999999999"
    pl.DataFrame({"scenario": ["weekend_off"] * 2, "account_id": [current[0], old]}).write_parquet(
        tmp_path / "data/processed/counterfactual_changes.parquet"
    )
    keyed = "acct_8888888888888888"  # as a JSON key, which the raw-identifier rules read past
    (tmp_path / "reports/top.json").write_text(
        json.dumps({"top": [f"{old} moved 3 ranks"], keyed: 1}, indent=1)
    )
    (tmp_path / "logs/run.log").write_text("INFO acct_00000000000000aa is fine\n")
    # an account row ingest rejected: keyed by its pseudonym in rejects.parquet, not an account
    rejected = "acct_7777777777777777"
    pl.DataFrame({"table": ["accounts"], "record_key": [rejected]}).write_parquet(
        tmp_path / "data/interim/rejects.parquet"
    )
    # words a user typed that share the prefix are not pseudonyms
    (tmp_path / "reports/notes.md").write_text("see acct_20240115 and acct_deadbeef\n")
    hits, _ = audit(tmp_path, _ident())
    assert sorted((h.file, h.where, h.kind, h.value) for h in hits) == [
        ("data/processed/counterfactual_changes.parquet", "account_id", "stale_pseudonym", old),
        ("reports/top.json", "line 3", "stale_pseudonym", old),
        ("reports/top.json", "line 5", "stale_pseudonym", keyed),
    ]
    assert "of no current account" in str(hits[0])


def test_the_audit_matches_the_pseudonyms_ingest_writes() -> None:
    """The audit's own pattern (it does not import the pseudonymiser) against the real one."""
    import re

    from analysis import privacy
    from analysis.audit import PSEUDONYM

    made = privacy.pseudonym(b"k" * 32, "demo", "account", "u1", privacy.ACCOUNT_PREFIX)
    assert re.fullmatch(PSEUDONYM.replace(r"\b", ""), made), made


@pytest.mark.parametrize(
    ("leak", "where", "kind"),
    [
        ("u1", "parquet-id", "id"),  # a short raw id is a hit in an id column
        ("mara_kettle17", "parquet-text", "handle"),
        ("Mara Kettleworth", "html", "display_name"),
        ("mara@example.org", "log", "email"),
        ("https://masto.example/users/zed", "log", "id"),
        ("123456789", "html", "id"),
        ("zed", "log", "handle"),
    ],
)
def test_planted_leaks_are_found_with_file_and_match(tmp_path, leak, where, kind) -> None:
    _outputs(tmp_path, leak, where)
    hits, _ = audit(tmp_path, _ident())
    assert hits, f"{leak} in {where} not found"
    assert hits[0].kind == kind and hits[0].value in leak
    assert str(hits[0]).startswith(
        ("data/processed/leak.parquet", "reports/index.html", "logs/run.log")
    )


def test_short_ids_in_free_text_are_not_false_alarms(tmp_path) -> None:
    _outputs(tmp_path, None, "")
    (tmp_path / "logs/run.log").write_text("u1 is short; wrote 1 row\n")
    assert audit(tmp_path, _ident())[0] == []


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("thanks to Mara Kettleworth's reply", True),  # possessive after a multi-word name
        ("(Mara Kettleworth)", True),
        ("see https://masto.example/users/zed?x=1", True),  # URL-shaped id, query glued on
        ("Mara Kettleworthy wrote", False),  # glued to a longer word: not that name
        ("Xhttps://masto.example/users/zed", False),
        # a percent-encoded e-mail is the e-mail (the scrubber reads it so; the audit did not)
        ("write mara%40example.org now", True),
        ("MARA%40EXAMPLE%2eORG", True),
    ],
)
def test_multi_token_values_are_found_by_their_anchor_run(text: str, found: bool) -> None:
    """The indexed search finds exactly what a plain bounded substring search finds."""
    from analysis.audit_scan import Scanner

    hits = {v for _, v in Scanner(_ident()).scan_text(text)}
    known = {"Mara Kettleworth", "https://masto.example/users/zed", "mara@example.org"}
    assert bool(hits & known) is found, hits


def test_markup_and_json_keys_are_structure_not_data(tmp_path) -> None:
    """Handles equal to a tag, CSS class or JSON key are not leaked by markup, but the same
    handles in data (texts, attribute values, JSON values) still are. (Made-up words: real tag
    names such as "img" are also words of our own prose, see the next test.)"""
    accounts = frame(
        [
            dict(account_id="u1", platform="x", handle="qzt"),
            dict(account_id="u2", platform="x", handle="qzx"),
            dict(account_id="u3", platform="x", handle="qzk"),
        ],
        "accounts",
    )
    posts = frame(
        [dict(post_id="p", platform="x", account_id="u1", kind="post", text="hi")], "posts"
    )
    ident = Identifiers.from_tables([accounts], [posts])
    (tmp_path / "reports/templates").mkdir(parents=True)
    (tmp_path / "reports/index.html").write_text(
        "<style>\n.qzx{margin:0}\nqzt{width:100%}\n</style>\n"
        '<div class="qzx"><qzt src="figures/a.svg"></qzt></div>\n'
        '<script>Plotly.newPlot("x", {"qzk": 1, "layout": {"geo": {}}})</script>\n'
    )
    (tmp_path / "reports/m.json").write_text('{"qzk": 0.4, "nmi": 0.7}')
    (tmp_path / "reports/templates/page.html").write_text("<p>qzt qzx qzk</p>")  # not an output
    hits, _ = audit(tmp_path, ident)
    assert hits == []
    (tmp_path / "reports/index.html").write_text(
        '<div class="qzx"><img alt="photo by qzx" src="a.svg"></div>\n'
        '<script>Plotly.newPlot("x", [{"text": ["qzk"]}])</script>\n'
    )
    (tmp_path / "reports/m.json").write_text('{"top": ["qzt"]}')
    found = {(h.file, h.where, h.value) for h in audit(tmp_path, ident)[0]}
    assert found == {
        ("reports/index.html", "line 1", "qzx"),
        ("reports/index.html", "line 2", "qzk"),
        ("reports/m.json", "line 1", "qzt"),
    }


def test_words_of_our_own_prose_are_not_leaks_but_data_words_still_are(tmp_path) -> None:
    from analysis.audit_software import software_words

    words = software_words()
    assert {"zero", "median", "abs", "Monday"} <= words  # captions, axis titles, metric names
    assert "apple" in words  # the font stack "-apple-system" in every page's layout
    assert not {"espresso", "coffee"} & words  # the simulators' vocabularies are data
    accounts = frame(
        [
            dict(account_id="u1", platform="x", handle="zero"),
            dict(account_id="u2", platform="x", handle="zanzibar42"),
        ],
        "accounts",
    )
    posts = frame(
        [dict(post_id="p", platform="x", account_id="u1", kind="post", text="hi")], "posts"
    )
    ident = Identifiers.from_tables([accounts], [posts])
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports/index.html").write_text("<p>near zero means no effect</p>")
    assert audit(tmp_path, ident)[0] == []
    (tmp_path / "reports/index.html").write_text("<p>near zero, said zanzibar42</p>")
    assert [h.value for h in audit(tmp_path, ident)[0]] == ["zanzibar42"]


def test_ordinary_words_are_counted_case_insensitively() -> None:
    from analysis.privacy import ordinary_words

    posts = pl.DataFrame(
        {
            "account_id": [f"a{i}" for i in range(12)],
            "text": ["I searched Google for it"] * 11 + ["google it"],
        }
    )
    assert ordinary_words(posts, ["google", "paul"]) == {"google"}
    assert ordinary_words(posts.head(5), ["google"]) == set()  # 5 authors are not "many"


# --------------------------------------------------------------------------- issue 13, item 3

PLANTED = [
    "little_nell12's stout recipe",
    "a little_nell12-style porter",
    "see little_nell12.xyz",
    "join the little_nell12-fanclub",
    "thanks nell trent",
    "EDWIN DROOD said so",
    "thanks N\u0435ll \u0422rent",  # Cyrillic e and T inside the Latin name
    "thanks Ne\u200dll Tr\u200bent",  # zero-width joiner and space inside the two words
    # look-alikes beyond Cyrillic and Greek, from Unicode's confusables data: Cherokee A and
    # Greek capital iota (TS #39 writes its prototype "l"; it reads as "I")
    "EDW\u0399N DROOD again",
    "thanks Nell \u13a2rent",
    "write to user @ example.org",
    "call 202_555_0143 today",
    # invisible characters that are not format characters, and an overlay mark
    "thanks Ed\u034fwin Drood",  # combining grapheme joiner
    "thanks Edw\ufe0fin Drood",  # variation selector
    "thanks Ed\u3164win Drood",  # Hangul filler
    "thanks Edw\u0336in Drood",  # combining long stroke overlay
    "thanks little_nell\u034f12",
    "call 202\u2013555\u20130143 today",  # en dashes
    "call 202\u00b7555\u00b70143 today",  # middle dots
    "my profile r/u_little_nell12 and u_little_nell12",  # the subreddit of a Reddit profile
]


def test_look_alikes_come_from_unicode_data_and_keep_offsets() -> None:
    from analysis.privacy import CONFUSABLES, fold, skeleton

    assert len(CONFUSABLES) > 1000  # Unicode's table, not a hand-picked subset
    assert all(len(v) == 1 for v in CONFUSABLES.values())  # one for one: offsets kept
    assert not any(chr(k).isascii() for k in CONFUSABLES)  # plain Latin compares as written
    assert skeleton("\u13aalice \u0422rent \u0399van") == "Alice Trent Ivan"
    assert fold("EDW\u0399N") == fold("edwin")


def _crafted():
    from analysis.sources.base import SourceTables

    accounts = frame(
        [
            dict(account_id="k1", platform="x", handle="little_nell12", display_name="Nell Trent"),
            dict(account_id="k2", platform="x", handle="edwin_d", display_name="Edwin Drood"),
        ],
        "accounts",
    )
    posts = frame(
        [
            dict(
                post_id=f"p{i}",
                platform="x",
                account_id="k2",
                kind="post",
                text=t,
            )
            for i, t in enumerate([*PLANTED, "mail user@example.org or +1 (202) 555-0143"])
        ],
        "posts",
    )
    return SourceTables(
        accounts=accounts,
        posts=posts,
        reactions=frame([], "reactions"),
        rejects=pl.DataFrame(),
        n_read={},
        platform="x",
    )


@pytest.mark.parametrize("text", PLANTED)
def test_audit_finds_every_planted_variant_and_none_after_scrubbing(text) -> None:
    from analysis.audit_scan import Scanner
    from analysis.ingest_names import redactor_for
    from analysis.privacy import scrub_text

    tables = _crafted()
    scanner = Scanner(Identifiers.from_tables([tables.accounts], [tables.posts]))
    assert list(scanner.scan_text(text)), f"audit missed {text!r}"
    scrubbed = scrub_text(text, redactor_for(tables))
    assert list(scanner.scan_text(scrubbed)) == [], scrubbed


def test_the_audit_does_not_share_the_scrubbers_matching_code(monkeypatch) -> None:
    """With the scrubber's name matcher broken, the audit still finds every planted name."""
    from analysis import privacy
    from analysis.audit_scan import Scanner

    monkeypatch.setattr(privacy.NameRedactor, "_spans", lambda self, text: [])
    monkeypatch.setattr(privacy, "EMAIL", __import__("re").compile(r"(?!)"))
    monkeypatch.setattr(privacy, "PHONE", __import__("re").compile(r"(?!)"))
    tables = _crafted()
    scanner = Scanner(Identifiers.from_tables([tables.accounts], [tables.posts]))
    for text in PLANTED:
        assert list(scanner.scan_text(text)), text


def test_a_multi_word_name_our_own_prose_writes_as_a_phrase_is_not_a_leak(tmp_path) -> None:
    """quantumcomputing has a user "Fixed Point"; the writeup prints "At the fixed point"."""
    from analysis.audit_software import is_software_phrase

    assert is_software_phrase("Fixed Point")
    assert is_software_phrase("FIXED  point")
    assert not is_software_phrase("Point Fixed")  # the words, not the phrase
    assert not is_software_phrase("Nell Trent")
    assert not is_software_phrase("point")  # one word: software_words() decides those
    accounts = frame(
        [
            dict(account_id="u1", platform="x", display_name="Fixed Point"),
            dict(account_id="u2", platform="x", display_name="Nell Trent"),
        ],
        "accounts",
    )
    posts = frame(
        [dict(post_id="p", platform="x", account_id="u1", kind="post", text="hi")], "posts"
    )
    ident = Identifiers.from_tables([accounts], [posts])
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports/methodology.md").write_text(
        "At the fixed point, rank flows.\nthanks nell trent\n"
    )
    assert [h.value.casefold() for h in audit(tmp_path, ident)[0]] == ["nell trent"]


def test_the_phrase_check_says_what_a_search_of_the_whole_prose_says() -> None:
    """is_software_phrase skips the search when a word pair is not in the prose: it must still
    answer exactly "is the folded phrase a substring of the prose", on phrases taken from the
    prose (of 2-5 words), on the same words reversed, and on pairs straddling two literals."""
    import random

    from analysis.audit_software import _phrase, is_software_phrase, software_prose

    prose = software_prose()
    lines = [ln.split() for ln in prose.split("\n") if len(ln.split()) >= 5]
    rng = random.Random(7)
    names: list[str] = []
    for words in rng.sample(lines, 200):
        n = rng.randint(2, 5)
        at = rng.randrange(len(words) - n + 1)
        window = words[at : at + n]
        names += [" ".join(window).title(), " ".join(reversed(window))]
    for a, b in itertools.pairwise(lines):
        names.append(f"{a[-1]} {b[0]}")  # the end of one literal and the start of the next
    found = [is_software_phrase(n) for n in names]
    assert found == [_phrase(n) in prose for n in names]
    assert 150 <= sum(found) < len(names)  # both answers are exercised


def test_the_audit_fails_a_published_time_finer_than_the_resolution(tmp_path) -> None:
    """params.yaml: "times in reports/public, the writeup and metrics are truncated to
    privacy.time_resolution"; nothing checked it, and the scoring date (the last post + 1 s)
    reached a metrics file and the writeup at the second, dating the last post."""
    from analysis.audit import FINE_TIME, fine_times

    (tmp_path / "reports/metrics").mkdir(parents=True)
    (tmp_path / "reports/public").mkdir(parents=True)
    (tmp_path / "reports/metrics/scores.json").write_text(
        '{"a": "2026-06-30T08:00:00+00:00",\n "b": "2026-06-30T08:25:33+00:00"}'
    )
    (tmp_path / "reports/methodology.md").write_text(
        "Period: 2026-06-30 08:00 to 2026-07-01 09:30.\n"
    )
    (tmp_path / "reports/public/README.md").write_text("as of 2026-06-30\n")  # a date alone
    (tmp_path / "reports/index.html").write_text("2026-06-30 08:25:33")  # the analyst's page
    hits = fine_times(tmp_path, "1h")
    assert [(h.file, h.where, h.kind, h.value) for h in hits] == [
        ("reports/methodology.md", "line 1", FINE_TIME, "2026-07-01 09:30"),
        ("reports/metrics/scores.json", "line 2", FINE_TIME, "2026-06-30T08:25:33"),
    ]
    assert len(fine_times(tmp_path, "1d")) == 4  # every time of day under a day's resolution
    assert [h.value for h in fine_times(tmp_path, "1m")] == ["2026-06-30T08:25:33"]


def test_renders_outside_the_stages_are_scanned_the_notebook_sources_are_not(tmp_path) -> None:
    """`dvc plots show` writes dvc_plots/ and Jupyter saves outputs in notebooks/*.ipynb; the
    audit read neither (an erasure could not be confirmed there). The paired .py sources are
    not outputs."""
    _outputs(tmp_path, None, "")
    (tmp_path / "dvc_plots").mkdir()
    (tmp_path / "dvc_plots/index.html").write_text("<html><p>Mara Kettleworth</p></html>")
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks/12-models.ipynb").write_text(
        json.dumps({"cells": [{"outputs": [{"text": "top: mara_kettle17"}]}]})
    )
    (tmp_path / "notebooks/12-models.py").write_text("# a source naming no one\n")
    hits, n_files = audit(tmp_path, _ident())
    assert n_files == 5  # old code: 3, neither render read
    assert {h.value for h in hits} >= {"Mara Kettleworth", "mara_kettle17"}
    assert not any("12-models.py" in str(h) for h in hits)
