"""Compare retraining policies offline: accuracy after a change of world, against Bayes.

    uv run --frozen python scripts/compare_retrain_policies.py [--candidate logistic_regression]

For each world (stationary, covariate drift, concept drift) the feedback is 1,000 rows of the
base world followed by N rows of the new one; each policy trains a model on the base set plus
that feedback (no gate: the policy alone), scored on a fresh 50,000-row sample of the new world
next to the Bayes-optimal accuracy on the same rows. Prints a table and, with --json, writes it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mp_core.ml.retraining import RecencyPolicy, plan_retrain
from mp_core.ml.synthetic import WORLDS, bayes_accuracy, generate
from mp_core.ml.training import CANDIDATES, TrainConfig, train
from mp_core.schema import FEATURE_NAMES

POLICIES = {
    "all rows, unweighted": RecencyPolicy(
        base_rows=80_000, prior_weight=80_000, half_life=10**9, window=10**9
    ),
    "newest 2,000 only": RecencyPolicy(prior_weight=1.0, half_life=10**9, window=2000),
    "decay 500 + prior 500": RecencyPolicy(),
    "decay 250 + prior 500": RecencyPolicy(half_life=250),
    "decay 1000 + prior 500": RecencyPolicy(half_life=1000),
    "decay 500 + prior 2000": RecencyPolicy(prior_weight=2000),
    "decay 500 + prior 100": RecencyPolicy(prior_weight=100),
}
SIZES = (250, 500, 1000, 2000)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--candidate", choices=CANDIDATES, default="logistic_regression")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    base = generate(100_000, 42)
    before = generate(1000, 101)
    rows = []
    for world in ("base", "sleep-loss", "screen-time"):
        concept, drift = WORLDS[world]
        fresh = generate(50_000, 303, concept=concept, drift=drift)
        bayes = bayes_accuracy(fresh, concept)
        after = generate(max(SIZES), 202, concept=concept, drift=drift)
        for size in SIZES:
            frame = pd.concat([before, after.head(size)], ignore_index=True)
            for name, policy in POLICIES.items():
                plan = plan_retrain(base, frame, policy, seed=42)
                # The held-out rows would go to the gate; the policy is judged on fresh rows.
                started = time.perf_counter()
                result = train(
                    plan.frame,
                    TrainConfig(candidates=(args.candidate,), n_jobs=1),
                    test_mask=plan.test_mask,
                    sample_weight=plan.sample_weight,
                )
                seconds = time.perf_counter() - started
                z = result.preprocessor.transform(fresh[list(FEATURE_NAMES)])
                accuracy = float(np.mean(result.model.predict(z) == fresh["Depression"]))
                rows.append(
                    {"world": world, "new_rows": size, "policy": name,
                     "accuracy": round(accuracy, 4), "bayes": round(bayes, 4),
                     "gap_points": round(100 * (bayes - accuracy), 2),
                     "train_rows": plan.rows["train"], "seconds": round(seconds, 2)}
                )  # fmt: skip
                print(
                    f"{world:12} {size:5} {name:24} acc {accuracy:.4f} bayes {bayes:.4f} "
                    f"gap {100 * (bayes - accuracy):5.2f} pts  {plan.rows['train']:6} rows "
                    f"{seconds:5.2f} s",
                    flush=True,
                )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
