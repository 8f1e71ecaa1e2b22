"""The form's steps, hints and checks follow mp-core's schema."""

from __future__ import annotations

import pytest

from mp_core.errors import InvalidProfile
from mp_core.schema import FEATURE_NAMES, SPECS_BY_NAME, feature_specs
from mp_ui.form import (
    STEPS,
    check_fields,
    check_value,
    field_hint,
    field_label,
    format_value,
    profile_from_form,
    widget_for,
)

GOOD = {
    "Gender": "Female",
    "Age": "21",
    "Department": "Science",
    "CGPA": "3,2",
    "Study_Hours": "4",
    "Sleep_Duration": "6.5",
    "Social_Media_Hours": "3.5",
    "Physical_Activity": "120",
    "Stress_Level": 7,
}


def test_the_four_steps_ask_every_feature_once() -> None:
    asked = [name for step in STEPS for name in step.features]
    assert len(STEPS) == 4
    assert sorted(asked) == sorted(FEATURE_NAMES)
    assert STEPS[0].features == ("Gender", "Age", "Department")
    assert STEPS[3].features == ()


def test_every_spec_gets_a_label_a_hint_and_a_widget() -> None:
    for spec in feature_specs():
        assert field_label(spec).startswith(spec.label)
        assert spec.help in field_hint(spec)
        assert widget_for(spec) in {"radio", "dropdown", "slider", "number"}
    sleep = SPECS_BY_NAME["Sleep_Duration"]
    assert field_label(sleep) == "Sleep (hours/day)"
    assert "Allowed: 0 to 24 hours/day." in field_hint(sleep)
    assert widget_for(SPECS_BY_NAME["Gender"]) == "radio"
    assert widget_for(SPECS_BY_NAME["Department"]) == "dropdown"
    assert widget_for(SPECS_BY_NAME["Stress_Level"]) == "slider"
    assert widget_for(SPECS_BY_NAME["Physical_Activity"]) == "number"


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("Sleep_Duration", "30", "Sleep must be a number from 0 to 24; you entered 30 hours/day."),
        ("Sleep_Duration", -1, "Sleep must be a number from 0 to 24; you entered -1 hours/day."),
        ("Age", "20.5", "Age must be a whole number from 16 to 100; you entered 20.5."),
        ("Age", "15", "Age must be a whole number from 16 to 100; you entered 15 years."),
        ("CGPA", "abc", "CGPA must be a number from 0 to 4."),
        ("CGPA", "nan", "CGPA must be a number from 0 to 4."),
        ("CGPA", "", "Please enter a value for CGPA."),
        ("Department", None, "Please choose a value for Department."),
        (
            "Department",
            "Astrology",
            "Department must be one of Engineering, Science, Arts, Business, Medical, Law.",
        ),
    ],
)
def test_bad_values_are_explained_in_words(name: str, raw: object, message: str) -> None:
    value, error = check_value(SPECS_BY_NAME[name], raw)  # type: ignore[arg-type]
    assert value is None
    assert error == message


def test_good_values_come_back_typed() -> None:
    assert check_value(SPECS_BY_NAME["Age"], "21") == (21, None)
    assert check_value(SPECS_BY_NAME["Age"], 21.0) == (21, None)
    assert check_value(SPECS_BY_NAME["CGPA"], "3,5") == (3.5, None)
    assert check_value(SPECS_BY_NAME["Sleep_Duration"], " 0 ") == (0.0, None)
    assert check_value(SPECS_BY_NAME["Gender"], "Other") == ("Other", None)


def test_check_fields_splits_clean_values_from_errors() -> None:
    clean, errors = check_fields(["Age", "Sleep_Duration"], ["22", "25"])
    assert clean == {"Age": 22}
    assert list(errors) == ["Sleep_Duration"]


def test_profile_from_form_builds_the_schema_profile() -> None:
    profile = profile_from_form(GOOD)
    assert profile.Age == 21
    assert pytest.approx(3.2) == profile.CGPA
    assert profile.Stress_Level == 7


def test_profile_from_form_names_the_bad_field() -> None:
    with pytest.raises(InvalidProfile) as caught:
        profile_from_form({**GOOD, "Physical_Activity": "20000"})
    assert caught.value.field == "Physical_Activity"
    assert "0 to 10080" in caught.value.rule


def test_values_are_shown_with_their_units() -> None:
    assert format_value(SPECS_BY_NAME["Sleep_Duration"], 7.5) == "7.5 hours/day"
    assert format_value(SPECS_BY_NAME["Stress_Level"], 7) == "7 / 10"
    assert format_value(SPECS_BY_NAME["CGPA"], 3.2) == "3.2 / 4"
    assert format_value(SPECS_BY_NAME["Gender"], "Male") == "Male"
    assert format_value(SPECS_BY_NAME["Age"], None) == "-"
    assert format_value(SPECS_BY_NAME["Sleep_Duration"], 1.0) == "1 hour/day"
    assert format_value(SPECS_BY_NAME["Physical_Activity"], 1.0) == "1 minute/week"
    assert format_value(SPECS_BY_NAME["Age"], 1) == "1 year"
