"""The Swarm stack as Docker reads it, and its proxy's configuration as HAProxy reads it.

``docker stack config`` runs docker/cli's own Compose loader (schema of the v3 format,
interpolation, merges) with no engine; ``haproxy -c`` checks haproxy.cfg with no traffic.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from infra.tests.deployments import SWARM_DIR

STACK_FILE = SWARM_DIR / "stack.yaml"
PROXY_CONFIG = SWARM_DIR / "haproxy.cfg"
#: Keys `docker stack deploy` ignores with a warning: docker/cli cli/compose/types/types.go
#: (UnsupportedProperties and DeprecatedProperties), as of Docker 28.
IGNORED_BY_SWARM = frozenset({
    "build", "cgroupns_mode", "cgroup_parent", "devices", "domainname", "external_links", "ipc",
    "links", "mac_address", "network_mode", "pid", "privileged", "restart", "security_opt",
    "shm_size", "userns_mode", "container_name", "expose", "depends_on",
})  # fmt: skip


def _tool(name: str, hint: str) -> str:
    found = shutil.which(name)
    assert found is not None, f"{name} is not on PATH: {hint}"
    return found


def stack_config(path: Path) -> dict[str, Any]:
    """The stack as ``docker stack config`` resolves it; a file it rejects raises with its message."""
    docker = _tool("docker", "the docker client (no engine needed) parses the stack")
    completed = subprocess.run(
        [docker, "stack", "config", "--compose-file", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if completed.returncode:
        raise RuntimeError(f"docker stack config: {(completed.stderr or completed.stdout).strip()}")
    loaded: dict[str, Any] = yaml.safe_load(completed.stdout)
    return loaded


def haproxy_check(path: Path) -> tuple[int, list[str]]:
    """``haproxy -c -f PATH``: its exit status and the warnings and alerts it printed."""
    haproxy = _tool("haproxy", "install Debian's haproxy (as .ci/run does)")
    completed = subprocess.run(
        [haproxy, "-c", "-f", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    output = completed.stdout + completed.stderr
    findings = [line for line in output.splitlines() if "[WARNING]" in line or "[ALERT]" in line]
    return completed.returncode, findings
