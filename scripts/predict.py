"""Ask the MindPulse API for one prediction, from flags or from JSON.

    uv run --frozen python scripts/predict.py --age 21 --gender Female --department Science \\
        --cgpa 3.2 --sleep-duration 6.5 --study-hours 4 --social-media-hours 3.5 \\
        --physical-activity 120 --stress-level 7
    uv run --frozen python scripts/predict.py --json '{"Age": 21, ...}'      # or --json @file, -
    uv run --frozen python scripts/predict.py --json @student.json --sleep-duration 5

Flags override values from --json. The API is found at --url, else API_URL, else
http://127.0.0.1:8080. Exit status: 0 done, 1 the API failed or is unreachable, 2 bad input.
MindPulse is an educational tool, never a diagnosis.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from mp_core.client import DEFAULT_BASE_URL, ApiError, ApiUnavailable, MindPulseClient
from mp_core.errors import InvalidProfile
from mp_core.schema import FEATURE_SPECS, SPECS_BY_NAME, profile_from_mapping, profile_to_dict

DISCLAIMER: Final = (
    "MindPulse is an educational tool, not a diagnosis. If you are struggling, talk to someone "
    "you trust, your campus counselling service or a doctor; in a crisis call your local "
    "emergency number or a crisis line such as 988 (US) or 116 123 (Samaritans, UK/IE)."
)
EXIT_API: Final = 1
EXIT_INPUT: Final = 2


class InputError(Exception):
    """The command line or the JSON cannot make a valid profile."""


def flag_name(feature: str) -> str:
    return "--" + feature.lower().replace("_", "-")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="predict.py",
        description="One depression-risk prediction from the MindPulse API "
        "(educational tool, not a diagnosis).",
    )
    parser.add_argument("--url", help=f"API base URL (default: API_URL or {DEFAULT_BASE_URL})")
    parser.add_argument(
        "--json",
        dest="json_input",
        metavar="JSON",
        help="the nine features as a JSON object, @FILE to read one, or - for standard input; "
        'a {"features": {...}} request body is accepted too',
    )
    parser.add_argument(
        "--output", choices=("text", "json"), default="text", help="how to print the answer"
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds (default 10)")
    features = parser.add_argument_group("features (each overrides --json)")
    for spec in FEATURE_SPECS:
        unit = f" [{spec.unit}]" if spec.unit else ""
        features.add_argument(
            flag_name(spec.name),
            dest=spec.name,
            metavar=spec.name.upper() if spec.is_numeric else "{" + ",".join(spec.choices) + "}",
            help=f"{spec.help}{unit} Must be {spec.rule()}.",
        )
    return parser


def read_json(value: str) -> dict[str, Any]:
    """The features from ``--json``: inline text, ``@path`` or ``-`` (standard input)."""
    source = "--json"
    if value == "-":
        text, source = sys.stdin.read(), "standard input"
    elif value.startswith("@"):
        path = Path(value[1:])
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    else:
        text = value
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{source} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    if isinstance(data, dict) and set(data) == {"features"}:
        data = data["features"]
    if not isinstance(data, dict):
        raise InputError(f"{source} must hold a JSON object with the nine features")
    return data


def profile_values(args: argparse.Namespace) -> dict[str, Any]:
    values = read_json(args.json_input) if args.json_input else {}
    for spec in FEATURE_SPECS:
        given = getattr(args, spec.name)
        if given is not None:
            values[spec.name] = given
    return values


def validate(values: dict[str, Any]) -> dict[str, Any]:
    """Check the profile locally so mistakes are named before anything is sent."""
    try:
        # Flags arrive as text; strict=False reads "7.5" as a number, as a form would.
        return profile_to_dict(profile_from_mapping(values, strict=False))
    except InvalidProfile as exc:
        where = exc.field or "input"
        if exc.field in SPECS_BY_NAME:
            where += f" ({flag_name(exc.field)})"
        raise InputError(f"{where}: {exc.rule}") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    url = args.url or os.environ.get("API_URL") or DEFAULT_BASE_URL
    if not url.startswith(("http://", "https://")):
        print(
            f"predict.py: --url must start with http:// or https:// (got {url!r})", file=sys.stderr
        )
        return EXIT_INPUT
    if args.timeout <= 0:
        print("predict.py: --timeout must be a positive number of seconds", file=sys.stderr)
        return EXIT_INPUT
    try:
        features = validate(profile_values(args))
    except InputError as exc:
        print(f"predict.py: invalid input: {exc}", file=sys.stderr)
        return EXIT_INPUT
    try:
        with MindPulseClient(url, timeout=args.timeout) as client:
            answer = client.predict(features)
    except ApiUnavailable as exc:
        print(f"predict.py: {exc}", file=sys.stderr)
        return EXIT_API
    except ApiError as exc:
        where = f" [{exc.field}: {exc.rule}]" if exc.field else ""
        print(f"predict.py: the API refused the request: {exc}{where}", file=sys.stderr)
        return EXIT_INPUT if exc.status is not None and 400 <= exc.status < 500 else EXIT_API
    if args.output == "json":
        print(
            json.dumps(
                {
                    "prediction": answer.prediction,
                    "probability": answer.probability,
                    "model_version": answer.model_version,
                    "features": features,
                    "note": DISCLAIMER,
                }
            )
        )
    else:
        label = "higher risk" if answer.prediction == 1 else "lower risk"
        print(
            f"Prediction: {answer.prediction} ({label}), probability {answer.probability:.1%}, "
            f"model {answer.model_version}"
        )
        print(DISCLAIMER)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
