"""With no visitor, the page's container stays nearly idle: at most 1 % of a core.

Gradio's queue used to look for events every millisecond (mp_ui.server.calm_idle_queue). The
CPU time of each service's main process is read from the host's /proc over the same window, so
the page and the API are measured side by side.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from infra.tests.containers.conftest import FIGURES, SERVICES
from testsupport.docker import ComposeStack

pytestmark = [pytest.mark.containers, pytest.mark.slow]

WINDOW_SECONDS = 30.0
MAX_IDLE_SHARE = 0.01
CLOCK_TICKS = 100  # USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s on Linux


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    user, system = int(fields[11]), int(fields[12])  # utime and stime (fields 14 and 15)
    return (user + system) / CLOCK_TICKS


def test_idle_page_uses_at_most_one_percent_of_a_core(core_stack: ComposeStack) -> None:
    pids = {name: core_stack.inspect(name)["State"]["Pid"] for name in SERVICES}
    time.sleep(5)  # let any request of an earlier test settle
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    started = time.monotonic()
    time.sleep(WINDOW_SECONDS)
    elapsed = time.monotonic() - started
    share = {name: (cpu_seconds(pid) - before[name]) / elapsed for name, pid in pids.items()}
    for name, value in share.items():
        FIGURES[f"idle_cpu_percent_{name}"] = round(value * 100, 2)
    assert share["webapp"] <= MAX_IDLE_SHARE, f"idle page: {share['webapp']:.1%} of a core"
