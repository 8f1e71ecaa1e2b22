"""The ``tracking`` and ``orchestration`` profiles running: MLflow and Airflow in containers.

A retrain inside the stack (50 feedbacks through the published port) logs a run to the MLflow
container and moves the ``champion`` alias; Airflow is healthy and lists both MindPulse DAGs.
MLflow must also stay up: it was once OOM-killed in a loop by its own job runner.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from infra.tests.containers.conftest import wait_for
from infra.tests.containers.traffic import send_feedback, served_version, wait_for_new_version
from mp_core.client import MindPulseClient
from testsupport.docker import ComposeStack

pytestmark = [pytest.mark.containers, pytest.mark.slow]

MODEL_NAME = "mindpulse"
DAGS = {"mindpulse_retrain", "mindpulse_reporting"}


def _mlflow(stack: ComposeStack, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    response = httpx.request(method, stack.url("MLFLOW_PORT") + path, timeout=30, **kwargs)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def _run_count(stack: ComposeStack) -> int:
    experiments = _mlflow(stack, "POST", "/api/2.0/mlflow/experiments/search",
                          json={"max_results": 100})["experiments"]  # fmt: skip
    ids = [e["experiment_id"] for e in experiments]
    runs = _mlflow(stack, "POST", "/api/2.0/mlflow/runs/search",
                   json={"experiment_ids": ids, "max_results": 1000}).get("runs", [])  # fmt: skip
    return len(runs)


def _champion(stack: ComposeStack) -> str | None:
    response = httpx.get(
        stack.url("MLFLOW_PORT") + "/api/2.0/mlflow/registered-models/alias",
        params={"name": MODEL_NAME, "alias": "champion"},
        timeout=30,
    )
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return str(response.json()["model_version"]["version"])


def test_mlflow_is_healthy_and_not_restarting(optional_stack: ComposeStack) -> None:
    assert httpx.get(optional_stack.url("MLFLOW_PORT") + "/health", timeout=10).text == "OK"
    state = optional_stack.inspect("mlflow")
    assert state["State"]["Health"]["Status"] == "healthy"
    assert state["RestartCount"] == 0 and state["State"]["OOMKilled"] is False


def test_a_retrain_in_the_stack_logs_a_run_and_moves_champion(
    optional_stack: ComposeStack,
) -> None:
    api = optional_stack.url("API_PORT")
    runs_before, champion_before = _run_count(optional_stack), _champion(optional_stack)
    old = served_version(api)
    with MindPulseClient(api, timeout=30) as client:
        acks = [send_feedback(client, marker) for marker in range(9000, 9050)]
    assert any(ack.retrain_triggered for ack in acks)
    wait_for_new_version(api, old)

    def moved() -> str | None:
        champion = _champion(optional_stack)
        return champion if champion != champion_before else None

    champion = wait_for(moved, 120, "champion moved", 2.0)
    assert champion is not None
    assert _run_count(optional_stack) > runs_before
    mlflow = optional_stack.inspect("mlflow")
    assert mlflow["RestartCount"] == 0 and mlflow["State"]["OOMKilled"] is False


def test_airflow_is_healthy_and_lists_both_dags(optional_stack: ComposeStack) -> None:
    health = httpx.get(optional_stack.url("AIRFLOW_PORT") + "/api/v2/monitor/health", timeout=10)
    assert health.status_code == 200
    assert optional_stack.inspect("airflow")["State"]["Health"]["Status"] == "healthy"

    def listed() -> set[str] | None:
        out = optional_stack.exec("airflow", "airflow", "dags", "list", "--output", "json")
        # Airflow logs its warnings on stdout too; the listing is the line holding a JSON array.
        listing = next((line for line in out.splitlines() if line.startswith("[{")), "[]")
        found = {dag["dag_id"] for dag in json.loads(listing)}
        return found if found >= DAGS else None

    assert wait_for(listed, 300, "both DAGs listed", 10.0) >= DAGS
