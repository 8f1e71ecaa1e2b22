"""Schemathesis fuzzes every operation of /schema against a real server: never a 5xx.

Valid and invalid inputs are generated from the OpenAPI document (positive and negative
modes) with a fixed seed and a bounded number of examples per operation.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

from testsupport.api import ApiServers

MAX_EXAMPLES = 25
MODES = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]


@pytest.mark.slow
def test_no_generated_request_gets_a_server_error(start_api: ApiServers) -> None:
    api = start_api.start(workers=2, retrain_threshold="100000", max_batch="100")
    schema = schemathesis.openapi.from_url(f"{api.url}/schema/openapi.json", wait_for_schema=30)
    failures: list[str] = []
    seen: dict[str, int] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {
        "/predict", "/predict/batch", "/feedback", "/health", "/model", "/retrain",
        "/model/rollback", "/metrics",
    }  # fmt: skip
    for operation in operations:
        for mode in MODES:

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def check(case: Any) -> None:
                response = case.call(base_url=api.url, timeout=20)
                key = f"{case.method} {case.path}"
                seen[key] = seen.get(key, 0) + 1
                if response.status_code >= 500:
                    failures.append(f"{key} -> {response.status_code}: {response.text[:300]}")
                elif response.status_code >= 400:
                    body = response.json()
                    if not (body.get("error") and body.get("detail")):
                        failures.append(f"{key} -> {response.status_code} without error body")

            try:
                check()
            except Unsatisfiable:
                # No parameters and no body (GET /health...): nothing to make invalid.
                assert mode is schemathesis.GenerationMode.NEGATIVE, operation.path
    assert failures == []
    assert seen["POST /predict"] >= MAX_EXAMPLES
    assert "Traceback" not in api.log()
