"""Names written joined or re-separated (analysis.name_forms): redacted like the name itself, by
both engines, and kept where the form is an ordinary word or phrase of the dump."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from analysis import ingest_names, name_forms, scrub
from analysis.privacy import NameRedactor, scrub_text
from analysis.sources.base import SourceTables, frame

NAMES = NameRedactor(["Nell Trent", "little_nell12", "Edwin Drood", "Mark"])

FORMS = [
    "thanks Nell.Trent",
    "thanks Nell-Trent",
    "thanks Nell_Trent",
    "thanks NellTrent",
    "thanks nelltrent",
    "thanks NELL-TRENT",
    "thanks nell.trent",
    "thanks little nell12",
    "thanks little-nell12",
    "thanks littlenell12",
    "thanks little.nell12",
    "thanks LITTLE NELL12",
    "thanks LittleNell12",
    "thanks Edwin.Drood",
    "thanks EdwinDrood",
    "thanks Edwin_Drood",
]

#: prose near the names that must stay as it is: one part alone, the parts in another order or
#: with something between them, a part glued to another word, a capitalised single name's case
KEPT = [
    "Nell is here and Trent too",
    "Trent Nell and trent.nell",
    "Nell, Trent",
    "little nell",
    "little nell 12",
    "nell12 little",
    "NellTrenton and xNellTrent",
    "mark it, Edwin",
    "the drood edwin case",
]


@pytest.mark.parametrize("text", FORMS)
def test_a_name_joined_or_re_separated_is_redacted(text: str) -> None:
    assert scrub_text(text, NAMES) == "thanks [user]"
    assert NAMES.mentions(text)


@pytest.mark.parametrize("text", KEPT)
def test_prose_around_the_parts_of_a_name_is_kept(text: str) -> None:
    assert scrub_text(text, NAMES) == text


def test_both_engines_agree_on_the_forms_and_the_prose() -> None:
    texts = [*FORMS, *KEPT, "Nell-Trent's and nelltrent-style, littlenell12.xyz", None]
    got = scrub.scrub_series(pl.Series(texts, dtype=pl.String), NAMES).to_list()
    assert got == [scrub_text(t, NAMES) for t in texts]
    hit = scrub.mentions_series(pl.Series(texts, dtype=pl.String), NAMES).to_list()
    assert hit == [t is not None and NAMES.mentions(t) for t in texts]


def test_forms_of_a_name_and_their_keys() -> None:
    assert name_forms.name_forms("Nell Trent") == {
        "Nell.Trent",
        "Nell-Trent",
        "Nell_Trent",
        "NellTrent",
    }
    assert name_forms.name_forms("little_nell12") == {
        "little nell12",
        "little.nell12",
        "little-nell12",
        "littlenell12",
    }
    assert name_forms.name_forms("nell") == set()  # one part: no other form
    assert {name_forms.form_key(f) for f in name_forms.name_forms("Nell Trent")} == {
        "nell trent",
        "nelltrent",
    }


def test_a_form_that_is_an_ordinary_word_is_kept_the_name_as_written_is_not() -> None:
    # "icecream" and "covid 19" are words of the dump: those forms stay, the others go
    red = NameRedactor(["Ice Cream", "covid_19"], ordinary={"icecream", "covid 19"})
    assert scrub_text("Ice Cream, icecream, Icecream, ice-cream", red) == (
        "[user], icecream, Icecream, [user]"
    )
    assert scrub_text("covid_19, covid-19, COVID 19, covid19", red) == (
        "[user], covid-19, COVID 19, [user]"
    )
    texts = ["Ice Cream, icecream, Icecream, ice-cream", "covid_19, covid-19, COVID 19, covid19"]
    got = scrub.scrub_series(pl.Series(texts), red).to_list()
    assert got == [scrub_text(t, red) for t in texts]


def test_form_authors_counts_a_phrase_whatever_separates_its_words() -> None:
    posts = pl.DataFrame(
        {
            "account_id": ["a", "b", "c", "d", "e"],
            "text": ["Ice Cream!", "ice-cream", "ICE.CREAM", "nice creams", "IceCream"],
        }
    )
    pairs = name_forms.form_authors(posts, ["ice cream", "icecream"])
    assert sorted(pairs.iter_rows()) == [
        ("a", "ice cream"),
        ("b", "ice cream"),
        ("c", "ice cream"),
        ("e", "icecream"),
    ]
    assert name_forms.form_authors(posts, []).height == 0


def _dump(texts: list[str], is_minor: bool = False) -> SourceTables:
    """A dump of one account (handle "ice_cream", display name "Nell Trent") and ten authors
    of ``texts``."""
    accounts = frame(
        [
            dict(
                account_id="k0",
                platform="x",
                handle="ice_cream",
                display_name="Nell Trent",
                is_minor=is_minor,
            )
        ],
        "accounts",
    )
    posts = frame(
        [
            dict(post_id=f"p{i}", platform="x", account_id=f"w{i % 10}", kind="post", text=t)
            for i, t in enumerate(texts)
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


#: ten authors write "ice cream" and "icecream": ordinary words of the dump
ORDINARY = [f"I love ice cream and icecream {i}" for i in range(10)]


def test_ingest_keeps_forms_many_authors_write_and_redacts_the_rest() -> None:
    red = ingest_names.redactor_for(_dump(ORDINARY))
    assert scrub_text("ice cream, icecream, Ice-Cream", red) == "ice cream, icecream, Ice-Cream"
    assert scrub_text("ice_cream and NellTrent", red) == "[user] and [user]"
    # written by three authors only: the forms are the name's, not words of the dump
    red = ingest_names.redactor_for(_dump(ORDINARY[:3]))
    assert scrub_text("ice cream, icecream", red) == "[user], [user]"


def test_forms_of_a_removed_account_are_redacted_even_when_ordinary() -> None:
    red = ingest_names.redactor_for(_dump(ORDINARY, is_minor=True))
    assert scrub_text("ice cream, icecream, ice_cream", red) == "[user], [user], [user]"


def _general_build(names: list[str], ordinary: set[str]) -> NameRedactor:
    """The redactor's entries by the general path only (``_add`` of every form)."""
    from analysis.names import name_variants

    out = NameRedactor([])
    seen: set[str] = set()  # the entries the build adds
    skip = {w.casefold() for w in ordinary}
    for name in names:
        variants = name_variants(name, out.min_len)
        for v in variants - set(ordinary):
            out._add(v, False, seen)
        for v in variants:
            for f in name_forms.person_forms(v):
                if name_forms.form_key(f) not in skip:
                    out._add(f, True, seen, cased=True)
            for f in name_forms.name_forms(v):
                if name_forms.form_key(f) not in skip:
                    out._add(f, True, seen)
    out._freeze(seen)
    return out


def test_the_ascii_fast_path_builds_the_general_paths_entries() -> None:
    import random

    rng = random.Random(7)
    alphabet = "aZ9_ .-'x"
    names = ["Ada Quill", "quill_ada7", "a b", "a_b", "x-y", "Ice Cream", "ab.cd", "O'Brien Smith"]
    names += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 9))) for _ in range(3000)]
    ordinary = {"ice cream", "abcd", "a b"}
    fast, general = NameRedactor(names, ordinary=ordinary), _general_build(names, ordinary)
    assert fast.encoded == general.encoded
    assert fast.buckets() == general.buckets()


def test_the_entries_are_held_as_one_sorted_list_of_strings() -> None:
    """One string per entry in one sorted list (tuples in a set and in per-token lists held
    ~1.3 GiB for a 10M-post dump's names): the matcher finds an entry, and the entries that
    begin with a token, by binary search, so the order must be Python's own."""
    import random

    from analysis.names import decode_entry, encode_entry

    red = NameRedactor(["Ada Quill", "ada_quill", "Quill Ada", "Bo Quill-Ada", "Émile Zoë", "M"])
    assert red.encoded == sorted(set(red.encoded)) and red.encoded
    assert all(type(e) is str for e in red.encoded)
    assert ("ada", "quill") in {k for k, _, _ in red.entries()}
    # a bucket holds the entries whose first token folds to its key, cased ones too
    assert red.buckets()["quill"] == {
        (("quill", "ada"), (" ",), False),
        (("quill", "ada"), ("-",), False),
        (("quill", "ada"), (".",), False),
        (("Quill", "Ada"), (", ",), True),  # "Ada Quill" cited
        (("Quill", "Adas"), (" ",), True),  # "Quill Ada" in the genitive
        (("Quill", "Ada", "Bo"), ("-", ", "), True),  # "Bo Quill-Ada" cited
    }
    assert ("émile", "zoë") in {k for k, _, cs in red.buckets()["émile"] if not cs}
    assert "m" not in red.buckets()  # shorter than min_len
    # the two characters the format reserves are never in a token or a separator: a name or
    # text holding them is split there, the separator read as whitespace (``names._separator``
    # collapses Python's ``\s``, which takes \x1c-\x1f, to one space); the entries then
    # decode to what the matcher compares, and such a name is still found
    odd = NameRedactor(["Ada\x1fQuill", "Bo\x1e\x1dLi Wu", "x\x1cyz\x1fabc"])
    for e in odd.encoded:
        assert e.count("\x1e") == 1
        key, seps, _ = decode_entry(e)
        assert encode_entry(key, seps, _) == e
        assert not any(c in "".join((*key, *seps)) for c in "\x1c\x1d\x1e\x1f")
    assert ("ada", "quill") in {k for k, _, _ in odd.entries()}
    assert odd.redact("hi Ada\x1fQuill and bo li wu") == "hi [user] and [user]"
    # every token and separator the redactor can hold survives the round trip
    rng = random.Random(11)
    word = "aZé9_ßﬃМ"
    for _ in range(500):
        n = rng.randint(1, 4)
        key = tuple("".join(rng.choice(word) for _ in range(rng.randint(1, 5))) for _ in range(n))
        seps = tuple(rng.choice(["", " ", ".", "-", ", ", "'"]) for _ in range(n - 1))
        cs = rng.random() < 0.5
        assert decode_entry(encode_entry(key, seps, cs)) == (key, seps, cs)


def test_form_keys_are_the_keys_of_every_form() -> None:
    import random

    rng = random.Random(3)
    names = [
        "".join(rng.choice("aB9_ .-'é") for _ in range(rng.randint(1, 8))) for _ in range(3000)
    ]
    names += ["Ada Quill", "Ada Quill Bo", "ada Quill", "Ada Quills", "Ada 7"]
    forms = [f for n in names for f in name_forms.name_forms(n) | name_forms.person_forms(n)]
    expected = {name_forms.form_key(f) for f in forms}
    assert name_forms.form_keys(names) == expected


def test_form_authors_finds_every_key_a_plain_scan_finds() -> None:
    """Against a scan of every text's n-grams in Python: texts ending on a key's first word,
    keys across two texts of one author, and keys of one, two and three words."""
    import random
    import re

    rng = random.Random(11)
    vocab = ["ada", "quill", "ice", "cream", "x7", "bo", "ada7", "the"]
    texts = [
        " ".join(rng.choice(vocab) + rng.choice(["", ".", "-", "_", ","]) for _ in range(n))
        for n in [rng.randint(0, 6) for _ in range(400)]
    ]
    authors = [f"a{rng.randint(0, 30)}" for _ in texts]
    keys = ["ada quill", "ice cream", "adaquill", "x7", "quill ada7 the", "bo bo", "cream ice x7"]
    posts = pl.DataFrame({"account_id": authors, "text": texts})
    expected = set()
    for author, text in zip(authors, texts, strict=True):
        words = re.findall(r"[^\W_]+", text.lower())
        for n in (1, 2, 3):
            for i in range(len(words) - n + 1):
                if " ".join(words[i : i + n]) in keys:
                    expected.add((author, " ".join(words[i : i + n])))
    got = name_forms.form_authors(posts, keys)
    assert set(got.iter_rows()) == expected
    assert len(expected) > 20
    # the keys made ready once and used on every part, as ingest's streaming engine does
    ready = name_forms.FormKeys(keys)
    parts = [name_forms.form_authors(posts.slice(i, 57), ready) for i in range(0, 400, 57)]
    assert set(pl.concat(parts).iter_rows()) == expected
    assert not name_forms.FormKeys([]) and name_forms.form_authors(posts, []).height == 0


#: a display name of two capitalised words as a person is cited, and prose near it that stays
#: (red-team probe: "M. Quenby said" and "Quenby, Marisol wrote" were kept whole)
CITED = NameRedactor(["zorbatron", "Marisol Quenby", "The Onion", "you no", "BeCompliant Tax"])
CITED_FORMS = {
    "M. Quenby said": "[user] said",
    "Quenby, Marisol wrote": "[user] wrote",
    "Quenby,\nMarisol wrote": "[user] wrote",
    "Marisol Quenbys Buch": "[user] Buch",
    "M. Quenby's and Quenby, Marisol": "[user]'s and [user]",
}
CITED_KEPT = [
    "Quenby said",  # the surname alone
    "Marisols Buch",  # a genitive "s" on one word
    "zorbatrons",
    "M Quenby and Quenby Marisol",  # no dot, no comma: prose as often as a name
    "quenby, marisol and m. quenby",  # in the case written only
    "sticks to the onions",  # "The Onions" only as written
    "no, you can't. solvent-y. No",  # a name of lower-case words ("you no") has no such form
    "Kansas C.M.B.Tax paid",  # no "F.Last" without a space
]


@pytest.mark.parametrize("text", [*CITED_FORMS, *CITED_KEPT])
def test_a_display_name_as_a_person_is_cited_is_redacted_by_both_routes(text: str) -> None:
    want = CITED_FORMS.get(text, text)
    assert scrub_text(text, CITED) == want
    assert scrub.scrub_series(pl.Series([text]), CITED).to_list() == [want]
    assert CITED.mentions(text) == (text in CITED_FORMS)
    assert scrub.mentions_series(pl.Series([text]), CITED).to_list() == [text in CITED_FORMS]


def test_a_citation_form_obeys_the_ordinary_word_rule_and_has_keys_ingest_counts() -> None:
    assert name_forms.person_forms("Marisol Quenby") == {
        "Quenby, Marisol",
        "M. Quenby",
        "Marisol Quenbys",
    }
    assert name_forms.person_forms("Marisol Ann Quenby") == {"Marisol Ann Quenbys"}
    assert name_forms.person_forms("Nell Ross") == {"Ross, Nell", "N. Ross"}  # no "Rosss"
    assert name_forms.person_forms("you no") == name_forms.person_forms("zorbatron") == set()
    assert {"quenby marisol", "m quenby", "marisol quenbys"} <= name_forms.form_keys(
        ["Marisol Quenby"]
    )
    red = NameRedactor(["Marisol Quenby"], ordinary={"m quenby"})
    texts = ["M. Quenby said", "Quenby, Marisol said"]
    assert [scrub_text(t, red) for t in texts] == ["M. Quenby said", "[user] said"]
    assert scrub.scrub_series(pl.Series(texts), red).to_list() == ["M. Quenby said", "[user] said"]


def test_the_pairs_of_many_batches_are_every_pair_once(monkeypatch) -> None:
    """The redactor's build gathers each batch's (author, word) pairs and makes them distinct
    only now and then (made distinct after every batch, the build grew with the square of the
    dump): what it returns is every pair added, once, compacted along the way or not."""
    rng = np.random.default_rng(5)
    parts = [
        pl.DataFrame(
            {
                "account_id": [f"a{i}" for i in rng.integers(0, 6, n)],
                "w": [f"w{i}" for i in rng.integers(0, 9, n)],
            }
        )
        for n in rng.integers(0, 12, 40)
    ]
    want = pl.concat(parts).unique().sort("account_id", "w")
    for least in (1, 10, 10**9):
        monkeypatch.setattr(ingest_names, "COMPACT_MIN_ROWS", least)
        pairs = ingest_names._Pairs()
        compacted = False
        for part in parts:
            pairs.add(part)
            compacted |= pairs._kept.height > 0
        assert compacted == (least < 10**9)
        assert pairs.distinct().sort("account_id", "w").equals(want)


def test_the_redactor_is_the_same_built_in_batches_of_any_size(monkeypatch) -> None:
    """Texts read one, two or seven at a time (the streaming engine), the pairs compacted after
    every batch or never: the same ordinary words, hence the same redactor, as all at once."""
    dump = _dump([*ORDINARY, *ORDINARY[:4], "Nell wrote ice cream", "nell trent"])
    whole = ingest_names.redactor_for(dump).encoded
    for least in (1, 10**9):
        monkeypatch.setattr(ingest_names, "COMPACT_MIN_ROWS", least)
        for rows in (1, 2, 7):
            assert ingest_names.redactor_for(dump, batch_rows=rows).encoded == whole
    # the dump's ordinary forms were found (the texts count, not only the names)
    assert ingest_names.redactor_for(_dump(ORDINARY[:3])).encoded != whole
