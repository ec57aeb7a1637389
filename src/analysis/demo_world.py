"""Stage ``demo``: what the simulated community is made of (data only; ``analysis.demo`` runs it).

The subjects people write about and their vocabularies (nouns, adjectives, verbs), the one-off
subject, the post templates, the syllables and surnames of made-up names, and the planted roles
with their shares and behaviour. The literals here are data, not the software's prose
(``audit_software.NOT_PROSE``). Changing any of them changes the demo dump.
"""

from __future__ import annotations

import numpy as np

SUBJECTS: dict[str, dict[str, list[str]]] = {
    "coffee": {
        "n": [
            "espresso",
            "grinder",
            "burr",
            "portafilter",
            "crema",
            "pour-over",
            "roast",
            "beans",
            "extraction",
            "tamper",
            "aeropress",
            "kettle",
            "filter paper",
            "bloom",
            "dose",
        ],
        "a": [
            "bitter",
            "sour",
            "balanced",
            "fruity",
            "light-roast",
            "dark-roast",
            "fresh",
            "stale",
        ],
        "v": ["grind", "brew", "dial in", "tamp", "steam", "bloom", "pull"],
    },
    "cycling": {
        "n": [
            "derailleur",
            "chainring",
            "cassette",
            "tubeless tyre",
            "saddle",
            "crankset",
            "disc brake",
            "cadence",
            "climb",
            "gravel bike",
            "inner tube",
            "spoke",
            "headset",
        ],
        "a": ["stiff", "lightweight", "worn", "noisy", "aero", "true", "slack"],
        "v": ["ride", "shift", "pedal", "patch", "adjust", "index", "climb"],
    },
    "astronomy": {
        "n": [
            "telescope",
            "eyepiece",
            "nebula",
            "galaxy",
            "star chart",
            "refractor",
            "aperture",
            "light pollution",
            "Jupiter",
            "Saturn rings",
            "meteor shower",
            "equatorial mount",
        ],
        "a": ["faint", "bright", "dark-sky", "wide-field", "collimated", "magnified"],
        "v": ["observe", "collimate", "track", "image", "align", "spot"],
    },
    "gardening": {
        "n": [
            "compost",
            "tomato seedlings",
            "raised bed",
            "mulch",
            "aphids",
            "perennials",
            "potting soil",
            "pruning shears",
            "clay soil",
            "rose bush",
            "herb garden",
            "manure",
        ],
        "a": ["leggy", "wilting", "acidic", "well-drained", "organic", "hardy"],
        "v": ["prune", "transplant", "water", "sow", "fertilise", "weed"],
    },
    "python": {
        "n": [
            "list comprehension",
            "virtualenv",
            "decorator",
            "type hints",
            "asyncio",
            "dataframe",
            "pytest fixture",
            "generator",
            "dictionary",
            "traceback",
            "import error",
        ],
        "a": ["idiomatic", "slow", "vectorised", "mutable", "immutable", "lazy"],
        "v": ["refactor", "profile", "debug", "install", "annotate", "test"],
    },
    "baking": {
        "n": [
            "sourdough starter",
            "gluten",
            "proofing basket",
            "crumb",
            "oven spring",
            "rye flour",
            "hydration",
            "scoring blade",
            "brioche",
            "butter",
            "yeast",
            "dutch oven",
        ],
        "a": ["dense", "airy", "crusty", "underproofed", "overproofed", "chewy"],
        "v": ["knead", "proof", "shape", "score", "bake", "fold"],
    },
    "photography": {
        "n": [
            "aperture ring",
            "shutter speed",
            "prime lens",
            "ISO noise",
            "tripod",
            "histogram",
            "golden hour",
            "bokeh",
            "raw file",
            "white balance",
            "mirrorless body",
        ],
        "a": ["sharp", "overexposed", "underexposed", "grainy", "wide", "crisp"],
        "v": ["shoot", "expose", "edit", "frame", "focus", "bracket"],
    },
    "energy": {
        "n": [
            "heat pump",
            "solar panels",
            "inverter",
            "battery storage",
            "insulation",
            "grid tariff",
            "kilowatt hours",
            "wind turbine",
            "smart meter",
            "radiator",
        ],
        "a": ["efficient", "expensive", "off-grid", "draughty", "renewable", "cheap"],
        "v": ["install", "insulate", "meter", "retrofit", "charge", "export"],
    },
}
#: The unrelated subject that one-off posters write about exactly once (Klout's "Barbie" case).
ONE_OFF_SUBJECT = "dolls"
ONE_OFF = {
    "n": [
        "fashion doll",
        "doll house",
        "movie premiere",
        "pink outfit",
        "collector edition",
        "toy aisle",
        "doll accessories",
        "film soundtrack",
    ],
    "a": ["pink", "glamorous", "nostalgic", "collectible", "sparkly"],
    "v": ["collect", "dress", "watch", "unbox", "display"],
}
TEMPLATES_ROOT = [
    "Has anyone tried to {v} the {n1} with a {a} {n2}? Mine keeps ending up {a2} and I am not sure why.",
    "Quick question about {n1}: what is the best way to {v} it when the {n2} is {a}?",
    "I spent the weekend trying to {v} my {n1}. The {n2} turned out {a}, which surprised me. Any tips?",
    "Thoughts on {a} {n1} versus a {a2} {n2}? I want to {v} properly this time.",
    "Here is what I learned after a month with a {a} {n1}: {v} slowly, check the {n2}, and keep notes.",
    "Why does my {n1} get {a} every time I {v} it? I already replaced the {n2}.",
]
TEMPLATES_REPLY = [
    "In my experience the {n1} matters more than the {n2}. Try to {v} it a bit more gently.",
    "Same here. A {a} {n1} fixed it for me, together with a better {n2}.",
    "I would {v} the {n2} first; a {a} {n1} is usually the cause.",
    "Good point about the {n1}. Did you check whether the {n2} is {a}?",
    "That matches what I saw: {v} less, and the {n1} stops being {a}.",
]
LOW_VALUE = [
    "Good morning everyone! New post today, like and share!",
    "Follow for more daily content! Big things coming soon.",
    "Another day, another post. Do not forget to like and follow.",
    "Check out my latest update, you will not want to miss it!",
    "Happy {day}! Drop a like if you agree.",
]
SYLLABLES = [
    "ka",
    "ri",
    "mo",
    "ta",
    "lu",
    "ne",
    "so",
    "vi",
    "da",
    "pe",
    "zo",
    "mi",
    "ra",
    "ol",
    "an",
    "be",
    "ki",
    "no",
    "sa",
    "tu",
    "el",
    "fa",
    "go",
    "hi",
]
SURNAMES = [
    "Kettleworth",
    "Brannigan",
    "Oyelaran",
    "Szymanska",
    "Delacroix",
    "Haverford",
    "Quintero",
    "Lindqvist",
    "Marchetti",
    "Nakagawa",
    "Abernathy",
    "Vasquez-Orr",
    "Thorncastle",
    "Whitlock",
    "Eriksdottir",
    "Pemberton",
    "Ravenscroft",
    "Achterberg",
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

ROLE_SHARES = {
    "broadcaster": 0.08,
    "expert": 0.10,
    "conversationalist": 0.15,
    "gamer": 0.08,
    "regular": 0.59,
}
#: root posts per day, mean replies drawn per root post, chance to answer back in own threads,
#: tendency to reply to others (relative), follower scale (log10 mean)
ROLE_BEHAVIOUR = {
    "broadcaster": dict(rate=0.8, replies=0.25, answer_back=0.05, replier=0.2, log_followers=5.0),
    "expert": dict(rate=0.15, replies=6.0, answer_back=0.7, replier=1.0, log_followers=2.4),
    "conversationalist": dict(
        rate=0.2, replies=2.5, answer_back=0.8, replier=4.0, log_followers=2.7
    ),
    "gamer": dict(rate=2.0, replies=0.03, answer_back=0.0, replier=0.05, log_followers=3.3),
    "regular": dict(rate=0.1, replies=0.8, answer_back=0.3, replier=0.6, log_followers=2.2),
}


def person_name(rng: np.random.Generator) -> tuple[str, str]:
    """A made-up ``(handle, display name)``: two or three syllables and a surname."""
    first = "".join(rng.choice(SYLLABLES, size=rng.integers(2, 4))).capitalize()
    last = str(rng.choice(SURNAMES))
    handle = f"{first.lower()}_{last.lower()[:6]}{rng.integers(10, 99)}"
    return handle, f"{first} {last}"


def fill(template: str, vocab: dict[str, list[str]], rng: np.random.Generator) -> str:
    """``template`` with nouns, adjectives and a verb of ``vocab`` drawn in."""
    n1, n2 = rng.choice(vocab["n"], size=2, replace=False)
    a1, a2 = rng.choice(vocab["a"], size=2, replace=False)
    return template.format(n1=n1, n2=n2, a=a1, a2=a2, v=rng.choice(vocab["v"]), day="friend")
