"""The adaptation curve, measured end to end: a real API, feedback from one world, then another.

    uv run --frozen python scripts/simulate_drift.py            # every scenario, a few minutes
    uv run --frozen python scripts/simulate_drift.py --quick    # a small run for CI
    uv run --frozen python scripts/simulate_drift.py --scenario concept --url http://127.0.0.1:8080

Each scenario trains a first model on the base world (``mindpulse train``), starts
``mindpulse-api serve`` on a free loopback port in its own folder, then sends students with
predictions and feedback (``POST /predict``, ``POST /feedback``): world A first, then world B.
Every ``RETRAIN_THRESHOLD`` feedbacks the API records a retrain request that the trainer started
next to it (``mindpulse worker``) takes; the run waits for the retrain and, after
each promotion, scores the serving model on a fresh sample of the current world through
``POST /predict/batch``, next to that world's Bayes-optimal accuracy on the same rows.

Scenarios: ``concept`` (base -> screen-time: P(risk | features) changes), ``covariate`` (base ->
sleep-loss: only the features move), ``stationary`` (base throughout, 20 retrains). With --url
the run drives that API instead (one scenario; it must serve a model trained on the base world,
with a trainer taking its retrain requests;
the run waits for each retrain its feedback triggers). Writes ``adaptation.json`` and ``adaptation.png`` to --out.

The started API selects and gates on accuracy (``--metric``, default ``accuracy``), since the
targets compare accuracy with the Bayes-optimal accuracy.

Targets (printed, and ``target_met`` per scenario in the JSON): after the concept drift, within 2 points of world
B's Bayes accuracy after at most 2,000 feedback rows; in the stationary world no false promotion
(a promoted model worse than its champion by more than the tolerance on the fresh sample); under
covariate drift the serving model within 1 point of Bayes.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from mp_core.client import ApiError, MindPulseClient
from mp_core.ml.synthetic import WORLDS, bayes_accuracy, generate
from mp_core.schema import FEATURE_NAMES, TARGET

#: (world A, world B, feedback rows from A, from B, RETRAIN_THRESHOLD) of each scenario, full
#: size; a retrain takes about 10-15 s here, so the batches keep the whole run near 10 minutes.
SCENARIOS: Final = {
    "concept": ("base", "screen-time", 500, 2000, 200),
    "covariate": ("base", "sleep-loss", 500, 1000, 250),
    "stationary": ("base", "base", 0, 2000, 100),  # 20 retrains
}
FULL: Final = {"base_rows": 100_000, "eval_rows": 20_000, "scale": 1.0}
QUICK: Final = {"base_rows": 4000, "eval_rows": 4000, "scale": 0.1, "batch": 50}
CONCEPT_TARGET: Final = (0.02, 2000)  # within 2 points, after at most 2,000 rows of world B
COVARIATE_TARGET: Final = 0.01
BATCH_CHUNK: Final = 5000  # rows per /predict/batch request, below MAX_BATCH
RETRAIN_WAIT: Final = 600.0


@dataclass(slots=True)
class Point:
    feedback_rows: int
    world: str
    version: str
    accuracy: float
    f1: float
    bayes: float
    event: str


def _bin(name: str) -> str:
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise SystemExit(f"simulate_drift.py: {path} is missing: run `uv sync --all-packages`")
    return str(path)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(root: Path, **extra: str) -> dict[str, str]:
    # With bytecode caching off every process (the API, the trainer, each `mindpulse train`)
    # compiles scikit-learn and pandas again (about 8 s here), which measures the machine.
    dropped = ("PROMETHEUS_MULTIPROC_DIR", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(DATA_DIR=str(root / "data"), ARTIFACTS_DIR=str(root / "artifacts"),
               REPORTS_DIR=str(root / "reports"), PYTHONUNBUFFERED="1", **extra)  # fmt: skip
    return env


class LocalApi:
    """``mindpulse-api serve`` on a free port and the trainer that runs its retrain requests
    (``mindpulse worker``), each in its own process group, stopped on exit."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = root / "api.log"
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [_bin("mindpulse-api"), "serve"],
            env={**env, "API_HOST": "127.0.0.1", "API_PORT": str(self.port), "API_WORKERS": "1"},
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        log = (root / "trainer.log").open("ab")
        self.trainer = subprocess.Popen(
            [_bin("mindpulse"), "worker"], env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        log.close()

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        with MindPulseClient(self.url, timeout=2) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise SystemExit(f"the API exited:\n{self.log_path.read_text()[-2000:]}")
                try:
                    if client.health().ready:
                        return
                except ApiError:
                    pass
                time.sleep(0.2)
        raise SystemExit(f"the API did not become ready in {timeout:.0f} s")

    def stop(self) -> None:
        for process in (self.process, self.trainer):
            _stop_group(process)


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    import signal

    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        process.wait(10)


def train_template(root: Path, size: dict[str, Any], candidates: str | None, metric: str) -> Path:
    """A first model on the base world, trained once and copied into every scenario."""
    template = root / "template"
    command = [_bin("mindpulse"), "train", "--rows", str(size["base_rows"]), "--json",
               "--metric", metric]  # fmt: skip
    if candidates:
        command += ["--candidates", *candidates.split(",")]
    started = time.monotonic()
    subprocess.run(command, env=_env(template), check=True, capture_output=True, text=True)
    print(f"First model trained on {size['base_rows']:,} base rows in "
          f"{time.monotonic() - started:.0f} s.", flush=True)  # fmt: skip
    return template


def _students(world: str, rows: int, seed: int) -> Any:
    concept, drift = WORLDS[world]
    return generate(rows, seed, concept=concept, drift=drift)


def _score(client: MindPulseClient, frame: Any, world: str) -> tuple[float, float, float, str]:
    """(accuracy, F1, Bayes accuracy, version) of the serving model on ``frame``."""
    predicted: list[int] = []
    version = ""
    records = frame[list(FEATURE_NAMES)].to_dict("records")
    for start in range(0, len(records), BATCH_CHUNK):
        answer = client.predict_batch(records[start : start + BATCH_CHUNK])
        predicted += list(answer.predictions)
        version = answer.model_version
    actual = frame[TARGET].to_numpy()
    guess = np.asarray(predicted)
    tp = int(((guess == 1) & (actual == 1)).sum())
    f1 = 2 * tp / max(int((guess == 1).sum() + (actual == 1).sum()), 1)
    bayes = bayes_accuracy(frame, WORLDS[world][0])
    return float(np.mean(guess == actual)), f1, bayes, version


def _wait_retrain(client: MindPulseClient, since: str | None) -> dict[str, Any]:
    """The status of the retrain started after ``since`` (its start time), once it finished."""
    deadline = time.monotonic() + RETRAIN_WAIT
    while time.monotonic() < deadline:
        info = client.model_info()
        status = info.get("retrain") or {}
        # "waiting": recorded, not yet taken by the trainer.
        done = status.get("state") not in (None, "running", "waiting") and not info.get(
            "retrain_running"
        )
        if done and status.get("started_at") != since:
            return info
        time.sleep(0.25)
    raise SystemExit(f"no retrain finished within {RETRAIN_WAIT:.0f} s")


def run_scenario(name: str, url: str, size: dict[str, Any], seed: int) -> dict[str, Any]:
    """Drive one scenario against the API at ``url``; return its curve and verdicts."""
    world_a, world_b, rows_a, rows_b, _ = SCENARIOS[name]
    rows_a, rows_b = int(rows_a * size["scale"]), int(rows_b * size["scale"])
    evaluation = {w: _students(w, size["eval_rows"], 9000 + i) for i, w in enumerate(WORLDS)}
    stream = [(world_a, _students(world_a, rows_a, seed)), (world_b, _students(world_b, rows_b, seed + 1))]  # fmt: skip
    points: list[Point] = []
    promotions: list[dict[str, Any]] = []
    sent = 0
    started = time.monotonic()
    with MindPulseClient(url, timeout=60) as client:
        info = client.model_info()
        metric = str(info.get("selection_metric") or "f1")
        last_start = (info.get("retrain") or {}).get("started_at")
        for world, frame in stream:
            accuracy, f1, bayes, version = _score(client, evaluation[world], world)
            points.append(Point(sent, world, version, accuracy, f1, bayes, f"world {world}"))
            records = frame[[*FEATURE_NAMES, TARGET]].to_dict("records")
            for record in records:
                features = {k: record[k] for k in FEATURE_NAMES}
                answer = client.predict(features)
                ack = client.feedback(answer.prediction_id, int(record[TARGET]))
                sent += 1
                if not ack.retrain_triggered:
                    continue
                info = _wait_retrain(client, last_start)
                status = info["retrain"]
                last_start = status.get("started_at")
                before = points[-1]
                if status.get("decision") != "promoted":
                    points.append(Point(sent, world, before.version, before.accuracy, before.f1,
                                        before.bayes, "kept"))  # fmt: skip
                    print(f"  {name}: {sent:5,} rows, {world}: champion kept "
                          f"({status.get('reason') or status.get('error')})", flush=True)  # fmt: skip
                    continue
                accuracy, f1, bayes, version = _score(client, evaluation[world], world)
                points.append(Point(sent, world, version, accuracy, f1, bayes, "promoted"))
                old = before.accuracy if metric == "accuracy" else before.f1
                new = accuracy if metric == "accuracy" else f1
                tolerance = float(status.get("tolerance") or 0.0)
                promotions.append({"feedback_rows": sent, "version": version, "world": world,
                                   "metric": metric, "champion": old, "promoted": new,
                                   "false_promotion": new < old - tolerance,
                                   "gate": status.get("gate")})  # fmt: skip
                print(f"  {name}: {sent:5,} rows, {world}: promoted {version}: accuracy "
                      f"{accuracy:.4f} (Bayes {bayes:.4f}, gap {100 * (bayes - accuracy):.2f} "
                      f"points)", flush=True)  # fmt: skip
    return _verdicts(name, rows_a, points, promotions, time.monotonic() - started)


def _verdicts(name: str, rows_a: int, points: list[Point], promotions: list[dict[str, Any]],
              seconds: float) -> dict[str, Any]:  # fmt: skip
    after = [p for p in points if p.feedback_rows >= rows_a and p.world == points[-1].world]
    retrains = sum(1 for p in points if p.event in ("kept", "promoted"))
    result: dict[str, Any] = {
        "scenario": name, "seconds": round(seconds, 1), "retrains": retrains,
        "promotions": len(promotions), "points": [asdict(p) for p in points],
        "promotion_log": promotions,
        "false_promotions": sum(1 for p in promotions if p["false_promotion"]),
    }  # fmt: skip
    final = points[-1]
    result["final_gap_points"] = round(100 * (final.bayes - final.accuracy), 2)
    if name == "concept":
        gap, budget = CONCEPT_TARGET
        reached = next((p.feedback_rows - rows_a for p in after
                        if p.bayes - p.accuracy <= gap), None)  # fmt: skip
        # The serving model as it stands once the budget of world-B rows is spent.
        at_budget = [p for p in after if p.feedback_rows - rows_a <= budget][-1]
        result["rows_to_target"] = reached
        result["gap_at_budget_points"] = round(100 * (at_budget.bayes - at_budget.accuracy), 2)
        result["target_met"] = at_budget.bayes - at_budget.accuracy <= gap
        result["target"] = (
            f"within {100 * gap:.0f} points of Bayes after <= {budget:,} rows of world B"
        )
    elif name == "covariate":
        worst = max(p.bayes - p.accuracy for p in after)
        result["worst_gap_points"] = round(100 * worst, 2)
        result["target_met"] = worst <= COVARIATE_TARGET
        result["target"] = f"within {100 * COVARIATE_TARGET:.0f} point of Bayes throughout"
    else:
        result["target_met"] = result["false_promotions"] == 0
        result["target"] = "no false promotion"
    return result


def plot(results: list[dict[str, Any]], path: Path) -> None:
    """Accuracy against feedback rows received, one panel per scenario, with the Bayes levels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(results), figsize=(5.5 * len(results), 4), squeeze=False)
    for axis, result in zip(axes[0], results, strict=True):
        points = result["points"]
        x = [p["feedback_rows"] for p in points]
        axis.step(x, [p["accuracy"] for p in points], where="post", label="serving model")
        axis.step(x, [p["bayes"] for p in points], where="post", linestyle="--",
                  label="Bayes-optimal (current world)")  # fmt: skip
        promoted = [p for p in points if p["event"] == "promoted"]
        axis.scatter([p["feedback_rows"] for p in promoted], [p["accuracy"] for p in promoted],
                     marker="o", s=14, label="promotion")  # fmt: skip
        axis.set_title(f"{result['scenario']}: {result['target']}", fontsize=9)
        axis.set_xlabel("feedback rows received")
        axis.set_ylabel("accuracy on a fresh sample")
        axis.legend(fontsize=8, loc="lower right")
        axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def print_result(result: dict[str, Any]) -> None:
    verdict = "met" if result["target_met"] else "NOT met"
    line = (f"{result['scenario']}: {result['retrains']} retrains, {result['promotions']} "
            f"promotions, {result['false_promotions']} false promotions; final gap to Bayes "
            f"{result['final_gap_points']:.2f} points; {result['seconds']:.0f} s")  # fmt: skip
    if result["scenario"] == "concept":
        line += (
            f"; rows of world B until first within 2 points: {result['rows_to_target']}; gap "
            f"after at most 2,000 rows of world B: {result['gap_at_budget_points']:.2f} points"
        )
    if result["scenario"] == "covariate":
        line += f"; worst gap {result['worst_gap_points']:.2f} points"
    print(f"{line}. Target ({result['target']}): {verdict}.", flush=True)


def batch_of(name: str, size: dict[str, Any]) -> int:
    """Feedbacks per retrain (``RETRAIN_THRESHOLD``) of scenario ``name`` at this size."""
    return int(size.get("batch") or SCENARIOS[name][4])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="simulate_drift.py", description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", choices=(*SCENARIOS, "all"), default="all")
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, for CI (targets not expected)"
    )
    parser.add_argument(
        "--url", help="drive this running API instead of starting one (one scenario)"
    )
    parser.add_argument("--out", type=Path, default=Path("reports") / "drift_simulation")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--candidates", help="RETRAIN_CANDIDATES for the started API (default: all)"
    )
    parser.add_argument(
        "--metric",
        default="accuracy",
        choices=("accuracy", "f1", "roc_auc", "precision", "recall"),
        help="SELECTION_METRIC of the started API (default accuracy: the targets are accuracy "
        "against the Bayes-optimal accuracy)",
    )
    return parser


def _exit_on_sigterm(_signum: int, _frame: object) -> None:
    raise SystemExit(143)  # unwinds through the finally that stops the started API


def main(argv: list[str] | None = None) -> int:
    import signal

    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    args = build_parser().parse_args(argv)
    size = QUICK if args.quick else FULL
    names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    if args.url and len(names) > 1:
        print("simulate_drift.py: --url drives one API: choose one --scenario", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    if args.url:
        results.append(run_scenario(names[0], args.url, size, args.seed))
        print_result(results[-1])
    else:
        with tempfile.TemporaryDirectory(prefix="mp-drift-") as tmp:
            template = train_template(Path(tmp), size, args.candidates, args.metric)
            for name in names:
                root = Path(tmp) / name
                shutil.copytree(template, root)
                # The simulator is the API's one client, sending thousands of feedbacks in
                # minutes: the per-client feedback rate limit (60 a minute) is off for it.
                env = _env(root, RETRAIN_THRESHOLD=str(batch_of(name, size)),
                           ADMIN_TOKEN=secrets.token_hex(16), LOG_FORMAT="json",
                           SELECTION_METRIC=args.metric, FEEDBACK_RATE_PER_MINUTE="0")  # fmt: skip
                if args.candidates:
                    env["RETRAIN_CANDIDATES"] = args.candidates
                api = LocalApi(root, env)
                try:
                    api.wait_ready()
                    print(f"Scenario {name}: API at {api.url}", flush=True)
                    results.append(run_scenario(name, api.url, size, args.seed))
                finally:
                    api.stop()
                print_result(results[-1])
    report = {"quick": args.quick, "sizes": size, "results": results,
              "targets_met": all(r["target_met"] for r in results)}  # fmt: skip
    (args.out / "adaptation.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(results, args.out / "adaptation.png")
    print(f"Wrote {args.out / 'adaptation.json'} and {args.out / 'adaptation.png'}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
