"""``mindpulse-report``: write the reports once and exit, or check drift and ask for a retrain.

Exit codes (stable; the retrain DAG and ``just drift-check`` rely on them):

==  =========================================================================================
0   reports written (gaps are stated in them) / drift check: no drift, or too few rows to judge
10  drift check: drift over the threshold or performance drift, retrain requested and accepted
    (HTTP 202)
11  drift check: drift over the threshold or performance drift, a retrain is already running
    (HTTP 409)

The drift check asks for a retrain when the share of drifted raw features is over
``DRIFT_THRESHOLD``, or when the serving model's accuracy on its newest feedback fell more than
``PERFORMANCE_DROP`` below its held-out accuracy, over at least ``PERFORMANCE_MIN_ROWS`` rows
(:mod:`mp_reporting.performance_drift`).
1   failure: the API could not be reached or refused, a file could not be written, a bug
2   bad input: configuration, missing reference data, columns that do not match the contract
==  =========================================================================================
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Final

from mp_core.errors import FeedbackStoreError, InvalidDataset, MindPulseError
from mp_core.settings import ConfigError, Settings

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
EXIT_BAD_INPUT: Final = 2
EXIT_RETRAIN_REQUESTED: Final = 10
EXIT_RETRAIN_RUNNING: Final = 11

log = logging.getLogger("mp_reporting.cli")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mindpulse-report",
        description="Write the data quality, data drift and classification performance reports "
        "and summary.json into REPORTS_DIR, or (--drift-check) ask the API to retrain when the "
        "raw features drifted. Exit codes: 0 ok/no drift, 10 retrain requested, 11 retrain "
        "already running, 1 failure, 2 bad input.",
    )
    parser.add_argument(
        "--drift-check",
        action="store_true",
        help="only compute the share of drifted raw features and the serving model's accuracy "
        "drop on recent feedback; above DRIFT_THRESHOLD or PERFORMANCE_DROP, POST /retrain to "
        "API_URL with ADMIN_TOKEN (writes no report)",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="drift share threshold for this run (default: DRIFT_THRESHOLD, 0.3)",
    )
    parser.add_argument(
        "--if-requested",
        action="store_true",
        help="write the reports only when a report request is pending (POST /reports/request), "
        "then clear it",
    )
    parser.add_argument(
        "--watch-requests",
        type=float,
        metavar="SECONDS",
        default=None,
        help="keep running: every SECONDS, write the reports when a request is pending",
    )
    parser.add_argument(
        "--keep", type=int, default=10, help="history runs to keep (default 10; 0 = no history)"
    )
    parser.add_argument("--verbose", action="store_true", help="debug logs, tracebacks on bugs")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from mp_core.logs import configure_logging

    configure_logging(settings.log_format, logging.DEBUG if args.verbose else logging.INFO)
    if args.threshold is not None:
        settings = _with_threshold(settings, args.threshold)
    if not 0.0 <= settings.drift_threshold <= 1.0:
        source = "--threshold" if args.threshold is not None else "DRIFT_THRESHOLD"
        print(f"error: {source} must be a share from 0 to 1", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.keep < 0:
        print("error: --keep must be 0 or more", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        if args.drift_check:
            return _drift_check(settings)
        if args.watch_requests is not None:
            return _watch_requests(settings, args.keep, args.watch_requests)
        if args.if_requested:
            return _report_if_requested(settings, args.keep)
        return _report(settings, args.keep)
    except (InvalidDataset, FeedbackStoreError) as exc:
        log.error("bad input", extra={"reason": str(exc)})
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except MindPulseError as exc:
        log.error("failed", extra={"reason": str(exc)})
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except OSError as exc:
        log.error("cannot write reports", extra={"reason": str(exc)})
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as exc:
        log.error("unexpected failure", exc_info=args.verbose, extra={"reason": repr(exc)})
        print(
            f"error: unexpected failure ({exc!r}); run with --verbose for details", file=sys.stderr
        )
        return EXIT_FAILURE


def _with_threshold(settings: Settings, threshold: float) -> Settings:
    import msgspec

    return msgspec.structs.replace(settings, drift_threshold=threshold)


def _report(settings: Settings, keep: int) -> int:
    from mp_reporting.reports import build_reports

    run = build_reports(settings, keep=keep)
    summary = run.summary
    drift = summary["drift"]
    print(
        f"Reports written to {run.reports_dir}: "
        + ", ".join([*summary["reports"].values(), "summary.json"])
    )
    if run.history_dir is not None:
        print(f"History copy: {run.history_dir}")
    if drift["computed"]:
        verdict = "drift detected" if drift["detected"] else "no drift"
        print(
            f"Drift: {len(drift['drifted_columns'])} of {len(drift['features']['columns'])} raw "
            f"features (share {drift['share']:.0%}, threshold {drift['threshold']:.0%}): {verdict}"
        )
        for column in drift["drifted_columns"]:
            print(f"  - {drift['features']['columns'][column]['description']}")
    performance = summary["performance_drift"]
    print(
        f"Performance drift: {'yes' if performance['detected'] else 'no'} ({performance['reason']})"
    )
    for warning in summary["warnings"]:
        print(f"Note: {warning}")
    print(f"Done in {summary['timings_seconds']['total']:.1f} s")
    return EXIT_OK


def _report_if_requested(settings: Settings, keep: int) -> int:
    from mp_core.stores.report_requests_files import clear_request, pending_request

    requested = pending_request(settings.data_dir)
    if requested is None:
        print("No report request pending. Nothing to do.")
        return EXIT_OK
    log.info("report request", extra={"requested_at": requested})
    code = _report(settings, keep)
    if code == EXIT_OK:
        clear_request(settings.data_dir, requested)
    return code


def _watch_requests(settings: Settings, keep: int, seconds: float) -> int:
    """Serve report requests until stopped (Ctrl-C or SIGTERM)."""
    import signal
    import time

    if not seconds > 0:
        print("error: --watch-requests must be above 0 seconds", file=sys.stderr)
        return EXIT_BAD_INPUT
    from mp_core.stores.report_requests_files import pending_request

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(EXIT_OK))
    log.info("watching report requests", extra={"every_seconds": seconds})
    try:
        while True:
            if pending_request(settings.data_dir) is not None:
                try:
                    _report_if_requested(settings, keep)
                except Exception as exc:  # one failed run must not stop the watcher
                    log.error("report run failed", extra={"reason": repr(exc)})
            time.sleep(seconds)
    except KeyboardInterrupt:
        return EXIT_OK


def _drift_check(settings: Settings) -> int:
    from mp_reporting.reports import check_drift
    from mp_reporting.retrain import request_retrain

    check = check_drift(settings)
    performance = check.performance
    performance_line = (
        f"Performance drift: {'yes' if performance.detected else 'no'} ({performance.reason})."
    )
    if check.share is None and not performance.detected:
        print(f"No drift verdict: {check.reason}. {performance_line} Nothing to do.")
        log.info("drift check", extra={"verdict": "too_few_rows", "rows": check.production_rows})
        return EXIT_OK
    line = (
        "Drifted raw features: not judged"
        if check.share is None
        else f"Drifted raw features: {len(check.drifted_columns)} of {check.columns} "
        f"(share {check.share:.0%}, threshold {check.threshold:.0%}; {check.production_rows} "
        "production rows)"
    )
    if not check.retrain_needed:
        print(f"No drift. {line}. {performance_line}")
        log.info(
            "drift check",
            extra={"verdict": "no_drift", "share": check.share, "accuracy_drop": performance.drop},
        )
        return EXIT_OK
    headline = "Drift detected" if check.detected else "Performance drift detected"
    print(f"{headline}. {line}. {performance_line}")
    for description in check.drifted_columns.values():
        print(f"  - {description}")
    answer = request_retrain(settings.api_url, settings.admin_token)
    verdict = "drift" if check.detected else "performance_drift"
    log.info(
        "drift check",
        extra={
            "verdict": verdict,
            "share": check.share,
            "accuracy_drop": performance.drop,
            "retrain": answer.status,
        },
    )
    if answer.status == "accepted":
        print(f"Retrain requested from {settings.api_url}: accepted ({answer.body})")
        return EXIT_RETRAIN_REQUESTED
    print(f"Retrain requested from {settings.api_url}: one is already running ({answer.body})")
    return EXIT_RETRAIN_RUNNING


if __name__ == "__main__":
    sys.exit(main())
