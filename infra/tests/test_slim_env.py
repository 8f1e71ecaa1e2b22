"""infra/compose/slim_env.py removes exactly what it names from an environment, and fails on a
name the lock no longer installs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from infra.compose import slim_env
from infra.tests.dockerfiles import REPO_ROOT


def _install(site: Path, name: str, files: dict[str, str]) -> None:
    """A distribution as an installer leaves it: its files plus a dist-info with METADATA/RECORD."""
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    listed = [*files, f"{info.name}/METADATA", f"{info.name}/RECORD"]
    (info / "RECORD").write_text("".join(f"{path},,\n" for path in listed))
    for relative, text in files.items():
        (site / relative).parent.mkdir(parents=True, exist_ok=True)
        (site / relative).write_text(text)


@pytest.fixture
def venv(tmp_path: Path) -> Path:
    site = tmp_path / "venv" / "lib" / "python3.11" / "site-packages"
    _install(site, "gone-pkg", {"gone/__init__.py": "x = 1\n", "gone_mod.py": "y = 2\n"})
    _install(
        site,
        "kept-pkg",
        {
            "kept/__init__.py": "z = 3\n",
            "kept/tests/checks.py": "def lte(): ...\n",  # a feature named tests (Evidently's)
            "kept/__init__.pyi": "z: int\n",
            "kept_mod.py": "w = 4\n",
        },
    )
    _install(
        site,
        "numpy",
        {
            "numpy/__init__.py": "\n",
            "numpy/tests/test_it.py": "def test(): ...\n",
            "numpy/_core/tests/__init__.py": "\n",
            "numpy/testing/__init__.py": "helpers = 1\n",
        },
    )
    # Compiled forms, as UV_COMPILE_BYTECODE leaves them; the top-level cache is shared.
    for module in ("gone_mod", "kept_mod"):
        (site / "__pycache__").mkdir(exist_ok=True)
        (site / "__pycache__" / f"{module}.cpython-311.pyc").write_bytes(b"\0" * 10)
    (site / "gone" / "__pycache__").mkdir()
    (site / "gone" / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"\0" * 10)
    return tmp_path / "venv"


def _files(venv: Path) -> set[str]:
    site = slim_env.site_packages(venv)
    return {
        str(p.relative_to(site))
        for p in site.rglob("*")
        if p.is_file() and ".dist-info" not in str(p)
    }


def test_a_named_distribution_goes_with_its_compiled_files_and_nothing_else(venv: Path) -> None:
    site = slim_env.site_packages(venv)
    owned = [
        *site.glob("gone/**/*"),
        *site.glob("gone_pkg-1.0.dist-info/*"),
        site / "gone_mod.py",
        site / "__pycache__" / "gone_mod.cpython-311.pyc",
    ]
    expected = sum(p.stat().st_size for p in owned if p.is_file())
    assert slim_env.remove_distribution(site, "Gone_Pkg") == expected  # names compare normalised
    assert _files(venv) == {
        "kept/__init__.py",
        "kept/tests/checks.py",
        "kept/__init__.pyi",
        "kept_mod.py",
        "__pycache__/kept_mod.cpython-311.pyc",
        "numpy/__init__.py",
        "numpy/tests/test_it.py",
        "numpy/_core/tests/__init__.py",
        "numpy/testing/__init__.py",
    }
    assert not (site / "gone").exists()
    assert not list(site.glob("gone_pkg-*.dist-info"))


def test_listed_test_suites_and_stubs_go_but_other_tests_folders_stay(venv: Path) -> None:
    site = slim_env.site_packages(venv)
    removed = {str(p.relative_to(site)) for p in slim_env.shipped_tests_and_stubs(site)}
    # numpy's helpers for others' tests (numpy.testing) and a package's own "tests" feature stay.
    assert removed == {"numpy/tests", "numpy/_core/tests", "kept/__init__.pyi"}


def test_a_name_the_lock_no_longer_installs_fails_the_build(venv: Path) -> None:
    with pytest.raises(SystemExit, match="not-there is not installed: update NOT_RUN"):
        slim_env.remove_distribution(slim_env.site_packages(venv), "not-there")


def test_the_command_reports_what_it_freed(venv: Path) -> None:
    ran = subprocess.run(
        [sys.executable, str(REPO_ROOT / "infra" / "compose" / "slim_env.py"), str(venv), "other"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    # A member with no list loses only the test suites and stubs.
    assert ran.stdout.startswith("slim_env: other: removed distributions 0.0 MB, tests and stubs")
    left = _files(venv)
    assert {"kept/__init__.py", "gone_mod.py", "kept/tests/checks.py"} <= left
    assert "numpy/tests/test_it.py" not in left
