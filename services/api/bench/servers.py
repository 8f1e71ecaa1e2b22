"""Start servers on free loopback ports, wait until they serve, measure their memory, stop them.

Every server runs in its own session (process group), so stopping it also stops the worker
processes and any retrain job it started. Memory is read from ``/proc/<pid>/status`` (VmRSS) of
the server's process and all of its descendants.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import httpx

LOOPBACK: Final = "127.0.0.1"
START_TIMEOUT: Final = 120.0
STOP_TIMEOUT: Final = 10.0


class ServerError(RuntimeError):
    """A server did not start, or died while being measured."""


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True)
class ProcessMemory:
    """Resident memory of one process of a server."""

    pid: int
    command: str
    rss_mb: float


@dataclass(slots=True)
class RunningServer:
    """A started server: its URL, process and log file."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    _log: object = field(repr=False, default=None)

    @property
    def pid(self) -> int:
        return self.process.pid

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise ServerError(
                f"{self.name} exited with code {self.process.returncode}; "
                f"last log lines:\n{tail(self.log_path)}"
            )

    def memory(self) -> list[ProcessMemory]:
        """VmRSS of the server process and every descendant except retrain jobs."""
        pids = [self.pid, *descendants(self.pid)]
        return [read_memory(pid) for pid in pids if _exists(pid) and not is_retrain_job(pid)]

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the serving processes (not retrain jobs)."""
        pids = [self.pid, *descendants(self.pid)]
        return sum(read_cpu_seconds(pid) for pid in pids if not is_retrain_job(pid))

    def job_cpu_seconds(self) -> float:
        """CPU time used so far by the server's live retrain jobs."""
        pids = descendants(self.pid)
        return sum(read_cpu_seconds(pid) for pid in pids if is_retrain_job(pid))

    def stop(self) -> None:
        """SIGTERM the whole process group, then SIGKILL whatever is left after a grace period."""
        pids = [self.pid, *descendants(self.pid)]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            self.process.wait(timeout=STOP_TIMEOUT)
        # A job that left the group (its own session) is still a descendant we started.
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        close = getattr(self._log, "close", None)
        if close is not None:
            close()


def start_server(
    name: str,
    command: Sequence[str],
    *,
    port: int,
    env: Mapping[str, str],
    log_path: Path,
    cwd: Path,
    cpus: Sequence[int] = (),
    health_path: str | None = "/health",
    timeout: float = START_TIMEOUT,
) -> RunningServer:
    """Start ``command`` (pinned to ``cpus`` if given) and wait until ``health_path`` answers 200
    (not at all when it is None: a process that serves no HTTP)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("wb")
    pinned = list(cpus)

    def pin() -> None:  # runs in the child before exec; children inherit the affinity
        if pinned:
            os.sched_setaffinity(0, pinned)

    process = subprocess.Popen(
        list(command),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=pin,
    )
    server = RunningServer(name, f"http://{LOOPBACK}:{port}", process, log_path, log)
    try:
        if health_path is not None:
            wait_healthy(server, health_path, timeout)
    except BaseException:
        server.stop()
        raise
    return server


def wait_healthy(server: RunningServer, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            server.check_alive()
            try:
                response = client.get(server.url + path)
                if response.status_code == 200:
                    return
                last = f"HTTP {response.status_code}: {response.text[:200]}"
            except httpx.TransportError as exc:
                last = str(exc)
            time.sleep(0.2)
    raise ServerError(
        f"{server.name} did not become healthy in {timeout:.0f} s ({last}); "
        f"last log lines:\n{tail(server.log_path)}"
    )


@contextlib.contextmanager
def running(server: RunningServer) -> Iterator[RunningServer]:
    try:
        yield server
    finally:
        server.stop()


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _exists(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def children_map() -> dict[int, list[int]]:
    """Parent pid -> child pids, from /proc/<pid>/stat."""
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces; fields follow the last ')'.
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def descendants(pid: int) -> list[int]:
    tree = children_map()
    found: list[int] = []
    stack = list(tree.get(pid, []))
    while stack:
        child = stack.pop()
        found.append(child)
        stack.extend(tree.get(child, []))
    return sorted(found)


def is_retrain_job(pid: int) -> bool:
    """Whether ``pid`` runs a trainer (``mindpulse worker``)."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        return len(command) > 1 and command[0].endswith(b"mindpulse") and command[1] == b"worker"
    except OSError:
        return False


_CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")


def read_cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (all its threads) from /proc/<pid>/stat; 0 if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU time all CPUs spent on anything but idling since boot (first line of /proc/stat)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    ticks = [int(value) for value in fields[:8]]  # user nice system idle iowait irq softirq steal
    return (sum(ticks) - ticks[3] - ticks[4]) / _CLOCK_TICKS


def read_memory(pid: int) -> ProcessMemory:
    """VmRSS of ``pid`` in MB (10^6 bytes) and a short form of its command line."""
    rss_kb = 0
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss_kb = int(line.split()[1])
                break
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        command = " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)
    except OSError:
        command = "?"
    return ProcessMemory(pid=pid, command=_short(command), rss_mb=rss_kb * 1024 / 1e6)


def _short(command: str, limit: int = 90) -> str:
    home = str(Path.home())
    command = command.replace(home, "~")
    return command if len(command) <= limit else command[: limit - 3] + "..."


def pin_process(pid: int, cpus: Sequence[int]) -> None:
    """Move every thread of ``pid`` onto ``cpus`` (a thread that ended meanwhile is skipped)."""
    try:
        tasks = [int(t.name) for t in Path(f"/proc/{pid}/task").iterdir()]
    except OSError:
        return
    for task in tasks:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(task, cpus)


def pin_tree(pid: int, cpus: Sequence[int]) -> None:
    """Pin ``pid`` and every descendant (all their threads) to ``cpus``."""
    for process in [pid, *descendants(pid)]:
        pin_process(process, cpus)
