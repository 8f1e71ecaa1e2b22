"""MindPulse reports: Evidently data quality, drift and classification performance, drift check.

Run ``mindpulse-report`` (or ``just report``) to write the reports, ``mindpulse-report
--drift-check`` (``just drift-check``) to ask the API for a retrain when the features drifted.
"""

from __future__ import annotations

from importlib.metadata import version

__version__ = version("mp-reporting")

__all__ = ["__version__"]
