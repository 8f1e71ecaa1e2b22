"""The physical limit of batch scoring in this process: msgspec decoding plus scoring of a
1,000-row body, no HTTP, on the server's CPU.

Measured for both batch routes' bodies (``/predict/batch`` rows, V2 named tensors) with the
very functions the routes call, and split into decode, score and encode (the answer's JSON),
so the report can say where an HTTP request's time goes beyond the limit. Likewise for
``/predict``: what answering one event-loop turn's bodies costs a row in a loop (decode, score,
receipt, JSON), against what ``/predict`` costs over the ceiling in the server.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Final

import msgspec
import numpy as np

from services.api.bench.model import BenchModel, settings_under
from services.api.bench.workload import BATCH_ROWS, BENCH_RECEIPT_KEY, Workload

if TYPE_CHECKING:
    from mp_core.receipts import ReceiptSigner
    from services.api.bench.runner import BenchConfig

#: Each figure is the best of this many repetitions of a loop of :data:`LOOPS` calls.
REPEATS: Final = 5
LOOPS: Final = 40
#: /predict bodies answered together: about what one event-loop turn of the server holds under
#: the benchmark's 32 connections (11 to 14 bodies, timed inside the server).
TURN_BODIES: Final = 13


@contextlib.contextmanager
def pinned(cpus: tuple[int, ...]) -> Iterator[None]:
    """Run this process on ``cpus`` for a while (the server CPU), then restore its affinity."""
    before = os.sched_getaffinity(0)
    if cpus:
        os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def _cpu_us(call: Callable[[], Any], loops: int = LOOPS) -> float:
    """CPU microseconds per call: the best of :data:`REPEATS` loops (least disturbed)."""
    best = float("inf")
    for _ in range(REPEATS):
        started = time.process_time()
        for _ in range(loops):
            call()
        best = min(best, (time.process_time() - started) / loops * 1e6)
    return best


def measure_limit(
    model: BenchModel, workload: Workload, config: BenchConfig, log: Callable[[str], None]
) -> dict[str, Any]:
    """Decode + score (and encode) µs per 1,000-row body for each batch route, and rows/s."""
    from mp_api.routes.predict import batch_receipts, score_rows
    from mp_api.routes.v2 import inference_response
    from mp_api.tensors import decode_request
    from mp_api.wire import BatchPredictionAnswer, BatchRows
    from mp_core.receipts import ReceiptSigner
    from mp_core.stores.artifacts_files import ArtifactStore

    scorer = ArtifactStore(settings_under(model.root).artifacts_dir).load_scorer().scorer
    rows_body = workload.batch[0].encode()
    v2_body = workload.v2_batch[0].encode()
    decode_rows = msgspec.json.Decoder(BatchRows).decode
    decoded_rows = decode_rows(rows_body)
    columns = decode_request(v2_body)
    probability = np.asarray(score_rows(scorer, decoded_rows.instances))

    signer = ReceiptSigner(BENCH_RECEIPT_KEY.encode())

    def answer() -> bytes:
        labels = (probability > 0.5).astype(np.int64).tolist()
        probabilities = probability.tolist()
        receipts = batch_receipts(signer, decoded_rows.instances, labels, probabilities, "v0001")
        return msgspec.json.encode(
            BatchPredictionAnswer(labels, probabilities, "v0001", prediction_ids=receipts)
        )

    with pinned(config.server_cpus):
        routes = {
            "batch": {
                "decode_us": _cpu_us(lambda: decode_rows(rows_body)),
                # score_rows builds the columns from the decoded rows, then scores them.
                "score_us": _cpu_us(lambda: score_rows(scorer, decoded_rows.instances)),
            },
            "v2": {
                # decode_request yields the columns: building them is part of the decoding.
                "decode_us": _cpu_us(lambda: decode_request(v2_body)),
                "score_us": _cpu_us(lambda: scorer.score_codes(columns.numeric, columns.codes)),
            },
        }
        routes["batch"]["encode_us"] = _cpu_us(answer)  # with its 1,000 receipts
        v2_probability = np.asarray(scorer.score_codes(columns.numeric, columns.codes))
        routes["v2"]["encode_us"] = _cpu_us(
            lambda: msgspec.json.encode(inference_response("v0001", columns, v2_probability))
        )
        single = _single_row_us(model, workload, signer)
    for name, found in routes.items():
        found["limit_us"] = found["decode_us"] + found["score_us"]
        found["rows_per_s"] = BATCH_ROWS / found["limit_us"] * 1e6
        log(
            f"  in-process limit, {name:<5} body: decode {found['decode_us']:7.0f} us + score "
            f"{found['score_us']:5.0f} us per {BATCH_ROWS} rows = {found['rows_per_s']:>12,.0f} "
            f"rows/s on one core (its answer: {found['encode_us']:.0f} us)"
        )
    log(
        f"  in-process /predict: {TURN_BODIES} bodies of one turn answered in {single:.2f} us a "
        "row (decode, score, receipt, answer JSON)"
    )
    predict = {"bodies_per_turn": TURN_BODIES, "us_per_row": single}
    return {"rows": BATCH_ROWS, "cpus": list(config.server_cpus), **routes, "predict": predict}


def _single_row_us(model: BenchModel, workload: Workload, signer: ReceiptSigner) -> float:
    """µs a row for /predict's own answers to :data:`TURN_BODIES` bodies (mp_api.coalesce)."""
    from mp_api.registry import ModelRegistry
    from mp_api.routes.predict import SingleAnswers
    from mp_core.stores import model_store

    registry = ModelRegistry(model_store(settings_under(model.root)))
    answers = SingleAnswers(registry, signer)
    bodies = [body.encode() for body in workload.predict[:TURN_BODIES]]
    if any(isinstance(answer, Exception) for answer in answers(bodies)):
        raise RuntimeError("the benchmark's /predict bodies were not answered in process")
    return _cpu_us(lambda: answers(bodies), loops=10 * LOOPS) / len(bodies)
