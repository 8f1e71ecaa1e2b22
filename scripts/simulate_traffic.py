"""Send synthetic students to the MindPulse API: a prediction each, then feedback with the label.

    uv run --frozen python scripts/simulate_traffic.py --profiles 500 --concurrency 8
    uv run --frozen python scripts/simulate_traffic.py --profiles 2000 --drift sleep-loss --wait 120

Profiles and labels come from the project's generator (``mp_core.ml.synthetic``), optionally with a
stated drift (``sleep-loss``: less sleep, more social media). Every ``RETRAIN_THRESHOLD``
feedbacks the API starts a retrain; the summary lists the retrains triggered and every model
version that answered. The API is found at --url, else API_URL, else http://127.0.0.1:8080.
Exit status: 0 all requests succeeded, 1 some failed or the API is unreachable, 2 bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from mp_core.client import DEFAULT_BASE_URL, ApiError, AsyncMindPulseClient, MindPulseClient
from mp_core.schema import FEATURE_NAMES, TARGET

MAX_PROFILES: Final = 1_000_000
MAX_CONCURRENCY: Final = 256
EXIT_FAILED: Final = 1
EXIT_INPUT: Final = 2
DRIFTS: Final = ("none", "sleep-loss")


@dataclass(slots=True)
class Tally:
    """What the run saw, filled in by the workers."""

    sent: int = 0
    predictions: int = 0
    feedbacks: int = 0
    correct: int = 0
    positives: int = 0
    retrains_triggered: int = 0
    total_feedbacks: int = 0
    versions: Counter[str] = field(default_factory=Counter)
    version_order: list[str] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)

    def saw(self, version: str) -> None:
        if version not in self.versions:
            self.version_order.append(version)
        self.versions[version] += 1


def positive_int(limit: int) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not 1 <= value <= limit:
            raise argparse.ArgumentTypeError(f"must be from 1 to {limit:,} (got {value})")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="simulate_traffic.py",
        description="Predictions plus feedback for synthetic students, against the MindPulse API.",
    )
    parser.add_argument("--url", help=f"API base URL (default: API_URL or {DEFAULT_BASE_URL})")
    parser.add_argument(
        "-n",
        "--profiles",
        type=positive_int(MAX_PROFILES),
        default=200,
        help="students to send (default 200)",
    )
    parser.add_argument(
        "--concurrency",
        type=positive_int(MAX_CONCURRENCY),
        default=8,
        help="requests in flight at once (default 8)",
    )
    parser.add_argument("--seed", type=int, default=7, help="generator seed (default 7)")
    parser.add_argument(
        "--drift",
        choices=DRIFTS,
        default="none",
        help="shift the students: sleep-loss = 1.5 h less sleep, 2 h more social media",
    )
    parser.add_argument(
        "--no-feedback", action="store_true", help="predictions only, no feedback is sent"
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="afterwards, wait up to this long for a waiting or running retrain to finish (default 0)",
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request (10)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    return parser


def students(count: int, seed: int, drift: str) -> list[tuple[dict[str, Any], int]]:
    """``count`` generated profiles with their labels."""
    from mp_core.ml.synthetic import SLEEP_LOSS_DRIFT, generate

    frame = generate(count, seed, drift=SLEEP_LOSS_DRIFT if drift == "sleep-loss" else None)
    return [
        ({name: record[name] for name in FEATURE_NAMES}, int(record[TARGET]))
        for record in frame.to_dict("records")
    ]


def _error_key(exc: ApiError) -> str:
    return str(exc).split("\n")[0][:160]


async def _worker(
    client: AsyncMindPulseClient,
    queue: Iterator[tuple[dict[str, Any], int]],
    tally: Tally,
    send_feedback: bool,
    advance: Any,
) -> None:
    for features, actual in queue:
        tally.sent += 1
        try:
            answer = await client.predict(features)
            tally.predictions += 1
            tally.saw(answer.model_version)
            tally.correct += int(answer.prediction == actual)
            tally.positives += answer.prediction
            if send_feedback:
                ack = await client.feedback(answer.prediction_id, actual)
                tally.feedbacks += 1
                tally.retrains_triggered += int(ack.retrain_triggered)
                tally.total_feedbacks = max(tally.total_feedbacks, ack.total_feedbacks)
        except ApiError as exc:
            tally.errors[_error_key(exc)] += 1
        advance()


async def simulate(
    args: argparse.Namespace,
    rows: list[tuple[dict[str, Any], int]],
    url: str,
    console: Console,
) -> Tally:
    tally = Tally()
    queue = iter(rows)  # shared by the workers: each row is taken exactly once
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
        transient=True,
    )
    async with AsyncMindPulseClient(
        url, timeout=args.timeout, max_connections=args.concurrency
    ) as client:
        with progress:
            task = progress.add_task("students", total=len(rows))

            def advance() -> None:
                progress.advance(task)

            workers = [
                _worker(client, queue, tally, not args.no_feedback, advance)
                for _ in range(min(args.concurrency, len(rows)))
            ]
            await asyncio.gather(*workers)
    return tally


def wait_for_retrain(client: MindPulseClient, seconds: float) -> dict[str, Any]:
    """``GET /model`` once the waiting or running retrain (if any) ended, or when ``seconds``
    ran out (a request waits until a trainer, ``mindpulse worker``, takes it)."""
    deadline = time.monotonic() + seconds
    info = client.model_info()
    while _retraining(info) and time.monotonic() < deadline:
        time.sleep(0.5)
        info = client.model_info()
    return info


def _retraining(info: dict[str, Any]) -> bool:
    status = info.get("retrain") or {}
    return bool(info.get("retrain_running")) or (
        isinstance(status, dict) and status.get("state") in ("running", "waiting")
    )


def summary(
    tally: Tally, args: argparse.Namespace, seconds: float, model: dict[str, Any]
) -> dict[str, Any]:
    status = model.get("retrain") if isinstance(model.get("retrain"), dict) else None
    return {
        "url": args.url_resolved,
        "profiles": args.profiles,
        "drift": args.drift,
        "seed": args.seed,
        "concurrency": args.concurrency,
        "seconds": round(seconds, 2),
        "requests_per_s": round((tally.predictions + tally.feedbacks) / seconds, 1)
        if seconds > 0
        else None,
        "predictions": tally.predictions,
        "feedbacks": tally.feedbacks,
        "failed": sum(tally.errors.values()),
        "errors": dict(tally.errors.most_common(5)),
        "accuracy": round(tally.correct / tally.predictions, 4) if tally.predictions else None,
        "predicted_positive_rate": round(tally.positives / tally.predictions, 4)
        if tally.predictions
        else None,
        "retrains_triggered": tally.retrains_triggered,
        "total_feedbacks": tally.total_feedbacks,
        "versions_seen": {v: tally.versions[v] for v in tally.version_order},
        "current_version": model.get("version"),
        "retrain_running": _retraining(model),
        "last_retrain": status,
    }


def print_summary(console: Console, report: dict[str, Any]) -> None:
    console.print(
        f"Sent {report['profiles']:,} students ({report['drift']} drift) to {report['url']} in "
        f"{report['seconds']:.1f} s: {report['predictions']:,} predictions, "
        f"{report['feedbacks']:,} feedbacks, {report['failed']:,} failed "
        f"({report['requests_per_s'] or 0:,.0f} requests/s)."
    )
    if report["accuracy"] is not None:
        console.print(
            f"Accuracy against the generator's labels: {report['accuracy']:.1%} "
            f"(predicted at risk: {report['predicted_positive_rate']:.1%})."
        )
    versions = ", ".join(f"{v} x{n:,}" for v, n in report["versions_seen"].items()) or "none"
    console.print(f"Model versions that answered, in order: {versions}.")
    last = report["last_retrain"] or {}
    console.print(
        f"Retrains triggered by this run: {report['retrains_triggered']} "
        f"(feedbacks stored in all: {report['total_feedbacks']:,}); current version "
        f"{report['current_version']}; retrain running now: {report['retrain_running']}"
        + (f"; last retrain: {last.get('state')}" if last else "")
        + "."
    )
    for message, count in report["errors"].items():
        console.print(f"  {count:,} x {message}", style="red")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.url_resolved = url = args.url or os.environ.get("API_URL") or DEFAULT_BASE_URL
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    if not url.startswith(("http://", "https://")):
        err.print(f"simulate_traffic.py: --url must start with http:// or https:// (got {url!r})")
        return EXIT_INPUT
    if args.timeout <= 0 or args.wait < 0:
        err.print("simulate_traffic.py: --timeout must be positive and --wait not negative")
        return EXIT_INPUT
    try:
        with MindPulseClient(url, timeout=args.timeout) as client:
            health = client.health()
            if not health.ready:
                err.print(f"simulate_traffic.py: the API at {url} has no model: {health.reason}")
                return EXIT_FAILED
            rows = students(args.profiles, args.seed, args.drift)
            started = time.perf_counter()
            tally = asyncio.run(simulate(args, rows, url, err))
            seconds = time.perf_counter() - started
            model = wait_for_retrain(client, args.wait)
    except ApiError as exc:
        err.print(f"simulate_traffic.py: {exc}")
        return EXIT_FAILED
    report = summary(tally, args, seconds, model)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_summary(Console(highlight=False, soft_wrap=True), report)
    return EXIT_FAILED if report["failed"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
