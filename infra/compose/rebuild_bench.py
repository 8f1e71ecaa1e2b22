"""Rebuild every image after a code-only change and time each: ``just bench-rebuild``.

In a fresh copy of the repo (so the working tree is untouched) it first builds every image as
it is (cached when the images were built before), then appends a comment to mp-core's
``__init__.py`` -- a code change every image installs -- and rebuilds each image on its own,
timing it and checking from BuildKit's plain progress that the third-party dependency step
(``uv sync ... --no-install-workspace``, or the tool's own locked sync) was reused (CACHED).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

# The repo root is put on the path just above, so the shared build settings come from there.
from testsupport.docker import (
    PROFILES,
    build_environment,
    compose_files,
    fresh_copy,
)

CODE_FILE = "packages/mp-core/src/mp_core/__init__.py"
SERVICES = ("trainer", "serving-api", "webapp", "reporting", "mlflow", "airflow")
# A dependency step: a locked sync that installs no workspace code.
DEPENDENCY_STEP = re.compile(r"uv sync --frozen --no-dev --no-editable( --no-install-workspace|$)")


def build(root: Path, service: str | None) -> tuple[float, str]:
    every_profile = [arg for name in PROFILES for arg in ("--profile", name)]
    command = ["docker", "compose", *compose_files(), *every_profile, "--progress", "plain"]
    command += ["build", *([service] if service else [])]
    started = time.monotonic()
    done = subprocess.run(
        command, cwd=root, env=build_environment(), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"bench-rebuild: {' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return time.monotonic() - started, done.stderr + done.stdout


def dependency_steps_cached(log: str) -> tuple[int, int]:
    """``(cached, total)`` dependency sync steps in a plain-progress build log."""
    steps: dict[str, bool] = {}
    for line in log.splitlines():
        head = re.match(r"#(\d+) (.*)", line)
        if head is None:
            continue
        number, rest = head.groups()
        if "RUN" in rest and DEPENDENCY_STEP.search(rest.split("--mount")[-1].strip()):
            steps.setdefault(number, False)
        elif rest == "CACHED" and number in steps:
            steps[number] = True
    return sum(steps.values()), len(steps)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="mindpulse-rebuild-") as tmp:
        root = fresh_copy(Path(tmp) / "repo")
        seconds, _ = build(root, None)
        print(f"every image, nothing changed: {seconds:.1f} s", flush=True)
        with (root / CODE_FILE).open("a", encoding="utf-8") as handle:
            handle.write(f"# rebuild benchmark {os.getpid()}\n")
        print("| image | rebuild after a code-only change | dependency layers reused |")
        print("|---|---|---|")
        for service in SERVICES:
            seconds, log = build(root, service)
            cached, total = dependency_steps_cached(log)
            print(f"| {service} | {seconds:.1f} s | {cached} of {total} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
