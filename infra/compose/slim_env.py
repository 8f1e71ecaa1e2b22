"""Leave out of an image's environment what its service never runs.

    python3 infra/compose/slim_env.py /app/.venv mp-api

Every member's builder stage runs this after its last ``uv sync``; the runtime stage then copies
the environment. It removes:

* the unit-test suites that some packages ship inside themselves (``<package>/.../tests`` of the
  packages in ``TEST_SUITES`` only: elsewhere a ``tests`` folder can be a feature, such as
  Evidently's checks) and type stubs (``*.pyi``): nothing imports them at run time;
* for the API, whole distributions its service never imports (``NOT_RUN``, each with the
  reason), by their installed file lists; a name that is not installed fails the build, so the
  list follows the lock instead of going stale; and files no route serves (``UNUSED_FILES``).

What the services do import is proven by running the slimmed environments: the replayed builder
stages serve, train and report (infra/tests/test_runtime_*.py), and the container suite runs the
built images. Standard library only: it runs on the base image's interpreter.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

#: Packages whose ``tests`` folders are their own unit tests (numpy's alone is 17 MB with
#: bytecode), never imported by the package itself.
TEST_SUITES: tuple[str, ...] = (
    "numpy", "scipy", "sklearn", "pandas", "pyarrow", "statsmodels", "skops",
)  # fmt: skip

#: Per member: distributions its lock pulls in that its service never imports, and why.
NOT_RUN: dict[str, dict[str, str]] = {
    "mp-api": {
        # Litestar's optional parts: example generation (off), the HTMX plugin, its own CLI.
        "faker": "Litestar's OpenAPI example generation (create_examples is off)",
        "polyfactory": "Litestar's OpenAPI example generation (create_examples is off)",
        "litestar-htmx": "Litestar's HTMX plugin (no HTML responses)",
        "rich-click": "Litestar's own CLI (`litestar run`); the API has its own",
        "rich": "Litestar's own CLI",
        "pygments": "rich's syntax highlighting (Litestar's CLI)",
        "markdown-it-py": "rich's Markdown rendering (Litestar's CLI)",
        "mdurl": "rich's Markdown rendering (Litestar's CLI)",
        "httpx": "Litestar's test client",
        "httpcore": "Litestar's test client (through httpx)",
        "certifi": "Litestar's test client (through httpx)",
        # fastapi-offline is installed for ReDoc's bundle, read as a file: FastAPI never runs.
        "fastapi": "fastapi-offline's own server code (only its static files are served)",
        "starlette": "FastAPI (above)",
        "pydantic": "FastAPI (above); the API's models are msgspec structs",
        "pydantic-core": "pydantic (above)",
        "annotated-types": "pydantic (above)",
        "typing-inspection": "pydantic (above)",
        "annotated-doc": "FastAPI (above)",
        "opentelemetry-api": "FastAPI's tracing hooks (above)",
    },
}

#: Per member: files inside installed packages (site-packages relative) its service never reads.
UNUSED_FILES: dict[str, tuple[str, ...]] = {
    "mp-api": (
        # The docs serve Swagger UI from litestar-offline-docs and ReDoc from fastapi-offline.
        "litestar_offline_docs/static/asyncapi-web-component.js",
        "fastapi_offline/static/swagger-ui-bundle.js",
        "fastapi_offline/static/swagger-ui.css",
        "fastapi_offline/static/favicon.png",
        # numpy's build tools: the Fortran wrapper generator and the legacy build system.
        "numpy/f2py",
        "numpy/distutils",
    ),
}


def site_packages(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python3*/site-packages"))
    if len(found) != 1:
        raise SystemExit(f"slim_env: {venv} holds {len(found)} site-packages folders, not one")
    return found[0]


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def remove_distribution(site: Path, name: str) -> int:
    """Delete every file the distribution ``name`` installed; the bytes freed."""
    found = [
        d
        for d in metadata.distributions(path=[str(site)])
        if _normalise(d.metadata["Name"]) == _normalise(name)
    ]
    if not found:
        raise SystemExit(f"slim_env: {name} is not installed: update NOT_RUN to match the lock")
    freed = 0
    folders: set[Path] = set()
    for listed in found[0].files or ():
        path = (site / listed).resolve()
        if not path.is_relative_to(site.parents[2]) or not path.is_file():
            continue  # listed yet absent (or outside the environment): nothing to free
        if path.suffix == ".py":  # its compiled forms, which the file list may not name
            for compiled in path.parent.glob(f"__pycache__/{path.stem}.*.pyc"):
                freed += compiled.stat().st_size
                compiled.unlink()
        freed += path.stat().st_size
        path.unlink()
        folders.add(path.parent)
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        _remove_if_empty(folder, site)
    return freed


def _remove_if_empty(folder: Path, site: Path) -> None:
    """Remove ``folder`` and its parents up to ``site`` while they hold nothing (or only an
    empty ``__pycache__``)."""
    while folder != site and folder.is_dir():
        cache = folder / "__pycache__"
        if cache.is_dir() and not any(cache.iterdir()):
            cache.rmdir()
        if any(folder.iterdir()):
            return
        folder.rmdir()
        folder = folder.parent


def shipped_tests_and_stubs(site: Path) -> Iterator[Path]:
    """The ``TEST_SUITES`` packages' test folders, and every ``.pyi`` stub."""
    for name in TEST_SUITES:
        package = site / name
        if package.is_dir():
            yield from (p for p in package.rglob("tests") if p.is_dir())
    yield from site.rglob("*.pyi")


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _delete(path: Path) -> int:
    if not path.exists():
        return 0
    size = _size(path)
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()
    return size


def slim(venv: Path, member: str) -> dict[str, int]:
    """Slim ``venv`` for ``member``; bytes freed per kind of removal."""
    site = site_packages(venv)
    freed = {"distributions": 0, "tests and stubs": 0, "unused files": 0}
    for name in NOT_RUN.get(member, {}):
        freed["distributions"] += remove_distribution(site, name)
    for path in sorted(set(shipped_tests_and_stubs(site)), key=lambda p: len(p.parts)):
        freed["tests and stubs"] += _delete(path)
    for relative in UNUSED_FILES.get(member, ()):
        freed["unused files"] += _delete(site / relative)
    return freed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("venv", type=Path, help="the environment to slim (e.g. /app/.venv)")
    parser.add_argument("member", help="the workspace member the image serves (e.g. mp-api)")
    args = parser.parse_args(argv)
    freed = slim(args.venv, args.member)
    parts = ", ".join(f"{kind} {size / 1e6:.1f} MB" for kind, size in freed.items())
    print(f"slim_env: {args.member}: removed {parts}; {sum(freed.values()) / 1e6:.1f} MB in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
