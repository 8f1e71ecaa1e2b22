"""The guided form without Gradio: its steps, each field's hint and the check of what was typed.

Everything comes from mp-core's feature specs, so a range or a category changed in the schema
changes the form, its hints and its messages with it. The Gradio layer (``app.py``) only draws
what these functions describe.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from mp_core.errors import InvalidProfile
from mp_core.schema import SPECS_BY_NAME, FeatureSpec, StudentProfile, profile_from_mapping

FormValue = str | int | float | None


@dataclass(frozen=True, slots=True)
class Step:
    """One page of the form: a title, a one-line purpose and the features it asks for."""

    title: str
    intro: str
    features: tuple[str, ...]


STEPS: Final[tuple[Step, ...]] = (
    Step("About you", "A few facts about you.", ("Gender", "Age", "Department")),
    Step("Your studies", "How your studies are going.", ("CGPA", "Study_Hours")),
    Step(
        "Your daily life",
        "Your usual week: sleep, screens, movement and stress.",
        ("Sleep_Duration", "Social_Media_Hours", "Physical_Activity", "Stress_Level"),
    ),
    Step("Review and submit", "Check your answers, then get the estimate.", ()),
)

# A small whole-number range reads better as a slider than as a box to type in.
SLIDER_MAX_SPAN: Final = 10


def widget_for(spec: FeatureSpec) -> str:
    """``radio``, ``dropdown``, ``slider`` or ``number``: the input that suits this feature."""
    if spec.kind == "category":
        return "radio" if len(spec.choices) <= 3 else "dropdown"
    if (
        spec.kind == "int"
        and spec.minimum is not None
        and spec.maximum is not None
        and spec.maximum - spec.minimum <= SLIDER_MAX_SPAN
    ):
        return "slider"
    return "number"


def _unit(spec: FeatureSpec) -> str:
    # "1-10" and "/ 4" only restate the range, which the hint already gives.
    return spec.unit if spec.unit and spec.unit[0].isalpha() else ""


def _with_unit(spec: FeatureSpec, number: float) -> str:
    """``7.5 hours/day``, ``1 hour/day``, ``16 years``: a number and its unit, singular at 1."""
    unit = _unit(spec)
    if unit and number == 1:
        head, slash, rest = unit.partition("/")
        unit = head.removesuffix("s") + slash + rest
    return f"{number:g}" + (f" {unit}" if unit else "")


def field_hint(spec: FeatureSpec) -> str:
    """The line under a label: what to enter, its unit and its allowed range."""
    if spec.kind == "category":
        return spec.help
    unit = _unit(spec)
    bounds = f"{spec.minimum:g} to {spec.maximum:g}" + (f" {unit}" if unit else "")
    return f"{spec.help} Allowed: {bounds}."


def field_label(spec: FeatureSpec) -> str:
    """The label, with its unit when it has one (``Sleep (hours/day)``)."""
    unit = _unit(spec)
    return f"{spec.label} ({unit})" if unit else spec.label


def check_value(spec: FeatureSpec, raw: FormValue) -> tuple[FormValue, str | None]:
    """Return the value as the schema wants it, or ``None`` and a message for the person."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        verb = "choose" if spec.kind == "category" else "enter"
        return None, f"Please {verb} a value for {spec.label}."
    if spec.kind == "category":
        if raw in spec.choices:
            return raw, None
        return None, f"{spec.label} must be {spec.rule()}."
    number = _as_number(raw)
    if number is None or not math.isfinite(number):
        return None, f"{spec.label} must be {spec.rule()}."
    out_of_range = (spec.minimum is not None and number < spec.minimum) or (
        spec.maximum is not None and number > spec.maximum
    )
    if spec.kind == "int" and not number.is_integer():
        return None, f"{spec.label} must be {spec.rule()}; you entered {number:g}."
    if out_of_range:
        return None, f"{spec.label} must be {spec.rule()}; you entered {_with_unit(spec, number)}."
    return (int(number) if spec.kind == "int" else number), None


def _as_number(raw: FormValue) -> float | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        return float(raw)
    if isinstance(raw, str):
        try:
            return float(raw.strip().replace(",", "."))
        except ValueError:
            return None
    return None


def check_fields(
    names: Sequence[str], values: Sequence[FormValue]
) -> tuple[dict[str, FormValue], dict[str, str]]:
    """Check the given fields; return the clean values and a message per field that failed."""
    clean: dict[str, FormValue] = {}
    errors: dict[str, str] = {}
    for name, raw in zip(names, values, strict=True):
        value, error = check_value(SPECS_BY_NAME[name], raw)
        if error is None:
            clean[name] = value
        else:
            errors[name] = error
    return clean, errors


def profile_from_form(values: Mapping[str, FormValue]) -> StudentProfile:
    """The validated profile; raises :class:`~mp_core.errors.InvalidProfile` naming a bad field."""
    clean, errors = check_fields(list(values), list(values.values()))
    if errors:
        name, message = next(iter(errors.items()))
        raise InvalidProfile(name, message)
    return profile_from_mapping(clean)


def format_value(spec: FeatureSpec, value: FormValue) -> str:
    """A value as the review step and the result show it (``7.5 hours/day``)."""
    if value is None:
        return "-"
    text = f"{value:g}" if isinstance(value, float) else str(value)
    if spec.kind == "category" or not spec.unit or isinstance(value, str):
        return text
    if _unit(spec):
        return _with_unit(spec, value)
    # A score on a scale reads as "7 / 10", a grade as "3.2 / 4".
    return f"{text} / {spec.maximum:g}"
