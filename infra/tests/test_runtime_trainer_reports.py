"""The trainer's and the reports' images run as their containers would (see sandbox.py): as uid
1000, writing only the folders compose.yaml mounts read-write for them."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.tests.images import IMAGES
from infra.tests.replay import CONTAINER_UID
from infra.tests.sandbox import Sandbox
from mp_core.ml.synthetic import SLEEP_LOSS_DRIFT, generate
from mp_core.schema import FEATURE_NAMES, profile_from_mapping
from mp_core.stores.feedback_files import FeedbackRecord, FeedbackStore

pytestmark = pytest.mark.slow

SPECS = {spec.service: spec for spec in IMAGES}
DATASET_ROWS = 3000  # the image would generate 100,000 rows; a small set keeps the run short
FEEDBACK_ROWS = 300


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture(scope="module")
def trained(sandbox: Sandbox) -> Sandbox:
    trainer = SPECS["trainer"]
    generated = sandbox.run(trainer, "generate-data", "--rows", str(DATASET_ROWS))
    assert generated.returncode == 0, generated.stdout + generated.stderr
    # What the image's `worker --train-if-missing` does first (then it waits for requests).
    first = sandbox.run(trainer, "train", "--if-missing")
    assert first.returncode == 0, first.stdout + first.stderr
    return sandbox


def test_trainer_trains_into_data_and_artifacts(trained: Sandbox) -> None:
    app = trained.app
    assert (app / "data" / "ref_data.csv").is_file()
    assert any((app / "artifacts").iterdir())
    assert _listing(app / "reports") == []
    if trained.uid is not None:
        owners = {p.stat().st_uid for p in (app / "artifacts").rglob("*")}
        assert owners == {CONTAINER_UID}


def test_trainer_is_a_no_op_once_a_model_exists(trained: Sandbox) -> None:
    before = _listing(trained.app / "artifacts")
    again = trained.run(SPECS["trainer"], "train", "--if-missing")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "not training" in again.stdout
    assert _listing(trained.app / "artifacts") == before


def test_reports_read_data_and_write_only_reports(trained: Sandbox) -> None:
    # Feedback as the API appends it (the same store), drifted so the reports have a story.
    store = FeedbackStore(trained.app / "data" / "prod_data.csv")
    frame = generate(FEEDBACK_ROWS, 5, drift=SLEEP_LOSS_DRIFT)
    for row in frame.to_dict("records"):
        profile = profile_from_mapping({name: row[name] for name in FEATURE_NAMES})
        actual = int(row["Depression"])
        record = FeedbackRecord(
            profile=profile, prediction=actual, probability=0.5, actual=actual, model_version="v1"
        )
        store.append(record)
    data_before = _listing(trained.app / "data")
    done = trained.run(SPECS["reporting"])
    assert done.returncode == 0, done.stdout + done.stderr
    reports = _listing(trained.app / "reports")
    for name in ("data_quality.html", "data_drift.html", "summary.json"):
        assert name in reports
    assert _listing(trained.app / "data") == data_before
    if trained.uid is not None:
        assert (trained.app / "reports" / "summary.json").stat().st_uid == CONTAINER_UID
