"""``mindpulse worker``: the training plane. Takes retrain requests one at a time and runs them.

Any number of workers may run, on any number of hosts sharing the stores: each polls the
retrain-request store, and the one that gets the one-at-a-time lock takes every waiting
request at once, trains under the recency policy and gates champion against challenger
(:mod:`mp_core.ml.retraining`, run by :func:`mp_core.ml.retrain.run_job`), publishes, and logs to MLflow when tracking is on. With ``--train-if-missing`` it first trains
a model when none is current (as ``mindpulse train --if-missing``), so a fresh stack needs only
this one command. SIGTERM or Ctrl-C stop it between two requests; a training in progress runs to
its end first (a second signal stops it at once, and the lock dies with the process).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Final

from mp_core.settings import Settings
from mp_core.stores import Stores, open_stores

log = logging.getLogger("mp_core.ml.worker")

POLL_SECONDS: Final = 1.0
BEAT_SECONDS: Final = 5.0


def worker_name() -> str:
    """``host-pid``: unique among the trainers sharing a store."""
    return f"{socket.gethostname()}-{os.getpid()}"


class Worker:
    """One trainer: a loop over the retrain-request store."""

    def __init__(
        self,
        settings: Settings,
        stores: Stores | None = None,
        *,
        name: str | None = None,
        train_first: Callable[[], int] | None = None,
    ) -> None:
        from mp_core.ml.retrain import RetrainConfig

        self.settings = settings
        self.stores = stores or open_stores(settings)
        self.name = name or worker_name()
        self.config = RetrainConfig.from_env()
        self.stop = threading.Event()
        self._train_first = train_first
        self._beat_at = 0.0

    def beat(self) -> None:
        """Say this trainer is alive (at most every BEAT_SECONDS); a store outage is only logged."""
        from mp_core.errors import StoreUnavailable

        now = time.monotonic()
        if now < self._beat_at:
            return
        try:
            self.stores.requests.beat(self.name)
            self._beat_at = now + BEAT_SECONDS
        except StoreUnavailable as exc:
            log.warning("trainer_store_unavailable", extra={"error": str(exc)})

    def train_if_missing(self) -> None:
        """Train the first model when none is current, holding the one-at-a-time lock."""
        if self._train_first is None or self.stores.models.current_version() is not None:
            return
        with self.stores.requests.hold_lock() as held:
            if held and self.stores.models.current_version() is None:
                log.info("first_training", extra={"worker": self.name})
                code = self._train_first()
                if code != 0:
                    raise SystemExit(code)

    def run_once(self) -> bool:
        """Take the waiting requests and train once if there are any; True when it trained."""
        from mp_core.ml.retrain import run_job

        self.beat()
        with self.stores.requests.take(self.name) as taken:
            if taken is None:
                return False
            log.info("requests_taken", extra={"worker": self.name, "triggers": taken.triggers})
            run_job(
                self.settings, self.stores, self.config, trigger=taken.trigger, worker=self.name
            )
        return True

    def run(self, *, once: bool = False) -> int:
        """Serve requests until stopped (``once``: take what is waiting, then return)."""
        from mp_core.errors import StoreUnavailable

        self.train_if_missing()
        log.info("trainer_ready", extra={"worker": self.name, "poll_seconds": POLL_SECONDS})
        while not self.stop.is_set():
            try:
                trained = self.run_once()
            except StoreUnavailable as exc:
                log.warning("trainer_store_unavailable", extra={"error": str(exc)})
                trained = False
            if once:
                return 0
            if not trained:
                self.stop.wait(POLL_SECONDS)
        log.info("trainer_stopped", extra={"worker": self.name})
        return 0

    def stop_on_signals(self) -> None:
        """First SIGTERM/SIGINT: stop after the current request; the second: stop now."""

        def handle(signum: int, _frame: FrameType | None) -> None:
            if self.stop.is_set():
                raise KeyboardInterrupt
            log.info("trainer_stopping", extra={"signal": signal.Signals(signum).name})
            self.stop.set()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)
