"""Which worker process answered: an opaque id per worker, in a header when asked for.

Each worker draws a random id when it builds its app (not at import: a forking server would
hand one id to every child) and logs it with its pid in ``worker_ready``. With
``API_WORKER_HEADER=1`` every answer, the guard's own refusals included, carries it as
``MindPulse-Worker``, so a client (the test suite, an operator behind a load balancer) can tell
the workers apart and match an answer to a worker's log lines.

The header is off by default. The id is random rather than the pid, so it says nothing about
the host, but even an opaque id tells any client how many workers serve and when one restarts
(a client could check whether its request took a worker down): only what an operator turns on.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Final

from mp_core.web.guard import Headers

HEADER: Final = "MindPulse-Worker"
_HEADER_NAME: Final = HEADER.lower().encode()


def new_worker_id() -> str:
    """A fresh random id for one worker process (12 hex digits)."""
    return secrets.token_hex(6)


def with_worker_header(
    headers_for: Callable[[str], Headers], worker_id: str
) -> Callable[[str], Headers]:
    """``headers_for`` with the worker's header added to each answer's headers."""
    own = (_HEADER_NAME, worker_id.encode())
    # headers_for hands out one list per policy: extend each once, not on every request (the
    # base list is kept with its extension, so its id cannot be reused by another list).
    cached: dict[int, tuple[Headers, Headers]] = {}

    def headers(path: str) -> Headers:
        base = headers_for(path)
        entry = cached.get(id(base))
        if entry is None or entry[0] is not base:
            entry = cached[id(base)] = (base, [*base, own])
        return entry[1]

    return headers
