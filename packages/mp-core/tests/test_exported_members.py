import subprocess
import sys
import types

import mp_core


def test_all_exports_exist_and_are_public() -> None:
    for name in mp_core.__all__:
        assert hasattr(mp_core, name), name
    exported = {
        name
        for name, value in vars(mp_core).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert exported <= set(mp_core.__all__)


def test_importing_the_package_stays_light() -> None:
    """The UI imports mp_core without numpy, pandas or scikit-learn."""
    code = (
        "import sys, mp_core, mp_core.client;"
        "heavy = [m for m in ('numpy', 'pandas', 'sklearn') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
