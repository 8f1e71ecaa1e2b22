"""A request for new monitoring reports: one small file that the reporting job picks up.

The API records it (``POST /reports/request``, admin only) and answers at once; the reporting
job (``mindpulse-report --if-requested``, or ``--watch-requests`` running beside the API) makes
the reports and clears the request it served. One pending request stands for any number of
clicks: reports always describe all the data, so asking twice needs one run.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from mp_core.atomic import atomic_write_text

REQUEST_FILE: Final = "report_request.json"


def request_path(data_dir: Path) -> Path:
    return Path(data_dir) / REQUEST_FILE


def record_request(data_dir: Path, by: str = "api") -> str:
    """Record a request (replacing a pending one) and return its UTC time, ISO-8601."""
    requested_at = datetime.now(UTC).isoformat(timespec="seconds")
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    atomic_write_text(
        request_path(data_dir), json.dumps({"requested_at": requested_at, "by": by}) + "\n"
    )
    return requested_at


def pending_request(data_dir: Path) -> str | None:
    """The time of the pending request, or None; an unreadable file still counts as one."""
    try:
        data = json.loads(request_path(data_dir).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return "unknown"
    return str(data.get("requested_at") or "unknown") if isinstance(data, dict) else "unknown"


def clear_request(data_dir: Path, served: str) -> bool:
    """Remove the request served by a run, unless a newer one replaced it meanwhile."""
    if pending_request(data_dir) != served:
        return False
    with contextlib.suppress(FileNotFoundError):
        request_path(data_dir).unlink()
    return True
