"""A name of several parts written joined or re-separated: the forms the redactor adds.

Used by ``analysis.names.NameRedactor`` (both scrubbing engines read its entries) and by stage
``ingest``, which counts which forms are ordinary words of a run (``ingest_names``); reads and
writes nothing.

A display name "Ada Quill" is also written "Ada.Quill", "Ada-Quill", "Ada_Quill" or
"AdaQuill"; a handle "quill_ada7" also "quill ada7", "quill-ada7", "quill.ada7" or
"quillada7". A name's *parts* are its runs of letters and digits (``_`` separates them,
as space, ".", "-" and "'" do); a name of two parts or more gets :data:`SEPARATORS` between them.

A form of two common words can be prose ("ice cream" from a handle "ice_cream", "icecream"
from a display name "Ice Cream", "covid-19" from "covid_19"): the rule for names that are
ordinary words (``names.ordinary_words``) applies to every form. A form is known by its
:func:`form_key`; a key that at least ``min_authors`` authors of the run write (counted by
:func:`form_authors`, whatever the separators between the words) is ordinary and that form is
not redacted. The name as written keeps the rule it always had.

A display name of capitalised words is also written as people cite a person
(:func:`person_forms`): of two words, "Quenby, Marisol" (surname first, a comma) and
"M. Quenby" (the given name's initial); of two words or more, the genitive without an
apostrophe ("Marisol Quenbys Buch", as German and Dutch write it). They are matched in the case
written (``names.NameRedactor``) and obey the ordinary-word rule as the other forms do (keys
"quenby marisol", "m quenby", "marisol quenbys"). Left out as over-redacting, on the beer
site's texts: a name of lower-case words ("you no" gave "no, you" and "y. No"), "M.Quenby"
without a space (the user "BeCompliant Tax" took "C.M.B.Tax"), the surname alone, the parts
reversed without a comma ("Trent Nell" is prose as often as a name), an initial without its
dot ("A Porter", "I Stout" are prose) and a genitive "s" on a single word ("Marisols", "Marks").
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import polars as pl

from analysis.sorted_sets import member, sorted_set

#: what is put between the parts of a name: the space, ".", "-", "_" and nothing (joined)
SEPARATORS = (" ", ".", "-", "_", "")
#: a part of a name: a run of letters and digits (``_`` is a word character but separates)
PART = re.compile(r"[^\W_]+", re.U)
#: a part of an ASCII name (:data:`PART` on ASCII text; ``names.NameRedactor``'s fast path)
PART_ASCII = re.compile(r"[A-Za-z0-9]+")
#: the same in Rust regex syntax (:func:`form_authors`)
_PART_RS = r"[^\W_]+"


def name_forms(name: str) -> set[str]:
    """The name joined and re-separated by each of :data:`SEPARATORS`, the name itself left out.

    ``name`` is one variant (``names.name_variants``); a name of one part has no other form.
    """
    parts = PART.findall(name)
    if len(parts) < 2:
        return set()
    return {sep.join(parts) for sep in SEPARATORS} - {name}


def person_forms(name: str) -> set[str]:
    """How a display name of capitalised words is cited, the name itself left out.

    Two words "First Last": "Last, First" and "F. Last" (``F`` the given name's first
    letter); two words or more: the genitive "First Lasts" (not after a last "s"). A name
    of one word (a handle) or with a word not capitalised has none (see the module docstring).
    """
    words = name.split()
    if len(words) < 2 or not all(w[0].isupper() for w in words):
        return set()
    out = set()
    if words[-1][-1].isalpha() and words[-1][-1] not in "sS":
        out.add(f"{' '.join(words)}s")
    if len(words) == 2:
        first, last = words
        out |= {f"{last}, {first}", f"{first[0]}. {last}"}
    return out - {name}


def form_key(form: str) -> str:
    """The words of ``form`` as :func:`form_authors` counts them: parts lower-cased, one space
    between them ("Ada-Quill", "ada_quill" -> "ada quill"; "AdaQuill" -> "adaquill")."""
    return " ".join(PART.findall(form.casefold()))


def form_keys(names: set[str] | list[str]) -> set[str]:
    """The keys of every form of ``names`` (a run's name variants)."""
    out: set[str] = set()
    for n in names:
        out |= {form_key(f) for f in person_forms(n)}
        if not n.isascii():
            out |= {form_key(f) for f in name_forms(n)}
            continue
        # an ASCII name of two parts or more: its forms have two keys, spaced and joined
        low = [p.lower() for p in PART_ASCII.findall(n)]
        if len(low) > 1:
            out |= {" ".join(low), "".join(low)}
    return out


def _anchor(words: list[str]) -> str:
    """The first of ``words``, or the longest if the first is shorter than 4 characters."""
    return words[0] if len(words[0]) >= 4 else max(words, key=len)


class FormKeys:
    """A run's form keys made ready for :func:`form_authors`: the prefilter's prefixes and the
    sorted key sets, built once. Ingest's streaming engine counts its texts a batch at a time;
    built for every batch, they cost ~0.35 s of each 20,000 texts against 300,000 keys (1M
    synthetic posts: its redactor's build 27.2 s, 7.7 s with the keys made ready once)."""

    def __init__(self, keys: Sequence[str]) -> None:
        self.width = max((k.count(" ") + 1 for k in keys), default=0)
        # a text without a key's first word as a substring holds no key (Aho-Corasick
        # prefilter); a first word of under 4 letters (the initial of "m quenby") passed nearly
        # every text: the key's longest word then
        self.firsts = sorted({_anchor(k.split(" "))[:4] for k in keys})
        # each set sorted once, looked up by ``sorted_sets.member`` (``is_in`` hashed the whole
        # set on every call: per batch of the streaming engine, a cost growing with the names)
        multis = [k for k in keys if " " in k]
        self.singles = sorted_set(k for k in keys if " " not in k)
        self.multis = sorted_set(multis)
        self.heads = sorted_set(k.split(" ", 1)[0] for k in multis)

    def __bool__(self) -> bool:
        return self.width > 0


def form_authors(posts: pl.DataFrame, keys: Sequence[str] | FormKeys) -> pl.DataFrame:
    """Distinct (``w``, ``account_id``) pairs: which author wrote which key (one or more words).

    A text's words are its runs of letters and digits, lower-cased; a key of ``n`` words is
    found among each ``n`` consecutive words whatever separates them ("ice cream", "ice-cream"
    and "Ice.Cream" all count for "ice cream"). As ``names.word_authors``, over any part of the
    posts (the pairs of the parts, made distinct, are those of the whole). ``keys``: the keys,
    or them made ready once (:class:`FormKeys`) for many parts.
    """
    empty = pl.DataFrame(schema={"account_id": pl.String, "w": pl.String})
    ready = keys if isinstance(keys, FormKeys) else FormKeys(keys)
    if not ready:
        return empty
    words = (
        posts.lazy()
        .select("account_id", pl.col("text").str.to_lowercase())
        .filter(pl.col("text").str.contains_any(ready.firsts))
        .with_row_index("row")
        .select("row", "account_id", pl.col("text").str.extract_all(_PART_RS).alias("w"))
        .explode("w")
        .collect()
    )

    n = words.height
    found = [words.filter(member(pl.col("w"), ready.singles, n)).select("account_id", "w")]
    # a key of several words only where its first word is: the n-grams of those words alone
    # (every word's n-grams, then the lookup, took twice the time at 1M posts)
    starts = words.with_row_index("i").filter(member(pl.col("w"), ready.heads, n))
    gram, alive = starts["w"], pl.repeat(True, starts.height, eager=True)
    for j in range(1, ready.width):  # the word j places on, while it is in the same text
        at = (starts["i"] + j).clip(upper_bound=max(n - 1, 0))
        alive = alive & (starts["i"] + j < n) & (words["row"].gather(at) == starts["row"])
        gram = gram + " " + words["w"].gather(at)
        found.append(
            pl.DataFrame({"account_id": starts["account_id"], "w": gram}).filter(
                alive & member(pl.col("w"), ready.multis, starts.height)
            )
        )
    out = pl.concat(found)
    return out.unique().select("account_id", "w") if out.height else empty
