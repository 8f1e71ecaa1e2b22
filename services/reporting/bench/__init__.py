"""The reporting benchmark: all three reports and the summary on 100,000 reference rows.

Run it with ``uv run --frozen python -m services.reporting.bench [--json PATH]``.
"""
