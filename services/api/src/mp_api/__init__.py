"""MindPulse serving API: Litestar + msgspec predictions, feedback, retrain requests, hot swap.

MindPulse is an educational tool, never a diagnosis.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "create_app"]


def __getattr__(name: str) -> object:
    # Lazy, so importing mp_api (for its version) does not import Litestar.
    if name == "create_app":
        from mp_api.app import create_app

        return create_app
    raise AttributeError(name)
