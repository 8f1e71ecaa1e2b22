"""What both retrain-request backends share: a taken batch, the status rules, the clock.

A request is a line in a queue (``trigger``, ``requested_at``). The API records one unless one
is already waiting (a waiting request trains on every feedback row present when it runs, so a
second one would train on the same data). A trainer takes the one-at-a-time lock, then every
waiting request at once, trains, writes the status, and drops the lock; the lock dies with its
holder however it ends, so a status still saying ``running`` while nobody holds the lock is
reported as interrupted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

#: A trainer not seen for this long is taken to be gone.
TRAINER_SILENCE_SECONDS: Final = 30.0
WAITING_FOR_TRAINER: Final = "retrain requests are waiting for a trainer (`mindpulse worker`)"


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Taken:
    """The requests a trainer took together (oldest first)."""

    triggers: list[str] = field(default_factory=list)
    requested_at: list[str] = field(default_factory=list)

    @property
    def trigger(self) -> str:
        """What the status records as the trigger: the first request's, and how many joined it."""
        if len(self.triggers) <= 1:
            return self.triggers[0] if self.triggers else "manual"
        return f"{self.triggers[0]} (+{len(self.triggers) - 1} more)"


def interrupted_if_orphaned(status: dict[str, Any] | None, running: bool) -> dict[str, Any] | None:
    """A ``running`` status whose trainer no longer holds the lock reads as failed."""
    if status is None or status.get("state") != "running" or running:
        return status
    return {
        **status,
        "state": "failed",
        "error": "interrupted: the trainer ended without finishing (killed?)",
        "decision": None,
    }
