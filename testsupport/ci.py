"""In CI (``CI`` set), no check drops out quietly.

**Expected tests.** ``.ci/expected-tests.json`` records, for each marker expression CI runs
(``not containers and not swarm``: the main suite, ``./start.sh test``, as ``addopts`` selects
it; ``containers``: the container suite,
``./start.sh test-containers``), how many tests each file holds. When ``CI`` is set, the run
fails unless every recorded file under the paths it was given ran exactly that many tests —
passed or failed; a skipped test, one whose setup failed, one that was never generated or was
deselected does not count — and no unrecorded file ran any. Outside CI nothing is checked.

After adding, removing or re-parametrizing tests, record the new counts (collection only,
nothing runs) and commit the file with the tests::

    just expected-tests

**Root.** The uid-1000 checks (files handed to the containers' user) need root. Where they
would run a weaker variant as another user, they ask :func:`running_as_root`, which fails the
test in CI instead of answering False.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

EXPECTED_FILE = Path(__file__).resolve().parents[1] / ".ci" / "expected-tests.json"
#: The marker expression of the main suite (pyproject's ``addopts``).
MAIN_SUITE = "not containers and not swarm"


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


def running_as_root() -> bool:
    """Whether the uid-1000 checks can run (root may chown); in CI, a failure when not root."""
    if os.geteuid() == 0:
        return True
    if in_ci():
        pytest.fail("CI runs the tests as root: the uid-1000 ownership checks need it")
    return False


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--record-expected-tests",
        action="store_true",
        help=f"write the number of tests collected per file into .ci/{EXPECTED_FILE.name}",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(ExpectedTests(config), "mindpulse-expected-tests")


def load_expected() -> dict[str, dict[str, int]]:
    """``{marker expression: {file: number of tests}}`` as recorded."""
    if not EXPECTED_FILE.exists():
        return {}
    loaded: dict[str, dict[str, int]] = json.loads(EXPECTED_FILE.read_text(encoding="utf-8"))
    return loaded


class ExpectedTests:
    """Counts the tests that ran per file and compares them with the recorded counts."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.expression = str(config.option.markexpr or "").strip()
        self.ran: Counter[str] = Counter()
        self.problems: list[str] = []

    def roots(self) -> list[str]:
        """The run's paths relative to the root folder, as node ids name files."""
        roots = []
        for arg in self.config.args:
            path = Path(self.config.invocation_params.dir, arg.split("::")[0]).resolve()
            try:
                roots.append(path.relative_to(self.config.rootpath).as_posix())
            except ValueError:
                roots.append(path.as_posix())
        return roots

    def covers(self, file: str) -> bool:
        return any(
            root == "." or file == root or file.startswith(root + "/") for root in self.roots()
        )

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if not self.config.getoption("record_expected_tests"):
            return
        counts = Counter(_file_of(item.nodeid) for item in session.items)
        expected = load_expected()
        kept = {f: n for f, n in expected.get(self.expression, {}).items() if not self.covers(f)}
        expected[self.expression] = dict(sorted({**kept, **counts}.items()))
        EXPECTED_FILE.write_text(json.dumps(expected, indent=2, sort_keys=True) + "\n")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" and report.outcome in ("passed", "failed"):
            self.ran[_file_of(report.nodeid)] += 1

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        config = self.config
        if not in_ci() or config.option.collectonly or config.getoption("record_expected_tests"):
            return
        if exitstatus in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.USAGE_ERROR):
            return
        self.problems = self.differences()
        if self.problems:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def differences(self) -> list[str]:
        """One line per file whose number of tests that ran is not the recorded one."""
        recorded = load_expected().get(self.expression)
        if recorded is None:
            return [f"no tests recorded for -m '{self.expression}' in .ci/{EXPECTED_FILE.name}"]
        expected = {f: n for f, n in recorded.items() if self.covers(f)}
        ran = {f: n for f, n in self.ran.items() if self.covers(f)}
        return [
            f"{file}: {ran.get(file, 0)} ran, {expected.get(file, 0)} expected"
            for file in sorted(set(expected) | set(ran))
            if ran.get(file, 0) != expected.get(file, 0)
        ]

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.problems:
            return
        terminalreporter.section("tests that did not run as recorded (CI)", red=True)
        for line in self.problems:
            terminalreporter.line(line, red=True)
        terminalreporter.line(
            "A check that cannot run in CI must fail, not vanish. If tests were added or "
            f"removed on purpose, run `just expected-tests` and commit .ci/{EXPECTED_FILE.name}."
        )


def _file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]
