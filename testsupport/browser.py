"""Fixtures for browser tests: Debian's headless Chromium driven by playwright, and the real UI.

Playwright never downloads a browser here: it drives ``/usr/bin/chromium`` with the flags below.
``ui_server`` starts the installed ``mindpulse-ui`` console script on a free port, pointed at an
API URL and a reports folder; pages record every request so a test can prove nothing left the
machine. Screenshots go to ``$MP_TEST_ARTIFACTS/screenshots`` (kept by CI) or under tmp_path.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from testsupport.api import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
# Gradio takes a while to import on a busy two-core machine.
UI_START_TIMEOUT = 120.0
#: Variables of the parent environment that must not leak into a test UI (or its console script).
UI_CLEARED = ("API_URL", "UI_PORT", "UI_HOST", "GRADIO_SERVER_NAME", "REPORTS_DIR",
              "SUPPORT_RESOURCES_FILE", "LOG_FORMAT", "UI_STATUS_INTERVAL", "ADMIN_TOKEN",
              "REPORT_SCHEDULE_HOURS", "DATA_DIR", "UI_ALLOWED_HOSTS", "UI_MAX_CONCURRENT")  # fmt: skip


def _console_script(name: str) -> str:
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise RuntimeError(f"{path} is missing: run `uv sync --all-packages`")
    return str(path)


class UiServer:
    """One ``mindpulse-ui`` process in its own process group."""

    def __init__(
        self,
        root: Path,
        api_url: str,
        *,
        reports_dir: Path | None = None,
        launcher: Sequence[str] = (),
        **env: str,
    ) -> None:
        self.root = root
        self.api_url = api_url
        self.reports_dir = reports_dir or root / "reports"
        self.launcher = list(launcher)  # a command the console script runs under
        self.port = free_port()
        self.extra_env = {k.upper(): v for k, v in env.items()}
        self.log_path = root / f"ui-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in UI_CLEARED}
        env.update(
            API_URL=self.api_url,
            UI_PORT=str(self.port),
            UI_HOST="127.0.0.1",
            REPORTS_DIR=str(self.reports_dir),
            GRADIO_ANALYTICS_ENABLED="False",
            # Checked often, so a test sees the API come and go within seconds.
            UI_STATUS_INTERVAL="1",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        return env

    def start(self) -> UiServer:
        self.root.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*self.launcher, _console_script("mindpulse-ui")],
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + UI_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"UI exited ({self.process.returncode}):\n{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return self
            time.sleep(0.2)
        raise RuntimeError(f"UI did not answer in {UI_START_TIMEOUT:.0f}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self.process = None


def file_permissions_enforced() -> list[str]:
    """A command prefix under which file permissions bind the command, even when run as root.

    Root reads any file through two capabilities; ``setpriv`` (util-linux) drops them from the
    child, so a folder with mode 000 is as unreadable to it as to the service's own user.
    """
    if os.geteuid() != 0:
        return []
    caps = "-dac_override,-dac_read_search"
    return ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}"]


@pytest.fixture
def ui_server(tmp_path: Path) -> Iterator[Any]:
    """``ui_server(api_url, launcher=(), **ENV)`` starts a UI; every one started is stopped
    after the test."""
    started: list[UiServer] = []

    def start(api_url: str, *, launcher: Sequence[str] = (), **env: str) -> UiServer:
        server = UiServer(tmp_path / f"ui{len(started)}", api_url, launcher=launcher, **env)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless Chromium per test module.

    Not per session: playwright's sync API keeps its event loop marked as running while it is
    open, which would break later tests that call ``asyncio.run``.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class PageRecord:
    """What a page asked for and complained about while the test ran."""

    requests: list[str] = field(default_factory=list)
    #: Console messages of type "error", each with the address of the script that wrote it.
    console_errors: list[str] = field(default_factory=list)
    #: Exceptions the page's scripts raised and nothing caught.
    page_errors: list[str] = field(default_factory=list)

    def on_console(self, message: Any) -> None:
        if message.type == "error":
            where = (message.location or {}).get("url") or "?"
            self.console_errors.append(f"{message.text} [{where}]")

    def complaints(self) -> list[str]:
        """Every console error and uncaught page exception."""
        return [*self.console_errors, *(f"uncaught: {text}" for text in self.page_errors)]

    def foreign_hosts(self, allowed: str = "127.0.0.1") -> set[str]:
        """Hosts other than ``allowed`` that the page reached over the network."""
        parts = [urlsplit(url) for url in self.requests]
        network = [p for p in parts if p.scheme in ("http", "https", "ws", "wss")]
        return {p.netloc for p in network if p.hostname != allowed}


@pytest.fixture
def new_page(chromium: Any) -> Iterator[Any]:
    """``new_page(viewport) -> (page, record)``; pages and their contexts close after the test,
    which then fails if any page logged a console error or raised an uncaught exception."""
    contexts: list[Any] = []
    records: list[PageRecord] = []

    def open_page(viewport: dict[str, int] | None = None) -> tuple[Any, PageRecord]:
        context = chromium.new_context(viewport=viewport or DESKTOP)
        context.set_default_timeout(30_000)
        contexts.append(context)
        page = context.new_page()
        record = PageRecord()
        page.on("request", lambda request: record.requests.append(request.url))
        page.on("console", record.on_console)
        page.on("pageerror", lambda error: record.page_errors.append(str(error)))
        records.append(record)
        return page, record

    yield open_page
    for context in contexts:
        context.close()
    # A page that works logs no error: each one is a broken script, request or policy.
    complaints = [line for record in records for line in record.complaints()]
    assert complaints == [], "the page reported errors in the browser console"


@pytest.fixture
def screenshot_dir(tmp_path: Path) -> Path:
    """Where screenshots go: ``$MP_TEST_ARTIFACTS/screenshots`` when set, else tmp_path."""
    base = os.environ.get("MP_TEST_ARTIFACTS")
    folder = Path(base) / "screenshots" if base else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def module_ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The same as :func:`ui_server`, for a UI shared by a module's tests."""
    base = tmp_path_factory.mktemp("ui")
    started: list[UiServer] = []

    def start(api_url: str, *, launcher: Sequence[str] = (), **env: str) -> UiServer:
        server = UiServer(base / f"ui{len(started)}", api_url, launcher=launcher, **env)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()
