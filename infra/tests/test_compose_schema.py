"""compose.yaml against the Compose Specification: the vendored JSON schema, and ``docker compose
config`` (it needs no engine, only the client and its compose plugin, which `.ci/container-tools`
installs; without them that check fails and says so)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
import yaml

from infra.tests.dockerfiles import COMPOSE_DIR

SCHEMA_PATH = COMPOSE_DIR / "schema" / "compose-spec.json"
COMPOSE_FILE = COMPOSE_DIR / "compose.yaml"
# Every profile, so that the optional services are validated too.
PROFILES = ("reporting", "tracking", "orchestration")

# A validator takes a compose file and returns the problems it found (empty: valid).
Validator = Callable[[Path], list[str]]


def _schema_problems(path: Path) -> list[str]:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
        for error in validator.iter_errors(document)
    ]


def _compose_config_problems(path: Path) -> list[str]:
    docker = shutil.which("docker")
    if docker is None:
        pytest.fail("the docker client is not installed (`.ci/container-tools` installs it)")
    version = subprocess.run(
        [docker, "compose", "version"], capture_output=True, text=True, timeout=60, check=False
    )
    if version.returncode != 0:
        pytest.fail(
            "the docker compose plugin does not answer (`.ci/container-tools` installs it): "
            + (version.stderr.strip() or version.stdout.strip())
        )
    profiles = [arg for name in PROFILES for arg in ("--profile", name)]
    command = [docker, "compose", "-f", str(path), *profiles, "config", "--quiet"]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    return [completed.stderr.strip() or "failed"] if completed.returncode else []


VALIDATORS = [
    pytest.param(_schema_problems, id="compose-spec-jsonschema"),
    pytest.param(_compose_config_problems, id="docker-compose-config"),
]


def test_vendored_schema_is_a_valid_json_schema() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["title"] == "Compose Specification"


@pytest.mark.parametrize("problems", VALIDATORS)
def test_compose_file_follows_the_specification(problems: Validator) -> None:
    assert problems(COMPOSE_FILE) == []


@pytest.mark.parametrize("problems", VALIDATORS)
def test_validator_rejects_a_broken_compose_file(problems: Validator, tmp_path: Path) -> None:
    # Proves the check can fail: a misspelt key and a wrong type in an otherwise valid copy.
    document = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    document["services"]["serving-api"]["read_only"] = "sometimes"
    document["services"]["webapp"]["restart_policy"] = "always"
    document["services"]["mlflow"]["profiles"] = "tracking"
    broken = tmp_path / "compose.yaml"
    broken.write_text(yaml.safe_dump(document), encoding="utf-8")
    assert problems(broken) != []


def test_vendored_schema_is_the_one_noted_in_its_readme() -> None:
    digest = hashlib.sha256(SCHEMA_PATH.read_bytes()).hexdigest()
    assert f"sha256: `{digest}`" in (SCHEMA_PATH.parent / "README.md").read_text(encoding="utf-8")
