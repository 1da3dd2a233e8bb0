"""Refuse names that point the pipeline at a protected trait of a person.

Design note: mediaguard moderates content, never people. A detector category, a label,
a hash-list category or a verdict field that names ethnicity, race, religion, gender,
age, identity (or a religious garment or a group of people) would turn a moderation
pipeline into a profiling tool, so such names are refused when they are loaded, with a
message that says why. The check is deliberately conservative: a false refusal costs a
rename, a false acceptance costs people their safety.
"""

from __future__ import annotations

import re

from mediaguard.errors import ProtectedTraitError

# Whole words (after splitting on non-letters and camelCase) that name a trait of a person.
_WORDS = frozenset(
    {
        # ethnicity, race, nationality
        "ethnic",
        "ethnicity",
        "ethnicities",
        "race",
        "races",
        "racial",
        "nationality",
        "caste",
        "tribe",
        "tribal",
        "skin",
        "skintone",
        "complexion",
        "ancestry",
        "uyghur",
        "uighur",
        "uygur",
        "tibetan",
        "rohingya",
        "roma",
        "kurd",
        "kurdish",
        "arab",
        "asian",
        "african",
        "caucasian",
        "hispanic",
        "latino",
        "latina",
        "indigenous",
        # religion, religious dress and symbols
        "religion",
        "religions",
        "religious",
        "faith",
        "muslim",
        "islam",
        "islamic",
        "jew",
        "jewish",
        "christian",
        "hindu",
        "sikh",
        "buddhist",
        "hijab",
        "niqab",
        "burqa",
        "burka",
        "chador",
        "headscarf",
        "veil",
        "turban",
        "kippah",
        "yarmulke",
        "crucifix",
        # gender, sex, sexuality
        "gender",
        "male",
        "female",
        "man",
        "men",
        "woman",
        "women",
        "boy",
        "girl",
        "transgender",
        "nonbinary",
        "orientation",
        "gay",
        "lesbian",
        "bisexual",
        "lgbt",
        "lgbtq",
        "queer",
        # age
        "age",
        "ages",
        "aged",
        "agegroup",
        # identity, biometrics
        "identity",
        "identify",
        "identification",
        "faceid",
        "recognition",
        "embedding",
        "embeddings",
        "biometric",
        "biometrics",
        # political opinion
        "political",
        "politics",
        "protest",
        "protester",
        "dissident",
        "opinion",
        # health, disability
        "disability",
        "disabled",
        "pregnant",
        "pregnancy",
    }
)

# Stems matched inside longer tokens, kept to ones that cannot occur in innocent words.
_STEMS = (
    "ethnic",
    "religio",
    "gender",
    "uyghur",
    "uighur",
    "tibetan",
    "rohingya",
    "skintone",
    "nationalit",
    "faceembed",
    "facerecog",
    "faceident",
    "facematch",
)

_SPLIT = re.compile(r"[^A-Za-z]+|(?<=[a-z])(?=[A-Z])")


def protected_term(name: str) -> str | None:
    """Return the protected term that ``name`` contains, or None when it contains none."""
    tokens = [t.lower() for t in _SPLIT.split(name) if t]
    for token in tokens:
        if token in _WORDS:
            return token
    joined = "".join(tokens)
    for stem in _STEMS:
        if stem in joined:
            return stem
    return None


def check_name(kind: str, name: str) -> None:
    """Refuse ``name`` when it names a protected trait of a person.

    Args:
        kind: what the name is, for the message (e.g. ``"detector category"``).
        name: the name to check.

    Raises:
        ProtectedTraitError: when the name contains a protected term.
    """
    term = protected_term(name)
    if term is not None:
        raise ProtectedTraitError(
            f"{kind} {name!r} is refused: {term!r} names a protected trait of a person. "
            "mediaguard moderates content, never people: it infers no ethnicity, race, "
            "religion, gender, age or identity. Rename the category after the content it "
            "flags (for example 'weapon' or 'graphic_violence')."
        )
