"""Requests the container tests send to a stack's published API port, and what they wait for."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import httpx

from infra.tests.containers.conftest import wait_for
from mp_core.client import FeedbackAck, MindPulseClient
from mp_core.contract import EXAMPLE_PROFILE

RETRAIN_TIMEOUT = 600.0

PROFILE: dict[str, Any] = EXAMPLE_PROFILE


def marked_profile(marker: int) -> dict[str, Any]:
    """The profile with ``Physical_Activity`` = ``marker`` minutes, to find its row again."""
    return {**PROFILE, "Physical_Activity": float(marker)}


def send_feedback(client: MindPulseClient, marker: int) -> FeedbackAck:
    """Predict, then send the prediction back as the truth (a model that keeps being right)."""
    profile = marked_profile(marker)
    answer = client.predict(profile)
    return client.feedback(answer.prediction_id, answer.prediction)


def served_version(api_url: str) -> str:
    return str(httpx.get(api_url + "/health", timeout=10).json()["model_version"])


def wait_for_new_version(api_url: str, old: str) -> str:
    """The version served once a retrain promoted something other than ``old``."""

    def promoted() -> str | None:
        version = served_version(api_url)
        return version if version != old else None

    return str(wait_for(promoted, RETRAIN_TIMEOUT, f"a version other than {old} served", 2.0))


def feedback_rows(data_dir: Path) -> list[dict[str, str]]:
    """Every row of ``prod_data.csv``; a torn or malformed line fails here."""
    path = data_dir / "prod_data.csv"
    raw = path.read_bytes()
    assert raw.endswith(b"\n"), "the last feedback line is torn (no newline)"
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        width = len(reader.fieldnames or ())
    for number, row in enumerate(rows, start=2):
        assert None not in row and all(v is not None for v in row.values()), (
            f"line {number} of prod_data.csv has not {width} fields: {row}"
        )
    return rows


def rows_with_marker(rows: list[dict[str, str]], markers: set[int]) -> dict[int, int]:
    """How many rows carry each marker (``Physical_Activity``)."""
    counts = dict.fromkeys(markers, 0)
    for row in rows:
        value = float(row["Physical_Activity"])
        if value.is_integer() and int(value) in counts:
            counts[int(value)] += 1
    return counts
