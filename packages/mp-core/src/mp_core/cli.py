"""``mindpulse``: generate data, train, inspect and roll back models from a terminal."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mp_core.errors import CorruptArtifact, MindPulseError, ModelUnavailable
from mp_core.settings import ConfigError, Settings

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console

    from mp_core.ml.training import TrainingResult

METRIC_COLUMNS = ("accuracy", "f1", "precision", "recall", "roc_auc", "brier")


def _console() -> Console:
    from rich.console import Console

    # A fixed width when piped keeps the summary table readable in logs and CI output.
    return Console(highlight=False, width=None if sys.stdout.isatty() else 120)


def _progress(console: Console) -> Any:
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description:<28}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
        disable=not console.is_terminal,
    )


def generate_data(args: argparse.Namespace, settings: Settings) -> int:
    from mp_core.ml.dataset import save_base_dataset, write_csv
    from mp_core.ml.synthetic import SLEEP_LOSS_DRIFT, generate

    console = _console()
    output = Path(args.output) if args.output else settings.dataset_path
    drift = SLEEP_LOSS_DRIFT if args.drift == "sleep-loss" else None
    started = time.perf_counter()
    with _progress(console) as progress:
        task = progress.add_task("generating rows", total=2)
        frame = generate(args.rows, args.seed, drift=drift)
        progress.update(task, advance=1, description="writing CSV")
        if output == settings.dataset_path:
            source = {
                "source": "synthetic",
                "rows": args.rows,
                "seed": args.seed,
                "drift": args.drift,
            }
            save_base_dataset(frame, output, source)
        else:
            write_csv(frame, output)
        progress.update(task, advance=1, description="done")
    seconds = time.perf_counter() - started
    console.print(
        f"Wrote {len(frame):,} rows to [bold]{output}[/] in {seconds:.2f} s "
        f"(seed {args.seed}, drift: {args.drift}, depression rate {frame['Depression'].mean():.1%})."
    )
    return 0


def _base_frame(
    args: argparse.Namespace, settings: Settings, console: Console
) -> tuple[pd.DataFrame, dict[str, object]]:
    """The user's CSV when given, else the saved base dataset, else a fresh synthetic one."""
    from mp_core.ml.dataset import base_dataset_source, load_dataset, save_base_dataset
    from mp_core.ml.synthetic import generate

    if args.data:
        loaded = load_dataset(Path(args.data))
        source: dict[str, object] = {"source": "user", "path": str(Path(args.data).resolve())}
        save_base_dataset(loaded.frame, settings.dataset_path, source)
        if loaded.ignored_columns:
            console.print(f"Ignored extra column(s): {', '.join(loaded.ignored_columns)}")
        return loaded.frame, source
    if settings.dataset_path.exists() and not args.rows:
        return load_dataset(settings.dataset_path).frame, base_dataset_source(settings.dataset_path)
    rows = args.rows or 100_000
    frame = generate(rows, settings.seed)
    source = {"source": "synthetic", "rows": rows, "seed": settings.seed, "drift": "none"}
    save_base_dataset(frame, settings.dataset_path, source)
    console.print(f"Generated {rows:,} synthetic rows into {settings.dataset_path}.")
    return frame, source


def train_command(args: argparse.Namespace, settings: Settings) -> int:
    from mp_core.ml.publish import promote_version, save_version
    from mp_core.ml.synthetic import bayes_accuracy
    from mp_core.ml.training import CANDIDATES, TrainConfig, train
    from mp_core.stores import model_store

    console = _console()
    store = model_store(settings)
    if args.if_missing:
        try:
            store.verify()
        except (CorruptArtifact, ModelUnavailable) as exc:
            # No model, or one that can no longer be loaded (e.g. signed with another key, or
            # from before manifests were signed): train a new one.
            console.print(f"No usable current model ({exc}); training one.")
        else:
            console.print(f"A model is already current ({store.current_version()}); not training.")
            return 0
    frame, source = _base_frame(args, settings, console)
    config = TrainConfig(
        seed=settings.seed,
        selection_metric=args.metric or settings.selection_metric,
        candidates=tuple(args.candidates) if args.candidates else CANDIDATES,
    )
    with _progress(console) as progress:
        task = progress.add_task("training", total=1 + len(config.candidates))

        def report(step: str, done: int, total: int) -> None:
            progress.update(task, completed=done, total=total, description=step.replace("_", " "))

        result = train(frame, config, progress=report)
    bayes = None
    if source.get("source") == "synthetic":
        bayes = bayes_accuracy(frame[result.split == "test"])
    extra = {"data_source": source, "bayes_accuracy": bayes, "trained_by": "mindpulse train"}
    version = save_version(settings, result, extra=extra)
    promote_version(settings, version, result, frame)
    tracked = _track(settings, version, result, console, quiet=args.json)
    if args.json:
        print(json.dumps({**_summary(result, version, bayes, settings), **tracked}, indent=2))
    else:
        _print_summary(console, result, version, bayes, settings)
    return 0


def _track(
    settings: Settings, version: str, result: TrainingResult, console: Console, *, quiet: bool
) -> dict[str, Any]:
    """Log the run and move ``champion`` when MLFLOW_TRACKING_URI is set, and say plainly whether
    both exist now. A terminal user waits for it (up to the tracking child's own deadline, as
    MLflow's import alone can take longer than the 5 s a trainer gives it)."""
    from mp_core import tracking

    if not settings.mlflow_tracking_uri:
        return {}
    config = tracking.TrackingConfig.from_settings(settings)
    wait = tracking.child_deadline(config)
    with console.status(f"Logging the run to MLflow at {config.uri} (up to {wait:.0f} s)..."):
        done = tracking.log_training(settings, version, result, timeout=wait)
    if quiet:
        pass
    elif done:
        note = tracking.run_for_version(settings, version) or {}
        console.print(
            f"MLflow: run {note.get('run_id', '?')} logged; "
            f"{config.model_name}@{tracking.CHAMPION_ALIAS} -> version {version}."
        )
    else:
        console.print(
            f"MLflow: the run and the {tracking.CHAMPION_ALIAS} alias of {version} were NOT "
            f"confirmed within {wait:.0f} s (see the warning above); the model is saved and "
            "current. Run `mindpulse sync-mlflow` to log them."
        )
    return {"mlflow": {"tracked": done, "uri": config.uri}}


def _summary(
    result: TrainingResult, version: str, bayes: float | None, settings: Settings
) -> dict[str, Any]:
    return {
        "version": version,
        "algorithm": result.algorithm,
        "selection_metric": result.selection_metric,
        "metrics": result.metrics,
        "candidates": {
            c.algorithm: {**c.metrics, "fit_seconds": round(c.fit_seconds, 3)}
            for c in result.candidates
        },
        "bayes_accuracy": bayes,
        "train_rows": result.train_rows,
        "test_rows": result.test_rows,
        "seconds": round(result.seconds, 3),
        "paths": {
            "bundle": str(settings.artifacts_dir / "versions" / version),
            "reference": str(settings.ref_data_path),
            "dataset": str(settings.dataset_path),
        },
    }


def _print_summary(
    console: Console, result: TrainingResult, version: str, bayes: float | None, settings: Settings
) -> None:
    from rich.table import Table

    table = Table(
        title=f"Candidates on {result.test_rows:,} held-out rows (chosen by {result.selection_metric})"
    )
    table.add_column("model")
    for name in (*METRIC_COLUMNS, "fit s"):
        table.add_column(name, justify="right")
    for c in result.candidates:
        marker = " *" if c is result.winner else ""
        cells = ["-" if c.metrics.get(m) is None else f"{c.metrics[m]:.4f}" for m in METRIC_COLUMNS]
        table.add_row(c.algorithm + marker, *cells, f"{c.fit_seconds:.2f}")
    console.print(table)
    accuracy = result.metrics["accuracy"]
    console.print(
        f"Chosen: [bold]{result.algorithm}[/] -> version [bold]{version}[/] (now current)"
    )
    if bayes is not None:
        console.print(
            f"Accuracy {accuracy:.4f} vs Bayes-optimal {bayes:.4f} on the same rows "
            f"(gap {100 * (bayes - accuracy):+.2f} points)"
        )
    console.print(f"Trained on {result.train_rows:,} rows in {result.seconds:.1f} s.")
    console.print(
        f"Wrote {settings.artifacts_dir / 'versions' / version}/ and {settings.ref_data_path}"
    )


def model_info(args: argparse.Namespace, settings: Settings) -> int:
    from mp_core.stores import model_store

    store = model_store(settings)
    version = store.current_version()
    if version is None:
        print("No model yet: run `just train`.", file=sys.stderr)
        return 1
    manifest = store.verify(version)
    info = {
        "version": version,
        "algorithm": manifest["algorithm"],
        "created_at": manifest["created_at"],
        "metrics": {k: manifest["metrics"].get(k) for k in METRIC_COLUMNS},
        "bayes_accuracy": manifest.get("bayes_accuracy"),
        "training_rows": manifest["training_rows"],
        "versions": store.versions(),
        "history": (store.pointer() or {}).get("history", []),
    }
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    console = _console()
    console.print(
        f"Current model [bold]{version}[/]: {info['algorithm']}, trained {info['created_at']}"
    )
    console.print(
        "  " + "  ".join(f"{k} {v:.4f}" for k, v in info["metrics"].items() if v is not None)
    )
    console.print(f"  versions kept: {', '.join(info['versions'])}")
    return 0


def rollback(_args: argparse.Namespace, settings: Settings) -> int:
    from mp_core import tracking
    from mp_core.stores import model_store

    store = model_store(settings)
    before = store.current_version()
    after = store.rollback()
    tracking.on_rollback(settings, after)  # moves MLflow's `champion` alias when tracking is on
    print(f"Rolled back from {before} to {after}.")
    return 0


def sync_mlflow(args: argparse.Namespace, settings: Settings) -> int:
    from mp_core.tracking import sync_command

    return sync_command(args, settings)


def worker(args: argparse.Namespace, settings: Settings) -> int:
    from mp_core.logs import configure_logging
    from mp_core.ml.retrain import yield_cpu_to_serving
    from mp_core.ml.worker import Worker

    configure_logging(settings.log_format)
    yield_cpu_to_serving()
    first = argparse.Namespace(
        data=None, rows=None, metric=None, candidates=None, if_missing=True, json=False
    )
    trainer = Worker(
        settings,
        train_first=(lambda: train_command(first, settings)) if args.train_if_missing else None,
    )
    trainer.stop_on_signals()
    return trainer.run(once=args.once)


def validate_data(args: argparse.Namespace, _settings: Settings) -> int:
    from mp_core.ml.dataset import describe_bad_lines, load_dataset

    loaded = load_dataset(Path(args.path), on_bad="skip")
    print(f"{args.path}: {len(loaded.frame):,} valid row(s), {loaded.n_bad} bad.")
    if loaded.bad_lines:
        print(describe_bad_lines(loaded.bad_lines, limit=50))
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mindpulse",
        description="MindPulse core commands (configuration comes from the environment).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate-data", help="write a deterministic synthetic dataset")
    gen.add_argument("--rows", type=int, default=100_000)
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--drift", choices=("none", "sleep-loss"), default="none")
    gen.add_argument("--output", help="CSV path (default: DATA_DIR/dataset.csv)")
    gen.set_defaults(run=generate_data)

    tr = sub.add_parser("train", help="train every candidate, save and promote the best")
    tr.add_argument("--data", help="your own CSV with the nine features and Depression")
    tr.add_argument("--rows", type=int, help="generate this many synthetic rows first")
    tr.add_argument("--metric", choices=("f1", "accuracy", "roc_auc", "precision", "recall"))
    tr.add_argument(
        "--candidates",
        nargs="+",
        choices=("logistic_regression", "random_forest", "hist_gradient_boosting"),
    )
    tr.add_argument("--if-missing", action="store_true", help="do nothing when a model exists")
    tr.add_argument("--json", action="store_true", help="print the summary as JSON")
    tr.set_defaults(run=train_command)

    info = sub.add_parser("model-info", help="show the current model")
    info.add_argument("--json", action="store_true")
    info.set_defaults(run=model_info)

    rb = sub.add_parser("rollback", help="make the previous version current again")
    rb.set_defaults(run=rollback)

    val = sub.add_parser("validate-data", help="check a CSV against the schema, line by line")
    val.add_argument("path")
    val.set_defaults(run=validate_data)

    wk = sub.add_parser(
        "worker",
        help="the trainer: take retrain requests one at a time, train, gate, publish",
    )
    wk.add_argument(
        "--train-if-missing", action="store_true", help="first train a model when none is current"
    )
    wk.add_argument("--once", action="store_true", help="run what is waiting, then exit")
    wk.set_defaults(run=worker)

    sm = sub.add_parser(
        "sync-mlflow",
        help="log to MLflow the versions it missed; point champion at the current version",
    )
    sm.add_argument(
        "--timeout", type=float, default=30.0, help="seconds per request to MLflow (default 30)"
    )
    sm.add_argument("--json", action="store_true", help="print the summary as JSON")
    sm.set_defaults(run=sync_mlflow)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        return int(args.run(args, settings))
    except (MindPulseError, ConfigError) as exc:
        print(f"mindpulse {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
