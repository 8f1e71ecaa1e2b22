"""The request bodies every server receives: real profiles from the synthetic generator.

A few dozen distinct single-row bodies are cycled so no server can get away with a cache of
one answer; batch bodies hold :data:`BATCH_ROWS` rows each.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

BATCH_ROWS: Final = 1000
SINGLE_BODIES: Final = 64
BATCH_BODIES: Final = 4
WORKLOAD_SEED: Final = 2024


@dataclass(frozen=True, slots=True)
class Workload:
    """JSON bodies for /predict, /predict/batch and /feedback."""

    predict: tuple[str, ...]
    batch: tuple[str, ...]
    feedback: tuple[str, ...]


def _rows(n: int, seed: int) -> list[dict[str, Any]]:
    from mp_core.ml.synthetic import TRUE_PROBABILITY, generate
    from mp_core.schema import FEATURE_NAMES, TARGET

    frame = generate(n, seed, with_truth=True)
    rows: list[dict[str, Any]] = []
    for record in frame.to_dict("records"):
        features = {name: record[name] for name in FEATURE_NAMES}
        rows.append(
            {
                "features": features,
                "actual": int(record[TARGET]),
                "prediction": int(record[TRUE_PROBABILITY] > 0.5),
            }
        )
    return rows


def _dump(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def build_workload(seed: int = WORKLOAD_SEED) -> Workload:
    """Bodies made from ``generate(...)`` with a fixed seed: the same bytes on every run."""
    singles = _rows(SINGLE_BODIES, seed)
    batch_rows = _rows(BATCH_ROWS * BATCH_BODIES, seed + 1)
    return Workload(
        predict=tuple(_dump({"features": row["features"]}) for row in singles),
        batch=tuple(
            _dump({"instances": [row["features"] for row in batch_rows[i : i + BATCH_ROWS]]})
            for i in range(0, len(batch_rows), BATCH_ROWS)
        ),
        feedback=tuple(_dump(row) for row in singles),
    )
