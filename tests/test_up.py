"""``just up``: the real launcher brings the API and the UI to healthy, Ctrl-C stops everything.

The launcher runs exactly as a person runs it (``just up`` in its own process group), with its
folders under tmp_path, free ports and the session's tiny pre-trained model, so it skips
training. Ctrl-C is SIGINT to the whole foreground process group, as a terminal sends it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from mp_core.client import MindPulseClient
from mp_core.settings import Settings
from testsupport.api import EXAMPLE, client_feedback, free_port

ROOT = Path(__file__).resolve().parents[1]
LAUNCHER = ROOT / "infra" / "native" / "up.py"
UP_TIMEOUT = 240.0
_CLEARED = ("DATA_DIR", "ARTIFACTS_DIR", "REPORTS_DIR", "API_URL", "API_HOST", "API_PORT",
            "UI_PORT", "UI_HOST", "GRADIO_SERVER_NAME", "ADMIN_TOKEN", "API_WORKERS",
            "LOG_FORMAT", "SUPPORT_RESOURCES_FILE")  # fmt: skip


def _tool_path() -> str:
    # CI puts just and uv on PATH (start.sh); a developer's copies usually live in ~/.local/bin.
    return os.pathsep.join([os.environ.get("PATH", ""), str(Path.home() / ".local" / "bin")])


def _environment(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED}
    env.update(
        PATH=_tool_path(),
        DATA_DIR=str(settings.data_dir),
        ARTIFACTS_DIR=str(settings.artifacts_dir),
        REPORTS_DIR=str(settings.reports_dir),
        API_PORT=str(free_port()),
        UI_PORT=str(free_port()),
        RETRAIN_CANDIDATES="logistic_regression",
        MP_UP_TIMEOUT=str(UP_TIMEOUT),
    )
    env.update(extra)
    return env


def _process_table() -> dict[int, tuple[int, str, str]]:
    """pid -> (parent pid, state, command line) for every process we can see."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        table[int(entry.name)] = (int(fields[1]), fields[0], cmdline)
    return table


def _descendants(root: int) -> dict[int, str]:
    table = _process_table()
    found: dict[int, str] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, _, cmd) in table.items():
            if ppid == parent and pid not in found:
                found[pid] = cmd
                frontier.append(pid)
    return found


def _alive(pids: set[int]) -> set[int]:
    table = _process_table()
    return {pid for pid in pids if pid in table and table[pid][1] != "Z"}


class Output:
    """Collects a process's output lines in a thread so its pipe never fills up."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert process.stdout is not None
        self._stream = process.stdout
        self._thread = threading.Thread(target=self._read, args=(process.stdout,), daemon=True)
        self._thread.start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.append(line)

    def close(self) -> None:
        """Once the process has ended: read what is left, then close the pipe."""
        self._thread.join(30)
        self._stream.close()

    def text(self) -> str:
        return "".join(self.lines)

    def wait_for(self, needle: str, process: subprocess.Popen[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.text():
                return
            if process.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"{needle!r} never appeared; output:\n{self.text()}")


@pytest.mark.slow
def test_just_up_serves_both_and_ctrl_c_leaves_no_process_behind(
    trained_settings: Settings,
) -> None:
    just = shutil.which("just", path=_tool_path())
    assert just is not None, "just is not installed (./start.sh installs it)"
    env = _environment(trained_settings)
    api_url = f"http://127.0.0.1:{env['API_PORT']}"
    ui_url = f"http://127.0.0.1:{env['UI_PORT']}"
    process = subprocess.Popen(
        [just, "up"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # a terminal's foreground group, which Ctrl-C signals
    )
    output = Output(process)
    tree: dict[int, str] = {}
    try:
        output.wait_for("MindPulse is up", process, UP_TIMEOUT)
        text = output.text()
        assert "not training" in text  # the tiny model was found: no 100k-row training
        assert f"Page: {ui_url}" in text and f"API: {api_url}" in text
        assert "api    |" in text and "ui     |" in text  # one prefix per service
        assert httpx.get(api_url + "/health", timeout=5).status_code == 200
        assert httpx.get(ui_url + "/healthz", timeout=5).status_code == 200
        assert "MindPulse" in httpx.get(ui_url + "/", timeout=10).text
        with MindPulseClient(api_url) as client:
            totals = [client_feedback(client, EXAMPLE, 1).total_feedbacks for _ in range(3)]
        assert totals == [1, 2, 3]

        tree = _descendants(process.pid)
        commands = " ".join(tree.values())
        assert "mindpulse-api serve" in commands and "mindpulse-ui" in commands

        os.killpg(process.pid, signal.SIGINT)
        process.wait(60)
    finally:
        if process.poll() is None:  # the test failed before Ctrl-C did its work
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            for pid in _alive(set(tree) | set(_descendants(process.pid))):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            process.wait(30)
        output.close()

    deadline = time.monotonic() + 30
    while _alive(set(tree)) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = {pid: tree[pid] for pid in _alive(set(tree))}
    assert left == {}, f"processes left behind after Ctrl-C: {left}\n{output.text()}"
    text = output.text()
    assert "SIGINT received" in text and "mindpulse up: stopped" in text
    for url in (api_url + "/health", ui_url + "/healthz"):
        with pytest.raises(httpx.TransportError):
            httpx.get(url, timeout=2)
    # Every feedback row is whole: the header's column count on every line.
    lines = trained_settings.prod_data_path.read_text().splitlines()
    assert len(lines) == 4
    assert {line.count(",") for line in lines} == {lines[0].count(",")}


def _launcher(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(LAUNCHER)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_bad_setting_is_named_before_anything_starts(mp_settings: Settings) -> None:
    result = _launcher(_environment(mp_settings, API_PORT="eighty"))
    assert result.returncode == 2
    assert "API_PORT" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_a_busy_port_is_named_before_anything_starts(mp_settings: Settings) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = _launcher(_environment(mp_settings, API_PORT=str(port)))
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in result.stdout
    assert "choose another API_PORT" in result.stdout
    assert not mp_settings.artifacts_dir.exists()  # it stopped before training
