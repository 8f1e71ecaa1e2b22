"""The API benchmark: MindPulse's API against the original approach and a constant-answer ceiling.

Run it with ``just bench`` (or ``uv run --frozen --group bench python -m services.api.bench``).
"""
