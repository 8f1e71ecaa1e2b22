"""What a call did in this process, seen without a clock: the child processes it left running,
and the audit events it raised (a process started, a connection opened).

A test that says "the hook returns without waiting for its child" proves it with these: the
call returned, and the child it started is still running (blocked on something the test
holds), instead of comparing an elapsed time with a guess at how busy the machine is.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

#: Audit events that mean "a process was started" or "a connection was opened".
PROCESS_EVENTS = frozenset(
    {"subprocess.Popen", "os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "os.system"}
)
CONNECT_EVENTS = frozenset({"socket.connect"})

_recorders: list[tuple[frozenset[str], list[str]]] = []
_hook_lock = threading.Lock()
_hook_installed = False


def _audit(event: str, _args: tuple[Any, ...]) -> None:
    for names, seen in _recorders:
        if event in names:
            seen.append(event)


@contextlib.contextmanager
def audit_events(names: frozenset[str]) -> Iterator[list[str]]:
    """The audit events among ``names`` raised in this process inside the ``with`` block."""
    global _hook_installed
    with _hook_lock:
        if not _hook_installed:
            # An audit hook cannot be removed; this one does nothing while no block is open.
            sys.addaudithook(_audit)
            _hook_installed = True
    seen: list[str] = []
    entry = (names, seen)
    _recorders.append(entry)
    try:
        yield seen
    finally:
        _recorders.remove(entry)


def child_pids() -> set[int]:
    """The pids of this process's children (any thread's), zombies included."""
    pids: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError):
            pids.update(int(pid) for pid in (task / "children").read_text().split())
    return pids


class Children:
    """Children started since ``mark()``; each is stopped at ``stop_all()`` if still running."""

    def __init__(self) -> None:
        self._before = child_pids()
        self.seen: set[int] = set()

    def mark(self) -> None:
        self._before = child_pids()

    def started(self) -> set[int]:
        """Children started since the last ``mark()`` (and remembered for ``stop_all``)."""
        fresh = child_pids() - self._before
        self.seen |= fresh
        return fresh

    def one_started(self) -> int:
        """The one child started since ``mark()``; a failure when none is left (an ended child
        is reaped and gone: the call waited for it) or when there are several."""
        fresh = self.started()
        assert fresh, "no child of this call is left: the call waited until it had ended"
        assert len(fresh) == 1, f"expected one child, found {sorted(fresh)}"
        return fresh.pop()

    def stop_all(self) -> None:
        for pid in self.seen:
            if running(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
                wait_for_exit(pid, timeout=30)


@pytest.fixture
def children() -> Iterator[Children]:
    """This test's child processes; those still running at its end are stopped."""
    watch = Children()
    try:
        yield watch
    finally:
        watch.stop_all()


def running(pid: int) -> bool:
    """Whether ``pid`` has not exited yet (a zombie has exited)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return False
    try:
        readable, _, _ = select.select([fd], [], [], 0)
        return not readable
    finally:
        os.close(fd)


def wait_for_exit(pid: int, *, timeout: float) -> bool:
    """Block until ``pid`` exits (True) or ``timeout`` seconds pass (False)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([fd], [], [], timeout)
        return bool(readable)
    finally:
        os.close(fd)
