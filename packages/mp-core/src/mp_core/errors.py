"""One exception hierarchy for MindPulse, free of any web framework.

    MindPulseError
     ├── InvalidProfile        a feature value breaks the schema (names the field and the rule)
     ├── InvalidDataset        a CSV does not match the schema (names columns or line numbers)
     ├── ModelUnavailable      no model is trained or loadable yet
     ├── CorruptArtifact       a bundle is partial, tampered with or unreadable
     ├── FeedbackStoreError    the feedback file cannot be read or written
     ├── StoreUnavailable      a store's backend (PostgreSQL) cannot be reached right now
     ├── IdempotencyConflict   an Idempotency-Key already names a different feedback
     └── InvalidReceipt        a prediction_id is malformed, altered, foreign or expired

Services map these to their own status codes (the API does so in one exception handler).
"""

from __future__ import annotations


class MindPulseError(Exception):
    """Base class of every error MindPulse raises on purpose."""


class InvalidProfile(MindPulseError, ValueError):
    """A feature value breaks the schema."""

    def __init__(self, field: str, rule: str) -> None:
        self.field = field
        self.rule = rule
        super().__init__(f"{field}: {rule}" if field else rule)


class InvalidDataset(MindPulseError, ValueError):
    """A dataset does not match the schema."""

    def __init__(self, message: str, *, bad_lines: dict[int, str] | None = None) -> None:
        self.bad_lines = dict(bad_lines or {})
        super().__init__(message)


class ModelUnavailable(MindPulseError, RuntimeError):
    """No model is trained or loadable yet."""


class CorruptArtifact(MindPulseError, RuntimeError):
    """A model bundle is partial, tampered with or unreadable."""


class FeedbackStoreError(MindPulseError, OSError):
    """The feedback file cannot be read or written."""


class StoreUnavailable(MindPulseError, RuntimeError):
    """A store's backend cannot be reached right now (the reason says why); try again later."""


class IdempotencyConflict(MindPulseError, ValueError):
    """An idempotency key was used before for a request with a different body."""

    def __init__(self, field: str, rule: str) -> None:
        self.field = field
        self.rule = rule
        super().__init__(f"{field}: {rule}")


class InvalidReceipt(MindPulseError, ValueError):
    """A ``prediction_id`` that is malformed, altered, signed with another key, or expired."""

    def __init__(self, rule: str, detail: str) -> None:
        self.field = "prediction_id"
        self.rule = rule
        self.detail = detail
        super().__init__(f"prediction_id: {detail}")
