"""The package's public names, and that importing it stays light."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version

import pytest

import mp_api


def test_all_exports_resolve() -> None:
    assert mp_api.__all__ == ["__version__", "create_app"]
    assert mp_api.__version__ == version("mp-api")  # the version the package was built with
    from mp_api.app import create_app

    assert mp_api.create_app is create_app
    with pytest.raises(AttributeError, match="not_exported"):
        _ = mp_api.not_exported


def test_importing_the_app_loads_no_sklearn_pandas_or_scipy() -> None:
    code = (
        "import sys, mp_api.asgi, mp_api.cli; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'pandas', 'scipy'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
