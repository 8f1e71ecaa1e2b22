# MindPulse commands. Logic lives in the members' console scripts; recipes only call them.

set dotenv-load := true
set shell := ["bash", "-euo", "pipefail", "-c"]

uv := env("UV", "uv")

# Bring the platform up natively (the same as `just up`); `./start.sh` with no argument runs this.
default: up

# Install every member and the dev tools from the lock.
sync:
    {{uv}} sync --frozen --all-packages

# Generate the synthetic dataset (data/dataset.csv).
generate-data *args: sync
    {{uv}} run --frozen mindpulse generate-data {{args}}

# Train all candidates, save a new version and make it current.
train *args: sync
    {{uv}} run --frozen mindpulse train {{args}}

# Show the current model.
model-info: sync
    {{uv}} run --frozen mindpulse model-info

# Check a CSV against the schema, line by line.
validate-data path: sync
    {{uv}} run --frozen mindpulse validate-data {{path}}

# Make the previous version current again.
rollback: sync
    {{uv}} run --frozen mindpulse rollback

# Lint, type-check and run every test.
test *args: sync lint typecheck
    {{uv}} run --frozen pytest {{args}}

# Install the MLflow server's and Airflow's own locked environments (infra/mlflow, infra/airflow); their tests and recipes use them.
sync-optional-envs:
    {{uv}} sync --frozen --project infra/mlflow
    {{uv}} sync --frozen --project infra/airflow

# Record how many tests each file holds, per suite (.ci/expected-tests.json; in CI a run fails when another number ran).
expected-tests: sync
    {{uv}} run --frozen pytest --collect-only -q --record-expected-tests >/dev/null
    {{uv}} run --frozen pytest -m containers infra/tests/containers --collect-only -q --record-expected-tests >/dev/null
    {{uv}} run --frozen pytest -m swarm infra/tests/swarm_live --collect-only -q --record-expected-tests >/dev/null

# Build every image (all profiles) and run the stack on a Docker engine: installs what is missing (Debian, root), starts dockerd when none answers.
test-containers *args: sync
    .ci/container-tools
    {{uv}} run --frozen pytest -m containers infra/tests/containers {{args}}

# Deploy the Swarm stack (infra/swarm) on a one-node swarm of this machine's Docker engine and run its live tests; leaves the engine as it was.
test-swarm *args: sync
    .ci/container-tools
    {{uv}} run --frozen pytest -m swarm infra/tests/swarm_live {{args}}

# MindPulse on Docker Swarm: build the images, init a one-node swarm if none, secrets from infra/swarm/secrets/, deploy, wait for health.
swarm-up: sync
    {{uv}} run --frozen python -m infra.swarm.swarm_stack up

# Remove the Swarm stack and its secrets (volumes stay; --volumes removes them); leaves the swarm only if swarm-up made it.
swarm-down *args: sync
    {{uv}} run --frozen python -m infra.swarm.swarm_stack down {{args}}

# Each image's size, its base and what our layers add, next to the original guide's figures (Markdown).
image-sizes: sync
    {{uv}} run --frozen python infra/compose/image_sizes.py

# Rebuild each image after a code-only change in a fresh copy of the repo: seconds per image, dependency layers reused.
bench-rebuild: sync
    {{uv}} run --frozen python infra/compose/rebuild_bench.py

# Lint and format check.
lint: sync
    {{uv}} run --frozen ruff check .
    {{uv}} run --frozen ruff format --check .

# Strict type check of mp-core.
typecheck: sync
    {{uv}} run --frozen mypy packages/mp-core/src

# Format the code.
fmt: sync
    {{uv}} run --frozen ruff format .
    {{uv}} run --frozen ruff check --fix .

# Build the images, train when no model exists, start API and page in containers (needs Docker).
up-docker: sync
    {{uv}} run --frozen python infra/compose/stack.py up

# Stop and remove the containers (data/, artifacts/ and reports/ stay).
down: sync
    {{uv}} run --frozen python infra/compose/stack.py down

# Follow the containers' logs: all services, or one (just logs serving-api).
logs *service: sync
    {{uv}} run --frozen python infra/compose/stack.py logs {{service}}

# Run the Evidently reports once in a container (compose profile "reporting").
report-docker: sync
    {{uv}} run --frozen python infra/compose/stack.py report

# Serve the web page alone on UI_PORT (it waits for the API; `just up` starts both).
ui: sync
    {{uv}} run --frozen mindpulse-ui

# The platform natively: train on the first run, start the API then the UI, print the URLs; Ctrl-C stops both.
up: sync
    {{uv}} run --frozen python infra/native/up.py

# Benchmark the API (wrk, vs the original approach and a ceiling), then reporting; [--quick] [--json PATH]
bench *args: sync
    #!/usr/bin/env bash
    set -uo pipefail
    status=0
    {{uv}} run --frozen --group bench python -m services.api.bench {{args}} || status=$?
    # Reporting benchmark (services/reporting/bench): 100,000 reference rows, target < 20 s.
    if [ -f services/reporting/bench/__main__.py ]; then {{uv}} run --frozen --group bench python -m services.reporting.bench || status=$?; fi
    exit $status

# How many API replicas one PostgreSQL serves: one replica's /predict and feedback rates, the database's rows/s, the next bottleneck. [--quick] [--json PATH]
bench-scale *args: sync
    {{uv}} run --frozen --group bench python -m services.api.bench --scale --peers none {{args}}

# Serve the API alone on API_PORT with API_WORKERS processes (API_SERVER=granian|uvicorn); `just up` starts it with the UI.
api *args: sync
    {{uv}} run --frozen mindpulse-api serve {{args}}

# MLflow tracking server on MLFLOW_PORT (5000) from its own pinned environment; SQLite store and artifacts in MLFLOW_DIR (data/mlflow).
mlflow:
    {{uv}} run --frozen --project infra/mlflow python infra/mlflow/serve.py

# Airflow (standalone, SQLite) on AIRFLOW_PORT (8083) with the MindPulse DAGs, from its own environment; the login is printed at start.
airflow: sync
    {{uv}} run --frozen --project infra/airflow python infra/airflow/standalone.py

# Write the Evidently reports (data quality, drift, classification) and summary.json into REPORTS_DIR, keep the last 10 in history/.
report *args: sync
    {{uv}} run --frozen mindpulse-report {{args}}

# Drift of the raw features over DRIFT_THRESHOLD -> POST /retrain (ADMIN_TOKEN, API_URL). Exit 0 no drift, 10 retrain requested, 11 one already running, 1 failure, 2 bad input.
drift-check *args: sync
    {{uv}} run --frozen mindpulse-report --drift-check {{args}}

# The adaptation curve: a real API fed by one world then another (concept, covariate, stationary); JSON + PNG in reports/drift_simulation. [--quick] [--scenario NAME] [--url URL]
simulate-drift *args: sync
    {{uv}} run --frozen python scripts/simulate_drift.py {{args}}

# Mutation testing (mutmut, not in CI) of the feedback store, the artifact store and the fast path against their own test files; [GLOB] picks mutants, e.g. "mp_core.scoring.fastpath*". Survivors are listed at the end.
mutants *args: sync
    # One OpenMP thread: a thread pool started before mutmut forks each mutant's run hangs in the
    # child (scikit-learn's gradient boosting uses one), and the mutant is then reported as a timeout.
    cd packages/mp-core && OMP_NUM_THREADS=1 {{uv}} run --frozen --project ../.. --group mutants mutmut run {{args}}
    cd packages/mp-core && {{uv}} run --frozen --project ../.. --group mutants mutmut results
