"""``just up``: the platform on this machine, without Docker.

    python infra/native/up.py              train if no model exists, run the API and the UI
    python infra/native/up.py wait-for-api (Procfile) wait until the API answers, then return

Honcho runs the services of ``infra/native/Procfile`` (API, trainer worker, UI): one log stream with a prefix per
service, and on Ctrl-C (or SIGTERM) it sends SIGTERM to each service's process group, so all
stop cleanly and nothing is left behind. This script adds what honcho does not do: train first,
give both services consistent ports, wait until both answer and print where to find them.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

import httpx

from mp_core.settings import ConfigError, Settings

ROOT: Final = Path(__file__).resolve().parents[2]
PROCFILE: Final = Path(__file__).with_name("Procfile")
# How long to wait for both services to answer before saying so (the first start of Gradio is
# slow on a small machine); they keep running either way.
UP_TIMEOUT: Final = float(os.environ.get("MP_UP_TIMEOUT", "180"))
# The UI starts once the API answers, or after this long anyway (it copes with a missing API).
API_WAIT: Final = 60.0
# Services get this long to stop after SIGTERM before honcho kills them; the API finishes the
# requests in flight (feedback rows are written whole) well within it.
STOP_GRACE: Final = 15
# honcho's return code after Ctrl-C or SIGTERM: a stop that was asked for is a success.
STOPPED_ON_REQUEST: Final = (130, 143)


def _say(text: str) -> None:
    print(f"mindpulse up: {text}", flush=True)


def _loopback(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def service_environment(environ: Mapping[str, str], settings: Settings) -> dict[str, str]:
    """The services' environment: the caller's, plus ports and an API_URL that agree."""
    env = dict(environ)
    env["API_HOST"] = settings.api_host
    env["API_PORT"] = str(settings.api_port)
    env["UI_PORT"] = str(settings.ui_port)
    if not environ.get("API_URL"):
        env["API_URL"] = f"http://{_loopback(settings.api_host)}:{settings.api_port}"
    env["PYTHONUNBUFFERED"] = "1"  # log lines reach the terminal as they are written
    env["GRADIO_ANALYTICS_ENABLED"] = "False"
    return env


def _port_taken(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def _answers(url: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(url, timeout=2).status_code == 200
    return False


def _console_script(name: str) -> str:
    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    if found is None:
        raise SystemExit(f"mindpulse up: `{name}` is not installed; run `just sync` first")
    return found


def train_if_missing(env: Mapping[str, str]) -> int:
    """``mindpulse train --if-missing``: the first run generates data and trains."""
    _say("checking for a trained model (the first run generates data and trains one)")
    return subprocess.call([_console_script("mindpulse"), "train", "--if-missing"], env=dict(env))


class Announcer(threading.Thread):
    """Waits until the API and the UI answer, then prints the URLs into honcho's stream."""

    def __init__(self, manager: object, api_url: str, ui_url: str, timeout: float) -> None:
        super().__init__(name="announcer", daemon=True)
        self.manager = manager
        self.api_url = api_url
        self.ui_url = ui_url
        self.timeout = timeout
        self.stopped = threading.Event()

    def _post(self, text: str) -> None:
        from honcho.printer import Message

        events = self.manager.events  # type: ignore[attr-defined]
        events.put(Message("line", text + "\n", datetime.datetime.now(), "up", None))

    def run(self) -> None:
        deadline = time.monotonic() + self.timeout
        pending = {"API": f"{self.api_url}/health", "UI": f"{self.ui_url}/healthz"}
        while pending and not self.stopped.wait(0.5):
            for name, url in list(pending.items()):
                if _answers(url):
                    del pending[name]
            if time.monotonic() > deadline:
                self._post(
                    f"still waiting for {' and '.join(pending)} after {self.timeout:.0f} s; "
                    "see their logs above"
                )
                return
        if not pending:
            self._post(
                f"MindPulse is up. Page: {self.ui_url}  API: {self.api_url} "
                f"(OpenAPI: {self.api_url}/schema). Press Ctrl-C to stop them all."
            )


def run(environ: Mapping[str, str]) -> int:
    from honcho import manager as honcho_manager
    from honcho.environ import parse_procfile

    try:
        settings = Settings.from_env(environ)
    except ConfigError as exc:
        _say(str(exc))
        return 2
    env = service_environment(environ, settings)
    ui_host = environ.get("UI_HOST") or environ.get("GRADIO_SERVER_NAME") or "127.0.0.1"
    for name, host, port in (
        ("API_PORT", settings.api_host, settings.api_port),
        ("UI_PORT", ui_host, settings.ui_port),
    ):
        if _port_taken(host, port):
            _say(
                f"port {port} on {host} is already in use (is MindPulse already running?); "
                f"stop that process or choose another {name}"
            )
            return 1
    try:
        code = train_if_missing(env)
    except KeyboardInterrupt:
        _say("interrupted before the services started")
        return 130
    if code != 0:
        _say(f"training failed (exit code {code}); the services were not started")
        return code

    honcho_manager.KILL_WAIT = STOP_GRACE
    manager = honcho_manager.Manager()
    processes = parse_procfile(PROCFILE.read_text(encoding="utf-8")).processes
    for name, command in processes.items():
        manager.add_process(name, command, env=env, cwd=str(ROOT))
    ui_url = f"http://{_loopback(ui_host)}:{settings.ui_port}"
    announcer = Announcer(manager, env["API_URL"].rstrip("/"), ui_url, UP_TIMEOUT)
    announcer.start()
    _say("starting the API and the trainer worker, then the UI (Ctrl-C stops them all)")
    manager.loop()
    announcer.stopped.set()
    if manager.returncode in STOPPED_ON_REQUEST:
        _say("stopped")
        return 0
    return manager.returncode or 0


def wait_for_api(environ: Mapping[str, str], timeout: float) -> int:
    """Return once the API answers ``/health`` at all (200, or 503 while it loads a model)."""
    url = (environ.get("API_URL") or "http://127.0.0.1:8080").rstrip("/") + "/health"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(url, timeout=2)
            return 0
        time.sleep(0.3)
    _say(f"the API did not answer at {url} within {timeout:.0f} s; starting the UI anyway")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="up.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", nargs="?", default="run", choices=("run", "wait-for-api"))
    parser.add_argument("--timeout", type=float, default=API_WAIT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.command == "wait-for-api":
        return wait_for_api(os.environ, args.timeout)
    return run(os.environ)


if __name__ == "__main__":
    sys.exit(main())
