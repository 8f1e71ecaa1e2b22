"""The nine lifestyle features: one msgspec Struct, the single source of truth.

The API validates requests with it, the UI builds its form from it, training and reports take
their column lists from it. Ranges, categories, units and help texts live in the annotations;
:func:`feature_specs` reads them back so no other module repeats them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal, get_args

import msgspec

from mp_core.errors import InvalidProfile
from mp_core.settings import _split_validation_message

Gender = Literal["Male", "Female", "Other"]
Department = Literal["Engineering", "Science", "Arts", "Business", "Medical", "Law"]

GENDERS: Final[tuple[str, ...]] = get_args(Gender)
DEPARTMENTS: Final[tuple[str, ...]] = get_args(Department)

TARGET: Final = "Depression"


def _meta(label: str, help_text: str, unit: str | None = None, **bounds: float) -> msgspec.Meta:
    meta: msgspec.Meta = msgspec.Meta(
        title=label,
        description=help_text,
        extra={"unit": unit, "label": label},
        **bounds,  # type: ignore[call-overload]
    )
    return meta


class StudentProfile(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """One student's answers. Field names match the dataset's columns."""

    Age: Annotated[int, _meta("Age", "Your age in whole years.", "years", ge=16, le=100)]
    Gender: Annotated[Gender, _meta("Gender", "The gender you identify with.")]
    Department: Annotated[Department, _meta("Department", "Your field of study.")]
    CGPA: Annotated[
        float,
        _meta(
            "CGPA", "Your cumulative grade point average, on a 0-4 scale.", "/ 4", ge=0.0, le=4.0
        ),
    ]
    Sleep_Duration: Annotated[
        float,
        _meta("Sleep", "How many hours you sleep on an average day.", "hours/day", ge=0.0, le=24.0),
    ]
    Study_Hours: Annotated[
        float,
        _meta(
            "Study hours",
            "How many hours you study on an average day.",
            "hours/day",
            ge=0.0,
            le=24.0,
        ),
    ]
    Social_Media_Hours: Annotated[
        float,
        _meta(
            "Social media",
            "How many hours you spend on social media on an average day.",
            "hours/day",
            ge=0.0,
            le=24.0,
        ),
    ]
    Physical_Activity: Annotated[
        float,
        _meta(
            "Physical activity",
            "How many minutes you are physically active in a week.",
            "minutes/week",
            ge=0.0,
            le=10080.0,
        ),
    ]
    Stress_Level: Annotated[
        int,
        _meta(
            "Stress level",
            "How stressed you feel, from 1 (calm) to 10 (extreme).",
            "1-10",
            ge=1,
            le=10,
        ),
    ]

    def __post_init__(self) -> None:
        # JSON cannot carry NaN, but Python callers (CSV rows, the UI) can.
        for name in NUMERIC_FEATURES:
            value = getattr(self, name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"Expected a finite number - at `$.{name}`")


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """What a form, a validator or a report needs to know about one feature."""

    name: str
    label: str
    help: str
    kind: Literal["int", "float", "category"]
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()

    @property
    def is_numeric(self) -> bool:
        return self.kind != "category"

    def rule(self) -> str:
        """The constraint in words, as error messages and the UI state it."""
        if self.kind == "category":
            return "one of " + ", ".join(self.choices)
        kind = "a whole number" if self.kind == "int" else "a number"
        return f"{kind} from {self.minimum:g} to {self.maximum:g}"


def _read_specs() -> tuple[FeatureSpec, ...]:
    info = msgspec.inspect.type_info(StudentProfile)
    assert isinstance(info, msgspec.inspect.StructType)
    hints = StudentProfile.__annotations__
    specs = []
    for field in info.fields:
        meta = field.type
        assert isinstance(meta, msgspec.inspect.Metadata)
        schema = meta.extra_json_schema or {}
        extra = meta.extra or {}
        inner = meta.type
        common: dict[str, Any] = {
            "name": field.name,
            "label": extra.get("label", field.name),
            "help": schema.get("description", ""),
            "unit": extra.get("unit"),
        }
        if isinstance(inner, msgspec.inspect.LiteralType):
            # get_args keeps the declared order; inspect sorts the values.
            choices = get_args(get_args(_resolve(hints[field.name]))[0])
            specs.append(FeatureSpec(kind="category", choices=choices, **common))
        elif isinstance(inner, msgspec.inspect.IntType | msgspec.inspect.FloatType):
            kind: Literal["int", "float"] = (
                "int" if isinstance(inner, msgspec.inspect.IntType) else "float"
            )
            specs.append(
                FeatureSpec(
                    kind=kind,
                    minimum=float(inner.ge) if inner.ge is not None else None,
                    maximum=float(inner.le) if inner.le is not None else None,
                    **common,
                )
            )
        else:  # pragma: no cover - guarded by tests of the schema itself
            raise TypeError(f"unsupported feature type for {field.name}: {inner!r}")
    return tuple(specs)


def _resolve(annotation: object) -> object:
    if isinstance(annotation, str):
        return eval(annotation, globals())  # annotations of our own module only
    return annotation


FEATURE_NAMES: Final[tuple[str, ...]] = tuple(
    f.name for f in msgspec.structs.fields(StudentProfile)
)
NUMERIC_FEATURES: Final[tuple[str, ...]] = (
    "Age",
    "CGPA",
    "Sleep_Duration",
    "Study_Hours",
    "Social_Media_Hours",
    "Physical_Activity",
    "Stress_Level",
)
CATEGORICAL_FEATURES: Final[tuple[str, ...]] = ("Gender", "Department")
FEATURE_SPECS: Final[tuple[FeatureSpec, ...]] = _read_specs()
SPECS_BY_NAME: Final[Mapping[str, FeatureSpec]] = {s.name: s for s in FEATURE_SPECS}


def feature_specs() -> tuple[FeatureSpec, ...]:
    """The features in column order, with their labels, units, ranges and choices."""
    return FEATURE_SPECS


_JSON_DECODER = msgspec.json.Decoder(StudentProfile)


def invalid_profile_from(exc: msgspec.ValidationError | msgspec.DecodeError) -> InvalidProfile:
    """Turn msgspec's message into an :class:`InvalidProfile` naming the field and the rule."""
    message = str(exc)
    field, _, rule = _split_validation_message(message)
    if not field and message.startswith("Object contains unknown field"):
        field = message.split("`")[1] if "`" in message else ""
        rule = "unknown field: the features are " + ", ".join(FEATURE_NAMES)
    elif not field and message.startswith("Object missing required field"):
        field = message.split("`")[1] if "`" in message else ""
        rule = "required field is missing"
    elif field in SPECS_BY_NAME and not rule.startswith("Expected a finite"):
        rule = f"{rule} (must be {SPECS_BY_NAME[field].rule()})"
    return InvalidProfile(field, rule)


def decode_profile(data: bytes | str) -> StudentProfile:
    """Decode one profile from JSON, raising :class:`InvalidProfile` on any bad value."""
    try:
        return _JSON_DECODER.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise invalid_profile_from(exc) from None


def profile_from_mapping(values: Mapping[str, Any], *, strict: bool = True) -> StudentProfile:
    """Validate a mapping (a form, a CSV row) into a profile.

    With ``strict=False`` numbers written as text (``"7.5"``) are accepted, as in a CSV file.
    """
    try:
        return msgspec.convert(values, StudentProfile, strict=strict)
    except msgspec.ValidationError as exc:
        raise invalid_profile_from(exc) from None


def profile_to_dict(profile: StudentProfile) -> dict[str, Any]:
    """A profile as a plain dict in column order."""
    return msgspec.structs.asdict(profile)
