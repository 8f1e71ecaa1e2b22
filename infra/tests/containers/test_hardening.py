"""Inside every running container: uid 1000, a root filesystem it cannot write, no capabilities."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.tests.containers.conftest import OPTIONAL_SERVICES, SERVICES
from testsupport.docker import ComposeStack

pytestmark = [pytest.mark.containers, pytest.mark.slow]

# Run with the container's own Python as the container's own user; reads the service's main
# process (pid 1) too, since `docker exec` could in principle differ from it.
PROBE = r"""
import json, os, sys
def status(pid):
    lines = open(f"/proc/{pid}/status").read().splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)
main = status(1)
writes = {}
for path in ("/probe", "/usr/probe", "/etc/probe", os.path.join(os.path.dirname(sys.executable), "probe")):
    try:
        open(path, "w").close()
        os.unlink(path)
        writes[path] = "written"
    except OSError as exc:
        writes[path] = exc.strerror
print(json.dumps({
    "uid": os.getuid(), "gid": os.getgid(),
    "main_uid": main["Uid"].split(), "main_gid": main["Gid"].split(),
    "caps": {k: main[k].strip() for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")},
    "no_new_privs": main["NoNewPrivs"].strip(),
    "writes": writes,
}))
"""
NO_CAPS = "0000000000000000"


def check_probe(seen: dict[str, Any]) -> None:
    assert seen["uid"] == 1000 and seen["gid"] == 1000, seen
    assert set(seen["main_uid"]) == {"1000"} and set(seen["main_gid"]) == {"1000"}, seen
    assert set(seen["caps"].values()) == {NO_CAPS}, seen["caps"]
    assert seen["no_new_privs"] == "1"
    assert set(seen["writes"].values()) == {"Read-only file system"}, seen["writes"]


def check_hardened(stack: ComposeStack, service: str) -> None:
    check_probe(json.loads(stack.exec(service, "python", "-c", PROBE)))
    config = stack.inspect(service)["HostConfig"]
    assert config["ReadonlyRootfs"] is True and config["CapDrop"] == ["ALL"]


@pytest.mark.parametrize("service", SERVICES)
def test_core_services_run_as_uid_1000_read_only_without_capabilities(
    core_stack: ComposeStack, service: str
) -> None:
    check_hardened(core_stack, service)


@pytest.mark.parametrize("service", OPTIONAL_SERVICES)
def test_optional_services_run_as_uid_1000_read_only_without_capabilities(
    optional_stack: ComposeStack, service: str
) -> None:
    check_hardened(optional_stack, service)
