"""The explanation is tied to the person's own answers and stays kind and non-medical."""

from __future__ import annotations

import msgspec
import pytest

from mp_core.schema import StudentProfile
from mp_ui.explain import (
    class_label,
    concerns_for,
    explain,
    risk_level,
    strengths_for,
)

BALANCED = StudentProfile(
    Age=21,
    Gender="Female",
    Department="Science",
    CGPA=3.4,
    Sleep_Duration=8.0,
    Study_Hours=4.0,
    Social_Media_Hours=1.5,
    Physical_Activity=200.0,
    Stress_Level=3,
)


def with_(**changes: object) -> StudentProfile:
    return msgspec.structs.replace(BALANCED, **changes)


def topics(profile: StudentProfile) -> list[str]:
    return [o.topic for o in concerns_for(profile)]


def test_a_balanced_week_raises_no_concern_and_lists_strengths() -> None:
    assert concerns_for(BALANCED) == ()
    strengths = strengths_for(BALANCED)
    assert len(strengths) == 3
    assert "8 hours" in strengths[0]


@pytest.mark.parametrize(
    ("changes", "topic", "quoted"),
    [
        ({"Sleep_Duration": 5.5}, "Sleep", "5.5 hours"),
        ({"Sleep_Duration": 12.0}, "Sleep", "12 hours"),
        ({"Stress_Level": 8}, "Stress", "8 out of 10"),
        ({"Physical_Activity": 30.0}, "Movement", "30 minutes"),
        ({"Social_Media_Hours": 5.0}, "Screens", "5 hours"),
        ({"Study_Hours": 10.0}, "Study load", "10 hours"),
        ({"CGPA": 1.5}, "Studies", "1.5 out of 4"),
    ],
)
def test_each_answer_worth_a_word_is_quoted_with_a_suggestion(
    changes: dict[str, object], topic: str, quoted: str
) -> None:
    found = concerns_for(with_(**changes))
    assert [o.topic for o in found] == [topic]
    assert quoted in found[0].finding
    assert found[0].suggestion.endswith(".")


def test_thresholds_sit_where_the_guidance_says() -> None:
    assert "Sleep" not in topics(with_(Sleep_Duration=7.0))
    assert "Sleep" in topics(with_(Sleep_Duration=6.9))
    assert "Stress" not in topics(with_(Stress_Level=7))
    assert "Movement" not in topics(with_(Physical_Activity=150.0))
    assert "Movement" in topics(with_(Physical_Activity=149.0))


def test_one_hour_is_singular() -> None:
    (sleep,) = concerns_for(with_(Sleep_Duration=1.0))
    assert "about 1 hour a night" in sleep.finding


def test_risk_levels_and_class_labels() -> None:
    assert risk_level(0.1) == "lower"
    assert risk_level(0.35) == "moderate"
    assert risk_level(0.65) == "higher"
    assert class_label(1) == "Higher risk pattern"
    assert class_label(0) == "Lower risk pattern"


@pytest.mark.parametrize(
    ("probability", "words"),
    [(0.89, "an 89% chance"), (0.08, "an 8% chance"), (0.11, "an 11% chance"),
     (0.18, "an 18% chance"), (0.64, "a 64% chance"), (0.01, "a 1% chance")],
)  # fmt: skip
def test_the_chance_takes_the_article_its_number_is_read_with(
    probability: float, words: str
) -> None:
    assert words in explain(BALANCED, 0, probability).summary


@pytest.mark.parametrize("prediction", [0, 1])
def test_the_wording_is_plain_and_never_a_diagnosis(prediction: int) -> None:
    explanation = explain(with_(Sleep_Duration=5.0, Stress_Level=9), prediction, 0.72)
    text = " ".join(
        [explanation.headline, explanation.summary, explanation.closing]
        + [o.finding + o.suggestion for o in explanation.concerns]
    ).lower()
    assert "72%" in text
    assert "not a diagnosis" in text
    for claim in ("you have depression", "you are depressed", "disorder", "diagnosed"):
        assert claim not in text
    assert [o.topic for o in explanation.concerns] == ["Sleep", "Stress"]


def test_a_result_without_concerns_says_so() -> None:
    explanation = explain(BALANCED, 0, 0.08)
    assert "None of your answers stands out" in explanation.summary
