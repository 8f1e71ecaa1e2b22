"""``python -m services.reporting.bench``: time a full reporting run at production size.

Setup (not timed): generate ``--ref-rows`` students, train the logistic regression, make it
current (which writes ``ref_data.csv``), and write ``--prod-rows`` drifted feedback rows scored by
that model. Timed: ``build_reports`` in this process (read both CSVs, load the model, data quality,
drift on all rows of the nine features and the PCA components, classification, three HTML pages,
summary.json, history copy), then the ``mindpulse-report`` console script in its own process
(adds interpreter start-up and imports). No sampling: every row goes into every report.

Exit status: 0 when the in-process run meets the target, 1 when it does not, 2 when the
benchmark could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

TARGET_SECONDS = 20.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m services.reporting.bench",
        description="Time the three reports and summary.json on 100,000 reference rows "
        f"against 10,000 production rows (target: under {TARGET_SECONDS:g} s).",
    )
    parser.add_argument("--ref-rows", type=int, default=100_000)
    parser.add_argument("--prod-rows", type=int, default=10_000)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument(
        "--no-cli", action="store_true", help="skip the console-script (own process) timing"
    )
    return parser


def _prepare(root: Path, ref_rows: int, prod_rows: int) -> Any:
    from mp_core.ml.publish import promote_version, save_version
    from mp_core.ml.synthetic import SLEEP_LOSS_DRIFT, generate
    from mp_core.ml.training import TrainConfig, train
    from mp_core.schema import FEATURE_NAMES, TARGET, profile_from_mapping
    from mp_core.settings import Settings
    from mp_core.stores.artifacts_files import ArtifactStore
    from mp_core.stores.feedback_files import PROD_COLUMNS, FeedbackRecord, format_row

    settings = Settings(
        data_dir=root / "data", artifacts_dir=root / "artifacts", reports_dir=root / "reports"
    )
    frame = generate(ref_rows, 42)
    result = train(frame, TrainConfig(candidates=("logistic_regression",), n_jobs=1))
    version = save_version(settings, result)
    promote_version(settings, version, result, frame)

    bundle = ArtifactStore(settings.artifacts_dir).load_bundle()
    production = generate(prod_rows, 7, drift=SLEEP_LOSS_DRIFT)
    components = bundle.preprocessor.transform(production[list(FEATURE_NAMES)])
    predictions = bundle.model.predict(components)
    probabilities = bundle.model.predict_proba(components)[:, 1]
    lines = [(",".join(PROD_COLUMNS) + "\n").encode()]
    for i, row in enumerate(production.to_dict("records")):
        record = FeedbackRecord(
            profile=profile_from_mapping({name: row[name] for name in FEATURE_NAMES}),
            prediction=int(predictions[i]),
            probability=float(probabilities[i]),
            actual=int(row[TARGET]),
            model_version=version,
        )
        lines.append(format_row(record))
    settings.prod_data_path.write_bytes(b"".join(lines))
    return settings


def _console_script_seconds(settings: Any) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system) and exit code of one console-script run."""
    script = Path(sys.executable).parent / "mindpulse-report"
    env = {
        **os.environ,
        "DATA_DIR": str(settings.data_dir),
        "ARTIFACTS_DIR": str(settings.artifacts_dir),
        "REPORTS_DIR": str(settings.reports_dir),
    }
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [str(script)], env=env, capture_output=True, text=True, timeout=600, check=False
    )
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        print(done.stdout + done.stderr, file=sys.stderr)
    return seconds, cpu, done.returncode


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="mp-reporting-bench-"))
    try:
        print(f"setup: {args.ref_rows} reference rows, {args.prod_rows} drifted production rows")
        setup_started = time.perf_counter()
        settings = _prepare(root, args.ref_rows, args.prod_rows)
        print(f"setup done in {time.perf_counter() - setup_started:.1f} s (not timed)")

        import_started = time.perf_counter()
        from mp_reporting.reports import build_reports

        import_seconds = time.perf_counter() - import_started
        started, cpu_started = time.perf_counter(), time.process_time()
        run = build_reports(settings)
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        cli = None if args.no_cli else _console_script_seconds(settings)
    except Exception as exc:
        print(f"benchmark could not run: {exc!r}", file=sys.stderr)
        return 2
    finally:
        shutil.rmtree(root, ignore_errors=True)

    summary = run.summary
    met = seconds < TARGET_SECONDS
    figures: dict[str, Any] = {
        "benchmark": "reporting",
        "reference_rows": summary["rows"]["reference"],
        "production_rows": summary["rows"]["production"],
        "sampled": False,
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu_seconds, 2),
        "target_seconds": TARGET_SECONDS,
        "met": met,
        "steps_seconds": summary["timings_seconds"],
        "import_seconds": round(import_seconds, 2),
        "console_script_seconds": None if cli is None else round(cli[0], 2),
        "console_script_cpu_seconds": None if cli is None else round(cli[1], 2),
        "console_script_exit_code": None if cli is None else cli[2],
        "drift_share": summary["drift"]["share"],
        "drifted_columns": sorted(summary["drift"]["drifted_columns"]),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "bytecode_cache": not sys.dont_write_bytecode,
            "load_average": [round(x, 2) for x in os.getloadavg()],
        },
    }
    print(
        f"reporting: {figures['reference_rows']} reference vs {figures['production_rows']} "
        f"production rows, all rows, three reports + summary in {seconds:.1f} s "
        f"(target < {TARGET_SECONDS:g} s: {'met' if met else 'MISSED'}; "
        f"{cpu_seconds:.1f} s of CPU; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
    )
    steps = ", ".join(f"{k} {v:.2f}" for k, v in summary["timings_seconds"].items())
    print(f"  steps (s): {steps}")
    print(f"  importing Evidently and the report modules first: {import_seconds:.1f} s")
    if cli is not None:
        print(
            f"  console script end to end (own process, imports included): {cli[0]:.1f} s "
            f"({cli[1]:.1f} s of CPU), exit code {cli[2]}"
        )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"  figures written to {args.json}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
