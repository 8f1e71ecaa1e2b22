import json
import math
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mp_core.errors import InvalidProfile
from mp_core.schema import (
    FEATURE_NAMES,
    FEATURE_SPECS,
    SPECS_BY_NAME,
    StudentProfile,
    decode_profile,
    profile_from_mapping,
)


def _value_strategy(name: str) -> st.SearchStrategy[Any]:
    spec = SPECS_BY_NAME[name]
    if spec.kind == "category":
        return st.sampled_from(spec.choices)
    assert spec.minimum is not None and spec.maximum is not None
    if spec.kind == "int":
        return st.integers(int(spec.minimum), int(spec.maximum))
    return st.floats(spec.minimum, spec.maximum, allow_nan=False, allow_infinity=False)


valid_profiles = st.fixed_dictionaries({name: _value_strategy(name) for name in FEATURE_NAMES})
VALID: dict[str, Any] = {
    "Age": 21,
    "Gender": "Female",
    "Department": "Science",
    "CGPA": 3.2,
    "Sleep_Duration": 7.0,
    "Study_Hours": 4.0,
    "Social_Media_Hours": 3.0,
    "Physical_Activity": 150.0,
    "Stress_Level": 5,
}


@given(valid_profiles)
def test_every_valid_profile_is_accepted_from_json_and_from_python(values: dict[str, Any]) -> None:
    from_json = decode_profile(json.dumps(values))
    from_python = profile_from_mapping(values)
    assert from_json == from_python
    assert msgspec.structs.asdict(from_json) == values


def _out_of_range(name: str) -> st.SearchStrategy[Any]:
    spec = SPECS_BY_NAME[name]
    assert spec.minimum is not None and spec.maximum is not None
    if spec.kind == "int":
        return st.one_of(
            st.integers(max_value=int(spec.minimum) - 1),
            st.integers(min_value=int(spec.maximum) + 1),
        )
    return st.one_of(
        st.floats(max_value=spec.minimum, exclude_max=True, allow_nan=False, allow_infinity=False),
        st.floats(min_value=spec.maximum, exclude_min=True, allow_nan=False, allow_infinity=False),
    )


NUMERIC = [s.name for s in FEATURE_SPECS if s.is_numeric]
CATEGORIES = [s.name for s in FEATURE_SPECS if not s.is_numeric]


@given(st.sampled_from(NUMERIC).flatmap(lambda n: st.tuples(st.just(n), _out_of_range(n))))
def test_out_of_range_numbers_are_rejected_naming_field_and_rule(case: tuple[str, Any]) -> None:
    name, value = case
    with pytest.raises(InvalidProfile) as caught:
        decode_profile(json.dumps({**VALID, name: value}))
    assert caught.value.field == name
    assert SPECS_BY_NAME[name].rule() in caught.value.rule


@given(
    st.sampled_from(CATEGORIES),
    st.text(min_size=0, max_size=12).filter(lambda t: t not in {"Male", "Female", "Other"}),
)
def test_unknown_categories_are_rejected(name: str, value: str) -> None:
    if value in SPECS_BY_NAME[name].choices:
        return
    with pytest.raises(InvalidProfile) as caught:
        decode_profile(json.dumps({**VALID, name: value}))
    assert caught.value.field == name
    assert "one of" in caught.value.rule


@pytest.mark.parametrize("name", NUMERIC)
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_are_rejected_from_python(name: str, value: float) -> None:
    with pytest.raises(InvalidProfile) as caught:
        profile_from_mapping({**VALID, name: value})
    assert caught.value.field == name


@pytest.mark.parametrize("token", [b"1e999", b"-1e999"])
def test_infinity_written_as_a_number_is_refused_at_its_field(token: bytes) -> None:
    body = json.dumps({**VALID, "CGPA": 0}).encode().replace(b'"CGPA": 0', b'"CGPA": ' + token)
    with pytest.raises(InvalidProfile) as caught:
        decode_profile(body)
    assert caught.value.field == "CGPA"
    assert caught.value.rule == "Number out of range (must be a number from 0 to 4)"


@pytest.mark.parametrize("token", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_tokens_are_malformed_json_at_their_byte(token: bytes) -> None:
    body = json.dumps({**VALID, "CGPA": 0}).encode().replace(b'"CGPA": 0', b'"CGPA": ' + token)
    with pytest.raises(InvalidProfile) as caught:
        decode_profile(body)
    # Not JSON at all, so no field can be named: the rule points at the first letter, the
    # character that cannot be part of a JSON number.
    assert caught.value.field == ""
    where = body.index(token.lstrip(b"-"))
    assert caught.value.rule == f"JSON is malformed: invalid character (byte {where})"


def test_unknown_field_is_named() -> None:
    with pytest.raises(InvalidProfile) as caught:
        decode_profile(json.dumps({**VALID, "Mood": 3}))
    assert caught.value.field == "Mood"
    assert "unknown field" in caught.value.rule


@pytest.mark.parametrize("name", FEATURE_NAMES)
def test_missing_field_is_named(name: str) -> None:
    values = {k: v for k, v in VALID.items() if k != name}
    with pytest.raises(InvalidProfile) as caught:
        decode_profile(json.dumps(values))
    assert caught.value.field == name
    assert "missing" in caught.value.rule


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Age", 21.5),
        ("Age", "21"),
        ("Age", True),
        ("Stress_Level", 5.0),
        ("CGPA", "3.2"),
        ("Gender", 1),
    ],
)
def test_wrong_types_are_rejected(name: str, value: Any) -> None:
    with pytest.raises(InvalidProfile) as caught:
        decode_profile(json.dumps({**VALID, name: value}))
    assert caught.value.field == name


def test_specs_carry_labels_units_ranges_and_choices() -> None:
    assert [s.name for s in FEATURE_SPECS] == list(FEATURE_NAMES)
    assert len(FEATURE_SPECS) == 9
    for spec in FEATURE_SPECS:
        assert spec.label and spec.help
        if spec.is_numeric:
            assert spec.minimum is not None and spec.maximum is not None and spec.unit
        else:
            assert spec.choices
    assert SPECS_BY_NAME["Gender"].choices == ("Male", "Female", "Other")
    assert SPECS_BY_NAME["Physical_Activity"].maximum == 10080


def test_profile_is_immutable() -> None:
    profile = profile_from_mapping(VALID)
    with pytest.raises(AttributeError):
        profile.Age = 30  # type: ignore[misc]
    assert isinstance(profile, StudentProfile)
