"""MindPulse web page: a guided Gradio form that talks to the API over HTTP.

The UI depends on mp-core's schema and client only (never scikit-learn, never the API's code).
"""

import os

# Gradio reads this when it is imported; setting it here, before any submodule imports Gradio,
# keeps the page from phoning home whoever starts it (console script, tests, an ASGI server).
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

__version__ = "0.1.0"

__all__ = ["__version__"]
