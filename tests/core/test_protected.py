"""The protected-trait check that guards categories, labels and verdict fields."""

from __future__ import annotations

import pytest

from mediaguard.errors import ProtectedTraitError
from mediaguard.signals.protected import check_name, protected_term


@pytest.mark.parametrize(
    "name",
    [
        "ethnicity",
        "Ethnic_Group",
        "race",
        "skin_tone",
        "skinTone",
        "religion",
        "religious_symbol",
        "hijab",
        "Uyghur",
        "uighur_face",
        "gender",
        "FACE_FEMALE",
        "FACE_MALE",
        "apparent-age",
        "age_estimate",
        "face_recognition",
        "faceEmbedding",
        "identity",
        "political_protest",
        "sexual_orientation",
    ],
)
def test_protected_names_are_refused(name: str) -> None:
    assert protected_term(name) is not None
    with pytest.raises(ProtectedTraitError) as info:
        check_name("detector label", name)
    assert "protected trait" in str(info.value)
    assert name in str(info.value)


@pytest.mark.parametrize(
    "name",
    [
        "sexual",
        "suggestive",
        "weapon",
        "graphic_violence",
        "drugs",
        "explicit",
        "genitalia_exposed",
        "breast_exposed",
        "terrorism",
        "csam",
        "extremist_flag",
        "broadcaster_logo",
        "spam",
        "gore",
        "self_harm",
        "person",
    ],
)
def test_content_categories_pass(name: str) -> None:
    assert protected_term(name) is None
    check_name("detector category", name)
