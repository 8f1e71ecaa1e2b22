"""The serving plane installs no training library: checked on the lock and on a real import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
TRAINING_ONLY = ("scikit-learn", "scipy", "pandas", "skops", "mlflow", "mlflow-skinny")


def _exported(package: str) -> set[str]:
    uv = os.environ.get("UV") or shutil.which("uv") or "uv"
    done = subprocess.run(
        [uv, "export", "--package", package, "--no-dev", "--frozen", "--no-hashes"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    names = set()
    for line in done.stdout.splitlines():
        if line and not line.startswith(("#", " ", "-e")):
            names.add(line.split("==")[0].split("[")[0].strip().lower())
    return names


def test_the_api_lock_export_holds_no_training_library() -> None:
    names = _exported("mp-api")
    assert {"litestar", "msgspec", "numpy", "prometheus-client"} <= names
    assert {"psycopg", "psycopg-pool"} <= names  # the PostgreSQL backend of the stores
    assert not names & set(TRAINING_ONLY), sorted(names & set(TRAINING_ONLY))


def test_the_trainer_keeps_them() -> None:
    """The check above could not pass by accident: mp-core's training extras do list them."""
    done = subprocess.run(
        [os.environ.get("UV") or shutil.which("uv") or "uv", "export", "--package", "mp-core",
         "--extra", "ml", "--extra", "tracking", "--no-dev", "--frozen", "--no-hashes"],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    for name in ("scikit-learn", "pandas", "skops", "mlflow-skinny"):
        assert f"\n{name}==" in "\n" + done.stdout


def test_building_the_app_imports_no_training_library(tmp_path: Path) -> None:
    code = (
        "import sys\nfrom pathlib import Path\n"
        "from mp_api.app import create_app\n"
        "from mp_core.settings import Settings\n"
        f"root = Path({str(tmp_path)!r})\n"
        "create_app(Settings(data_dir=root, artifacts_dir=root))\n"
        "import mp_core.stores.feedback_postgres, mp_core.stores.artifacts_postgres\n"
        "heavy = {'sklearn', 'scipy', 'pandas', 'skops', 'mlflow'} & set(sys.modules)\n"
        "print(sorted(heavy))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]"
