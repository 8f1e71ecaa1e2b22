"""scripts/predict.py and scripts/simulate_traffic.py, run as a user runs them, against a real API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from testsupport.api import EXAMPLE, ApiServer, ApiServers, free_port

ROOT = Path(__file__).resolve().parents[1]
PREDICT = ROOT / "scripts" / "predict.py"
SIMULATE = ROOT / "scripts" / "simulate_traffic.py"

FLAGS = [
    "--age", "21", "--gender", "Female", "--department", "Science", "--cgpa", "3.2",
    "--sleep-duration", "6.5", "--study-hours", "4", "--social-media-hours", "3.5",
    "--physical-activity", "120", "--stress-level", "7",
]  # fmt: skip


def run(script: Path, *args: str, url: str | None = None, stdin: str | None = None) -> Any:
    env = {k: v for k, v in os.environ.items() if k != "API_URL"}
    if url is not None:
        env["API_URL"] = url
    return subprocess.run(
        [sys.executable, str(script), *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_clean_failure(done: Any, code: int, *fragments: str) -> None:
    assert done.returncode == code, done.stdout + done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    for fragment in fragments:
        assert fragment in done.stderr, done.stderr


@pytest.fixture(scope="module")
def api(module_api: ApiServers) -> ApiServer:
    return module_api.start()


def test_predict_from_flags_prints_answer_and_disclaimer(api: ApiServer) -> None:
    done = run(PREDICT, *FLAGS, url=api.url)
    assert done.returncode == 0, done.stderr
    assert "Prediction:" in done.stdout
    assert "model v0001" in done.stdout
    assert "not a diagnosis" in done.stdout


def test_predict_from_json_file_stdin_and_flags_agree(api: ApiServer, tmp_path: Path) -> None:
    path = tmp_path / "student.json"
    path.write_text(json.dumps({"features": EXAMPLE}))
    from_flags = json.loads(run(PREDICT, *FLAGS, "--output", "json", url=api.url).stdout)
    from_file = json.loads(
        run(PREDICT, "--json", f"@{path}", "--output", "json", url=api.url).stdout
    )
    from_stdin = run(
        PREDICT, "--json", "-", "--output", "json", stdin=json.dumps(EXAMPLE), url=api.url
    )
    assert from_stdin.returncode == 0, from_stdin.stderr
    answers = [from_flags, from_file, json.loads(from_stdin.stdout)]
    assert {a["model_version"] for a in answers} == {"v0001"}
    assert len({a["probability"] for a in answers}) == 1
    assert 0.0 <= from_flags["probability"] <= 1.0
    assert from_flags["prediction"] == int(from_flags["probability"] > 0.5)


def test_predict_flag_overrides_json_and_changes_the_answer(api: ApiServer) -> None:
    rested = {**EXAMPLE, "Sleep_Duration": 9.0, "Stress_Level": 2}
    calm = json.loads(
        run(PREDICT, "--json", json.dumps(rested), "--output", "json", url=api.url).stdout
    )
    tense = run(
        PREDICT, "--json", json.dumps(rested), "--stress-level", "10", "--sleep-duration", "4",
        "--output", "json", url=api.url,
    )  # fmt: skip
    assert tense.returncode == 0, tense.stderr
    assert json.loads(tense.stdout)["features"]["Stress_Level"] == 10
    assert json.loads(tense.stdout)["probability"] > calm["probability"]


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--cgpa", "5"], ["CGPA", "--cgpa", "from 0 to 4"]),
        (["--gender", "Robot"], ["Gender", "one of Male, Female, Other"]),
        (["--stress-level", "high"], ["Stress_Level", "whole number from 1 to 10"]),
    ],
)
def test_predict_names_the_bad_field_and_rule(
    api: ApiServer, args: list[str], fragments: list[str]
) -> None:
    done = run(PREDICT, *FLAGS, *args, url=api.url)
    assert_clean_failure(done, 2, "invalid input", *fragments)


def test_predict_reports_missing_unknown_and_malformed_json(api: ApiServer) -> None:
    missing = {k: v for k, v in EXAMPLE.items() if k != "Department"}
    assert_clean_failure(
        run(PREDICT, "--json", json.dumps(missing), url=api.url), 2, "Department", "required"
    )
    extra = {**EXAMPLE, "Mood": 3}
    assert_clean_failure(
        run(PREDICT, "--json", json.dumps(extra), url=api.url), 2, "Mood", "unknown"
    )
    assert_clean_failure(run(PREDICT, "--json", '{"Age": 21,', url=api.url), 2, "not valid JSON")
    assert_clean_failure(run(PREDICT, "--json", "[1, 2]", url=api.url), 2, "JSON object")
    assert_clean_failure(
        run(PREDICT, "--json", "@/no/such/file.json", url=api.url), 2, "cannot read"
    )


def test_predict_without_api_or_with_a_bad_url_fails_clearly() -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    assert_clean_failure(run(PREDICT, *FLAGS, url=nobody), 1, "unavailable", nobody)
    assert_clean_failure(run(PREDICT, *FLAGS, "--url", "127.0.0.1:8080"), 2, "--url")


def simulate(url: str, *args: str) -> dict[str, Any]:
    done = run(SIMULATE, *args, "--json", url=url)
    assert done.returncode == 0, done.stdout + done.stderr
    summary: dict[str, Any] = json.loads(done.stdout)
    return summary


def test_simulate_drift_raises_predicted_risk(api: ApiServer) -> None:
    plain = simulate(api.url, "-n", "300", "--no-feedback", "--seed", "3")
    drifted = simulate(
        api.url, "-n", "300", "--no-feedback", "--seed", "3", "--drift", "sleep-loss"
    )
    for summary in (plain, drifted):
        assert summary["predictions"] == 300
        assert summary["feedbacks"] == 0
        assert summary["failed"] == 0
        assert summary["versions_seen"] == {"v0001": 300}
    # Less sleep and more screen time raise the true risk; the model must see it too.
    assert drifted["predicted_positive_rate"] > plain["predicted_positive_rate"] + 0.1
    assert 0.6 < plain["accuracy"] <= 1.0


@pytest.mark.slow
def test_simulate_feedback_triggers_a_retrain_and_a_new_version(start_api: ApiServers) -> None:
    server = start_api.start(retrain_threshold="40", trainer=True)
    first = simulate(server.url, "-n", "100", "--concurrency", "6", "--wait", "90")
    assert first["predictions"] == 100
    assert first["feedbacks"] == 100
    assert first["failed"] == 0
    assert first["total_feedbacks"] == 100
    # 100 feedbacks cross the threshold at 40 and 80; the second may find the first running.
    assert 1 <= first["retrains_triggered"] <= 2
    assert first["retrain_running"] is False
    assert first["last_retrain"]["state"] in ("succeeded", "rejected")
    rows = (server.settings.prod_data_path).read_text().splitlines()
    assert len(rows) == 101  # header + one durable row per feedback
    second = simulate(server.url, "-n", "20", "--seed", "8")
    assert list(second["versions_seen"]) == [first["current_version"]]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["-n", "0"], "--profiles: must be from 1"),
        (["--concurrency", "1000"], "--concurrency: must be from 1 to 256"),
        (["--drift", "sideways"], "--drift"),
        (["--url", "ftp://example"], "--url must start with http"),
    ],
)
def test_simulate_rejects_bad_arguments(args: list[str], fragment: str) -> None:
    done = run(SIMULATE, *args)
    assert_clean_failure(done, 2)
    assert fragment in done.stderr.replace("\n", " "), done.stderr


def test_simulate_without_api_fails_clearly() -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    done = run(SIMULATE, "-n", "5", url=nobody)
    assert_clean_failure(done, 1)
    assert "unavailable" in done.stderr.replace("\n", " ")
