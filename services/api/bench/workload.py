"""The request bodies every server receives: real profiles from the synthetic generator.

A few dozen distinct single-row bodies are cycled so no server can get away with a cache of
one answer; batch bodies hold :data:`BATCH_ROWS` rows each. Feedback bodies carry receipts
signed with :data:`BENCH_RECEIPT_KEY` (the benchmarked servers get it as ``RECEIPT_KEY``), each
one used once: more of them than a run sends, and another set for the warm-up, so every
measured feedback stores a new row rather than replaying one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

BATCH_ROWS: Final = 1000
SINGLE_BODIES: Final = 64
BATCH_BODIES: Final = 4
WORKLOAD_SEED: Final = 2024
FEEDBACK_BODIES: Final = 40_000
FEEDBACK_WARMUP_BODIES: Final = 10_000
BENCH_RECEIPT_KEY: Final = "bench-receipt-key-0123456789abcdef-not-secret"


@dataclass(frozen=True, slots=True)
class Workload:
    """JSON bodies for /predict, /predict/batch and /feedback, and the same rows in the
    Open Inference Protocol (V2) and KServe v1 shapes for the V2 route and the peers."""

    predict: tuple[str, ...]
    batch: tuple[str, ...]
    feedback: tuple[str, ...]
    feedback_warmup: tuple[str, ...] = ()
    v2_predict: tuple[str, ...] = ()
    v2_batch: tuple[str, ...] = ()
    mlserver_predict: tuple[str, ...] = ()
    mlserver_batch: tuple[str, ...] = ()
    v1_predict: tuple[str, ...] = ()
    v1_batch: tuple[str, ...] = ()

    def bodies(self, kind: str, batch: bool) -> tuple[str, ...]:
        """The bodies of one request shape: ``ours``, ``v2``, ``mlserver`` or ``v1``."""
        prefix = "" if kind == "ours" else f"{kind}_"
        return tuple(getattr(self, prefix + ("batch" if batch else "predict")))


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


def feedback_bodies(rows: list[dict[str, Any]], count: int, version: str = "v0001") -> list[str]:
    """``count`` feedback bodies over ``rows``, each with a receipt of its own."""
    import time

    from mp_core.receipts import ReceiptSigner

    signer = ReceiptSigner(BENCH_RECEIPT_KEY.encode())
    now = int(time.time())
    bodies = []
    for i in range(count):
        row = rows[i % len(rows)]
        receipt = signer.issue(list(row["features"].values()), row["prediction"], 0.5, version, now)
        bodies.append(_dump({"prediction_id": receipt, "actual": row["actual"]}))
    return bodies


def _dump(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def v2_body(rows: list[dict[str, Any]], *, mlserver: bool = False) -> dict[str, Any]:
    """An inference request with the nine features as named tensors (BYTES categories).

    ``mlserver=True`` adds what MLServer's scikit-learn runtime documents for a pandas model:
    the ``pd`` content type (the inputs become DataFrame columns), ``str`` for the text
    columns, and ``predict_proba`` as the output.
    """
    from mp_core.schema import FEATURE_NAMES, SPECS_BY_NAME

    inputs = []
    for name in FEATURE_NAMES:
        kind = SPECS_BY_NAME[name].kind
        tensor: dict[str, Any] = {
            "name": name,
            "shape": [len(rows)],
            "datatype": {"category": "BYTES", "int": "INT64", "float": "FP64"}[kind],
            "data": [row[name] for row in rows],
        }
        if mlserver and kind == "category":
            tensor["parameters"] = {"content_type": "str"}
        inputs.append(tensor)
    if not mlserver:
        return {"inputs": inputs}
    return {
        "parameters": {"content_type": "pd"},
        "inputs": inputs,
        "outputs": [{"name": "predict_proba"}],
    }


def build_workload(seed: int = WORKLOAD_SEED) -> Workload:
    """Bodies made from ``generate(...)`` with a fixed seed: the same bytes on every run."""
    feedback = _rows(SINGLE_BODIES, seed)
    singles = [row["features"] for row in feedback]
    rows = [row["features"] for row in _rows(BATCH_ROWS * BATCH_BODIES, seed + 1)]
    batches = [rows[i : i + BATCH_ROWS] for i in range(0, len(rows), BATCH_ROWS)]
    return Workload(
        predict=tuple(_dump({"features": row}) for row in singles),
        batch=tuple(_dump({"instances": batch}) for batch in batches),
        feedback=tuple(feedback_bodies(feedback, FEEDBACK_BODIES)),
        feedback_warmup=tuple(feedback_bodies(feedback, FEEDBACK_WARMUP_BODIES)),
        v2_predict=tuple(_dump(v2_body([row])) for row in singles),
        v2_batch=tuple(_dump(v2_body(batch)) for batch in batches),
        mlserver_predict=tuple(_dump(v2_body([row], mlserver=True)) for row in singles),
        mlserver_batch=tuple(_dump(v2_body(batch, mlserver=True)) for batch in batches),
        v1_predict=tuple(_dump({"instances": [row]}) for row in singles),
        v1_batch=tuple(_dump({"instances": batch}) for batch in batches),
    )
