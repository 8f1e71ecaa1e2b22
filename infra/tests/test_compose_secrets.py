"""Secrets reach only the containers that use them, as files; every container is bounded in
processes and CPU; the API and the page know which Host names they serve."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.compose import prepare_folders, stack
from infra.tests.dockerfiles import REPO_ROOT, DockerIgnore
from testsupport.ci import running_as_root

COMPOSE = REPO_ROOT / "infra" / "compose" / "compose.yaml"
SECRET_FILES = prepare_folders.SECRET_FILES
#: Who needs what: the API checks the token and every bundle it loads, the trainer signs what it trains,
#: reporting and Airflow check bundles and call POST /retrain.
NEEDS = {
    "prepare-folders": set(),
    "trainer": {"MODEL_SIGNING_KEY"},
    "serving-api": {"ADMIN_TOKEN", "MODEL_SIGNING_KEY"},
    "webapp": set(),
    "reporting": {"ADMIN_TOKEN", "MODEL_SIGNING_KEY"},
    "mlflow": set(),
    "airflow": {"ADMIN_TOKEN", "MODEL_SIGNING_KEY"},
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def test_each_service_gets_only_the_secrets_it_needs_as_read_only_folders(
    compose: dict[str, Any],
) -> None:
    assert set(compose["services"]) == set(NEEDS)
    assert "secrets" not in compose  # a file secret whose source is missing fails `up`
    for name, service in compose["services"].items():
        assert "secrets" not in service, name
        environment = service.get("environment", {})
        mounted = {v for v in service.get("volumes", []) if ":/run/secrets/" in v}
        expected = set()
        for variable, relative in SECRET_FILES.items():
            if variable in NEEDS[name]:
                folder = relative.parent.as_posix()
                expected.add(f"./secrets/{folder}:/run/secrets/{folder}:ro")
                assert environment[f"{variable}_FILE"] == f"/run/secrets/{relative}", name
            else:
                assert f"{variable}_FILE" not in environment, name
            assert variable not in environment, name
        assert mounted == expected, name
    assert "./secrets:/mnt/secrets" in compose["services"]["prepare-folders"]["volumes"]


def test_every_service_has_a_process_and_cpu_limit(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        limits = service["deploy"]["resources"]["limits"]
        assert 0 < int(limits["pids"]) <= 1024, name
        assert 0 < float(limits["cpus"]) <= 2, name


def test_the_api_and_the_page_list_the_hosts_they_serve(compose: dict[str, Any]) -> None:
    services = compose["services"]
    api_hosts = services["serving-api"]["environment"]["API_ALLOWED_HOSTS"].split(",")
    assert "serving-api" in api_hosts and "127.0.0.1" in api_hosts  # prod_net, healthcheck
    assert services["webapp"]["environment"]["API_URL"] == "http://serving-api:8080"
    assert "127.0.0.1" in services["webapp"]["environment"]["UI_ALLOWED_HOSTS"].split(",")


def _owner_and_mode(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_uid, stat.S_IMODE(info.st_mode)


def test_secret_files_are_made_once_private_and_readable_by_the_containers(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "secrets"
    assert stack.prepare_secrets(folder, environ={}) == []
    values = {}
    for variable, relative in SECRET_FILES.items():
        path = folder / relative
        values[variable] = path.read_text().strip()
        assert len(values[variable]) >= 32
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        if running_as_root():
            assert _owner_and_mode(path)[0] == stack.CONTAINER_UID
            assert _owner_and_mode(path.parent) == (stack.CONTAINER_UID, 0o700)
    assert stack.prepare_secrets(folder, environ={}) == []
    assert {v: (folder / r).read_text().strip() for v, r in SECRET_FILES.items()} == values
    assert values["ADMIN_TOKEN"] != values["MODEL_SIGNING_KEY"]


def test_folders_docker_made_get_secrets_and_a_chosen_secret_is_kept(tmp_path: Path) -> None:
    root = tmp_path / "secrets"
    for relative in SECRET_FILES.values():
        (root / relative.parent).mkdir(parents=True)  # as Docker does for a missing mount source
    chosen = root / SECRET_FILES["ADMIN_TOKEN"]
    chosen.write_text("my-own-token-" + "x" * 32 + "\n")
    chosen.chmod(0o644)
    assert prepare_folders.prepare_secrets(root) is None
    assert chosen.read_text() == "my-own-token-" + "x" * 32 + "\n"  # never rewritten
    made = root / SECRET_FILES["MODEL_SIGNING_KEY"]
    assert len(made.read_text().strip()) >= 32
    if running_as_root():
        assert _owner_and_mode(made) == (stack.CONTAINER_UID, 0o600)
        assert _owner_and_mode(made.parent) == (stack.CONTAINER_UID, 0o700)
        # They hold a file someone put there, so they are not Docker's: left as they are.
        assert _owner_and_mode(root)[0] == _owner_and_mode(chosen.parent)[0] == 0


def test_a_secret_the_containers_cannot_read_is_one_clear_line(tmp_path: Path) -> None:
    root = tmp_path / "secrets"
    token = root / SECRET_FILES["ADMIN_TOKEN"]
    token.parent.mkdir(parents=True)
    token.write_text("x" * 40)
    if running_as_root():
        os.chown(token, 4242, 4242)
        token.chmod(0o600)
    else:
        token.chmod(0o000)
    problem = prepare_folders.prepare_secrets(root)
    assert problem is not None and "\n" not in problem
    assert "secrets/admin/token" in problem and "cannot read it" in problem
    assert "sudo chown -R 1000:1000 secrets" in problem
    assert token.stat().st_size == 40  # left as it was


def test_a_second_run_as_root_with_only_chown_keeps_the_private_folders(tmp_path: Path) -> None:
    """What prepare-folders meets on every `up` after the first: folders 0700 of uid 1000, which
    root without CAP_DAC_READ_SEARCH cannot look into."""
    root = tmp_path / "secrets"
    assert prepare_folders.prepare_secrets(root) is None
    before = {r: (root / r).read_bytes() for r in SECRET_FILES.values()}
    only_chown = ["setpriv", "--bounding-set=-all,+chown", "--inh-caps=-all"]
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import prepare_folders as p; "
        "from pathlib import Path; r = p.prepare_secrets(Path(sys.argv[2])); "
        "print(r or 'ok'); sys.exit(r is not None)"
    )
    command = [
        *(only_chown if running_as_root() else []),
        *(sys.executable, "-c", script, str(REPO_ROOT / "infra" / "compose"), str(root)),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr
    assert {r: (root / r).read_bytes() for r in SECRET_FILES.values()} == before


@pytest.mark.parametrize("variable", ["ADMIN_TOKEN", "MODEL_SIGNING_KEY"])
def test_a_secret_in_the_shared_environment_is_refused(tmp_path: Path, variable: str) -> None:
    with pytest.raises(stack.StackError, match=f"{variable} is set .*secrets/"):
        stack.prepare_secrets(tmp_path / "secrets", environ={variable: "x" * 40})
    assert not (tmp_path / "secrets").exists()


def test_secrets_never_reach_an_image() -> None:
    ignored = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in ignored  # everything is out unless re-included
    # Under infra/ only single named files come back (the builders' slim_env.py), never a
    # folder that could hold the secrets.
    infra = [line for line in ignored if line.startswith("!infra")]
    assert infra == ["!infra/compose/slim_env.py"]
    rules = DockerIgnore.read(REPO_ROOT / ".dockerignore")
    assert all(rules.excludes(f"infra/compose/secrets/{path}") for path in SECRET_FILES.values())
    assert "/infra/compose/secrets/" in (REPO_ROOT / ".gitignore").read_text().splitlines()
