"""The API's and the page's images serve as their containers would (see sandbox.py): as uid 1000,
healthy by their own HEALTHCHECK commands, the API writing feedback into the mounted data/."""

from __future__ import annotations

import httpx
import pytest

from infra.tests.images import IMAGES
from infra.tests.replay import CONTAINER_UID
from infra.tests.sandbox import Sandbox, free_port
from mp_core.ml.synthetic import generate
from mp_core.schema import FEATURE_NAMES
from mp_core.stores.feedback_files import PROD_COLUMNS

pytestmark = pytest.mark.slow

SPECS = {spec.service: spec for spec in IMAGES}
DATASET_ROWS = 2000
FEEDBACK_ROWS = 20
DOCS_AND_STATUS = (
    "/schema/swagger",
    "/schema/redoc",
    "/schema/openapi.json",
    "/schema/assets/swagger-ui-bundle.js",
    "/schema/assets/redoc.standalone.js",
    "/metrics",
    "/model",
    "/model/versions",
    "/v2/models/mindpulse",
)


@pytest.fixture(scope="module")
def trained(sandbox: Sandbox) -> Sandbox:
    trainer = SPECS["trainer"]
    generated = sandbox.run(trainer, "generate-data", "--rows", str(DATASET_ROWS))
    assert generated.returncode == 0, generated.stdout + generated.stderr
    # The image's own command is the long-running worker; --once trains, then exits.
    done = sandbox.run(trainer, "worker", "--train-if-missing", "--once")
    assert done.returncode == 0, done.stdout + done.stderr
    return sandbox


def test_api_is_healthy_and_writes_feedback_as_uid_1000(trained: Sandbox) -> None:
    api = SPECS["serving-api"]
    port = str(free_port())
    # The container listens on 0.0.0.0 inside its own network; here only loopback is used.
    with trained.serving(api, API_HOST="127.0.0.1", API_PORT=port) as process:
        trained.wait_healthy(api, process, API_PORT=port)
        frame = generate(FEEDBACK_ROWS, 11)
        actuals = []
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for row in frame.to_dict("records"):
                features = {name: row[name] for name in FEATURE_NAMES}
                predicted = client.post("/predict", json={"features": features})
                assert predicted.status_code == 200, predicted.text
                feedback = {
                    "prediction_id": predicted.json()["prediction_id"],
                    "actual": int(row["Depression"]),
                }
                answered = client.post("/feedback", json=feedback)
                assert answered.status_code == 200, answered.text
                actuals.append(str(feedback["actual"]))
            # The routes that reach past the scoring path, in the slimmed environment: the
            # docs pages and their files, the metrics, the model and the V2 metadata.
            for path in DOCS_AND_STATUS:
                answer = client.get(path)
                assert answer.status_code == 200, (path, answer.text[:300])
    prod = trained.app / "data" / "prod_data.csv"
    header, *rows = prod.read_text().splitlines()
    # Exactly one row per answered feedback, in order, under the store's header.
    assert header == ",".join(PROD_COLUMNS)
    assert [line.rsplit(",", 1)[1] for line in rows] == actuals
    if trained.uid is not None:
        assert prod.stat().st_uid == CONTAINER_UID


def test_page_is_healthy_against_the_api(trained: Sandbox) -> None:
    api, page = SPECS["serving-api"], SPECS["webapp"]
    api_port, ui_port = str(free_port()), str(free_port())
    with trained.serving(api, API_HOST="127.0.0.1", API_PORT=api_port) as api_process:
        trained.wait_healthy(api, api_process, API_PORT=api_port)
        page_env = {
            "UI_HOST": "127.0.0.1",
            "UI_PORT": ui_port,
            "API_URL": f"http://127.0.0.1:{api_port}",
        }
        with trained.serving(page, **page_env) as page_process:
            trained.wait_healthy(page, page_process, UI_PORT=ui_port)
            home = httpx.get(f"http://127.0.0.1:{ui_port}/", timeout=10)
            assert home.status_code == 200
