"""Read the container definitions the way Docker does, so the tests can check them with no engine.

A small Dockerfile reader (continuations, comments, stages, ``ARG`` defaults in ``FROM``) and a
``.dockerignore`` matcher with Docker's rules (patterns apply to a path and to its parents, the last
matching pattern wins, ``!`` re-includes, ``**`` spans folders).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

# A version tag: starts with a digit and is more than a bare major ("3" or "1" float too much).
PINNED_TAG = re.compile(r"^\d+\.\d+(\.\d+)?([-.][\w.-]+)?$")
#: Nothing in a runtime stage builds or compiles.
COMPILERS = ("gcc", "g++", "build-essential", "clang", "make", "cargo", "rustc")

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_DIR = REPO_ROOT / "infra" / "compose"


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction: keyword upper-cased, arguments joined onto one line."""

    keyword: str
    args: str
    line: int

    def flags(self) -> dict[str, str]:
        """Leading ``--name=value`` options (``--mount`` may repeat: the values are joined by ';')."""
        found: dict[str, str] = {}
        for token in shlex.split(self.args):
            if not token.startswith("--"):
                break
            name, _, value = token[2:].partition("=")
            found[name] = f"{found[name]};{value}" if name in found else value
        return found

    def operands(self) -> list[str]:
        """The arguments after the leading ``--`` options."""
        tokens = shlex.split(self.args)
        while tokens and tokens[0].startswith("--"):
            tokens.pop(0)
        return tokens


@dataclass
class Stage:
    """A build stage: its resolved base image, its name and its instructions."""

    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def env(self) -> dict[str, str]:
        """Variables set by ``ENV key=value ...`` in this stage."""
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            for token in shlex.split(instruction.args):
                key, sep, value = token.partition("=")
                if sep:
                    values[key] = value
        return values


@dataclass
class Dockerfile:
    """A parsed Dockerfile; the last stage is the image that runs."""

    path: Path
    global_args: dict[str, str]
    stages: list[Stage]

    @property
    def runtime(self) -> Stage:
        return self.stages[-1]

    def stage(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(f"{self.path.name} has no stage named {name!r}")

    @cached_property
    def stage_names(self) -> set[str]:
        return {stage.name for stage in self.stages if stage.name}


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Join backslash continuations; drop comments and blank lines (as Docker's parser does)."""
    lines: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        lines.append((start, " ".join(pending)))
        pending = []
    if pending:
        lines.append((start, " ".join(pending)))
    return lines


_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def _expand(value: str, variables: dict[str, str]) -> str:
    return _VARIABLE.sub(lambda m: variables.get(m.group(1) or m.group(2), ""), value)


def parse_dockerfile(path: Path) -> Dockerfile:
    """Parse ``path`` into stages, resolving global ``ARG`` defaults used in ``FROM``."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for number, line in _logical_lines(path.read_text(encoding="utf-8")):
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        args = args.strip()
        if keyword == "FROM":
            words = [w for w in args.split() if not w.startswith("--")]
            base = _expand(words[0], global_args)
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=base, name=name))
        elif not stages and keyword == "ARG":
            key, _, default = args.partition("=")
            global_args[key] = default.strip('"')
        elif stages:
            stages[-1].instructions.append(Instruction(keyword, args, number))
    return Dockerfile(path=path, global_args=global_args, stages=stages)


def dockerfiles() -> list[Path]:
    """The members' images (infra/compose/Dockerfile.*)."""
    return sorted(COMPOSE_DIR.glob("Dockerfile.*"))


def optional_dockerfiles() -> list[Path]:
    """The optional services' images (infra/<tool>/Dockerfile: MLflow, Airflow)."""
    return sorted(REPO_ROOT.glob("infra/*/Dockerfile"))


def all_dockerfiles() -> list[Path]:
    return dockerfiles() + optional_dockerfiles()


def ignore_file_for(dockerfile: Path) -> Path:
    """The ignore file BuildKit applies to ``dockerfile``: ``<Dockerfile>.dockerignore`` beside it
    when there is one, else the build context's (the repo root's) ``.dockerignore``."""
    own = dockerfile.with_name(dockerfile.name + ".dockerignore")
    return own if own.is_file() else REPO_ROOT / ".dockerignore"


def uv_syncs(stage: Stage) -> list[list[str]]:
    """The ``uv sync`` command lines of a stage's RUN steps, without ``--mount`` options and
    leading ``NAME=value`` assignments (those are returned by :func:`run_assignments`)."""
    commands = []
    for run in stage.all("RUN"):
        words = _run_words(run)
        while words and "=" in words[0] and not words[0].startswith("-"):
            words.pop(0)
        if words[:2] == ["uv", "sync"]:
            commands.append(words)
    return commands


def run_assignments(run: Instruction) -> dict[str, str]:
    """``NAME=value`` assignments that prefix a RUN command (environment for that command only)."""
    found: dict[str, str] = {}
    for word in _run_words(run):
        key, sep, value = word.partition("=")
        if not sep or word.startswith("-") or not key.isidentifier():
            break
        found[key] = value
    return found


def _run_words(run: Instruction) -> list[str]:
    words = shlex.split(run.args)
    while words and words[0].startswith("--mount"):
        words.pop(0)
    return words


# --- .dockerignore --------------------------------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Docker's pattern language: ``*``, ``?`` and ``[...]`` stay in one path element, ``**`` spans
    any number of them."""
    out: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**", index):
            index += 2
            if pattern.startswith("/", index):
                index += 1
                out.append("(?:.*/)?")
            else:
                out.append(".*")
            continue
        if char == "[" and "]" in pattern[index + 1 :]:
            end = pattern.index("]", index + 1)
            out.append("[" + pattern[index + 1 : end].replace("\\", "\\\\") + "]")
            index = end + 1
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        else:
            out.append(re.escape(char))
        index += 1
    return re.compile("".join(out) + r"\Z")


@dataclass(frozen=True)
class DockerIgnore:
    """The rules of a ``.dockerignore`` file, in order."""

    rules: tuple[tuple[bool, re.Pattern[str]], ...]

    @classmethod
    def read(cls, path: Path) -> DockerIgnore:
        rules: list[tuple[bool, re.Pattern[str]]] = []
        for raw in path.read_text(encoding="utf-8").splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            pattern = line[1:].strip() if negated else line
            pattern = pattern.strip("/")
            rules.append((negated, _pattern_regex(pattern)))
        return cls(tuple(rules))

    def excludes(self, relative: str) -> bool:
        """Whether Docker leaves the repo-relative path ``relative`` out of the build context."""
        parts = relative.strip("/").split("/")
        candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        excluded = False
        for negated, regex in self.rules:
            if any(regex.match(candidate) for candidate in candidates):
                excluded = not negated
        return excluded


def chowned_by_uid_1000(dockerfile: Dockerfile) -> set[str]:
    """Paths the runtime stage hands to uid 1000; any other owner given by chown fails."""
    chowned: set[str] = set()
    for run in dockerfile.runtime.all("RUN"):
        for command in run.args.split("&&"):
            words = command.split()
            if words[:1] == ["chown"]:
                assert words[1] == "1000:1000", f"chown to {words[1]}, not 1000:1000"
                chowned.update(w for w in words[2:] if not w.startswith("-"))
    return chowned
