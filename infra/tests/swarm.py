"""The Swarm stack as Docker reads it, and its proxy's configuration as HAProxy reads it.

``docker stack config`` runs docker/cli's own Compose loader (schema of the v3 format,
interpolation, merges) with no engine; ``haproxy -c`` checks haproxy.cfg with no traffic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from infra.tests.deployments import SWARM_DIR, output_of, run_tool, tool

STACK_FILE = SWARM_DIR / "stack.yaml"
PROXY_CONFIG = SWARM_DIR / "haproxy.cfg"
#: Keys `docker stack deploy` ignores with a warning: docker/cli cli/compose/types/types.go
#: (UnsupportedProperties and DeprecatedProperties), as of Docker 28.
IGNORED_BY_SWARM = frozenset({
    "build", "cgroupns_mode", "cgroup_parent", "devices", "domainname", "external_links", "ipc",
    "links", "mac_address", "network_mode", "pid", "privileged", "restart", "security_opt",
    "shm_size", "userns_mode", "container_name", "expose", "depends_on",
})  # fmt: skip


def stack_config(path: Path) -> dict[str, Any]:
    """The stack as ``docker stack config`` resolves it; a file it rejects raises with its message."""
    docker = tool("docker", "the docker client (no engine needed) parses the stack")
    loaded: dict[str, Any] = yaml.safe_load(
        output_of([docker, "stack", "config", "--compose-file", str(path)])
    )
    return loaded


def haproxy_check(path: Path) -> tuple[int, list[str]]:
    """``haproxy -c -f PATH``: its exit status and the warnings and alerts it printed."""
    haproxy = tool("haproxy", "install Debian's haproxy (as .ci/run does)")
    completed = run_tool([haproxy, "-c", "-f", str(path)])
    output = completed.stdout + completed.stderr
    findings = [line for line in output.splitlines() if "[WARNING]" in line or "[ALERT]" in line]
    return completed.returncode, findings
