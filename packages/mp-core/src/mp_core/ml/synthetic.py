"""Deterministic synthetic student-lifestyle data with a known, documented latent model.

The public dataset cannot be fetched everywhere, so MindPulse makes its own with the same
columns. Each row comes from this generative story (all draws from one seeded generator):

* a latent *strain* ``s ~ N(0, 1)`` shared by stress, sleep, screen time and activity;
* ``Stress_Level = clip(round(5.5 + 1.6 s + N(0, 1.3)), 1, 10)``;
* ``Sleep_Duration = clip(7.1 - 0.45 s + N(0, 0.9), 3, 11)`` hours/day;
* ``Social_Media_Hours = clip(3.0 + 0.5 s + N(0, 1.2), 0, 12)`` hours/day;
* ``Study_Hours = clip(4.0 + department effect + N(0, 1.5), 0, 14)`` hours/day;
* ``Physical_Activity = clip(150 exp(N(0, 0.55)) - 25 s, 0, 900)`` minutes/week;
* ``CGPA = clip(3.0 + 0.08 (Study - 4) - 0.06 (Social - 3) + N(0, 0.35), 0, 4)``;
* the log-odds of depression are linear in the observed features::

      logit p = -0.45 + 0.50 (Stress - 5.5) - 0.55 (Sleep - 7) + 0.30 (Social - 3)
                - 0.004 (Activity - 150) - 0.60 (CGPA - 3) + 0.02 (Age - 21)

  and ``Depression ~ Bernoulli(p)``.

Because ``p`` is known for every row, the Bayes-optimal accuracy (predict 1 when ``p > 0.5``) can
be computed, and trained models are judged against it. :class:`Drift` shifts the features of
"production" samples in a stated way (e.g. less sleep, more social media).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import numpy as np

from mp_core.schema import DEPARTMENTS, FEATURE_NAMES, GENDERS, TARGET

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_ROWS: Final = 100_000
DEFAULT_SEED: Final = 42
TRUE_PROBABILITY: Final = "true_probability"

_GENDER_WEIGHTS = (0.48, 0.48, 0.04)
_DEPARTMENT_STUDY_EFFECT = {
    "Engineering": 1.0,
    "Science": 0.6,
    "Arts": -0.4,
    "Business": -0.2,
    "Medical": 1.4,
    "Law": 0.8,
}


@dataclass(frozen=True, slots=True)
class Drift:
    """A stated shift applied to production samples (added before clipping)."""

    sleep_hours: float = 0.0
    social_media_hours: float = 0.0
    stress_levels: float = 0.0
    activity_minutes: float = 0.0

    @property
    def is_none(self) -> bool:
        return not any(
            (self.sleep_hours, self.social_media_hours, self.stress_levels, self.activity_minutes)
        )


#: The drift used in tests and demos: students sleep less and scroll more.
SLEEP_LOSS_DRIFT: Final = Drift(sleep_hours=-1.5, social_media_hours=2.0)


def true_logit(
    age: np.ndarray,
    cgpa: np.ndarray,
    sleep: np.ndarray,
    social: np.ndarray,
    activity: np.ndarray,
    stress: np.ndarray,
) -> np.ndarray:
    """Log-odds of depression in the latent model (see the module docstring)."""
    return (
        -0.45
        + 0.50 * (stress - 5.5)
        - 0.55 * (sleep - 7.0)
        + 0.30 * (social - 3.0)
        - 0.004 * (activity - 150.0)
        - 0.60 * (cgpa - 3.0)
        + 0.02 * (age - 21.0)
    )


def generate(
    n_rows: int = DEFAULT_ROWS,
    seed: int = DEFAULT_SEED,
    *,
    drift: Drift | None = None,
    with_truth: bool = False,
) -> pd.DataFrame:
    """Generate ``n_rows`` students; the same ``seed`` always gives the same frame.

    With ``with_truth`` the frame carries a ``true_probability`` column (drop it before training).
    """
    import pandas as pd

    if n_rows < 0:
        raise ValueError("n_rows must be >= 0")
    drift = drift or Drift()
    rng = np.random.default_rng(seed)
    strain = rng.standard_normal(n_rows)

    age = np.clip(np.round(18 + rng.gamma(2.0, 2.0, n_rows)), 16, 45).astype(np.int64)
    gender = rng.choice(np.array(GENDERS), n_rows, p=_GENDER_WEIGHTS)
    department = rng.choice(np.array(DEPARTMENTS), n_rows)
    study_effect = np.vectorize(_DEPARTMENT_STUDY_EFFECT.__getitem__, otypes=[float])(department)

    stress = np.clip(
        np.round(5.5 + 1.6 * strain + rng.normal(0, 1.3, n_rows) + drift.stress_levels), 1, 10
    ).astype(np.int64)
    sleep = np.round(
        np.clip(7.1 - 0.45 * strain + rng.normal(0, 0.9, n_rows) + drift.sleep_hours, 3, 11), 1
    )
    social = np.round(
        np.clip(3.0 + 0.5 * strain + rng.normal(0, 1.2, n_rows) + drift.social_media_hours, 0, 12),
        1,
    )
    study = np.round(np.clip(4.0 + study_effect + rng.normal(0, 1.5, n_rows), 0, 14), 1)
    activity = np.round(
        np.clip(
            150 * np.exp(rng.normal(0, 0.55, n_rows)) - 25 * strain + drift.activity_minutes, 0, 900
        ),
        0,
    )
    cgpa = np.round(
        np.clip(3.0 + 0.08 * (study - 4) - 0.06 * (social - 3) + rng.normal(0, 0.35, n_rows), 0, 4),
        2,
    )
    probability = 1.0 / (1.0 + np.exp(-true_logit(age, cgpa, sleep, social, activity, stress)))
    depression = (rng.random(n_rows) < probability).astype(np.int64)

    frame = pd.DataFrame(
        {
            "Age": age,
            "Gender": gender,
            "Department": department,
            "CGPA": cgpa,
            "Sleep_Duration": sleep,
            "Study_Hours": study,
            "Social_Media_Hours": social,
            "Physical_Activity": activity,
            "Stress_Level": stress,
            TARGET: depression,
        },
        columns=[*FEATURE_NAMES, TARGET],
    )
    if with_truth:
        frame[TRUE_PROBABILITY] = probability
    return frame


def true_probability(frame: pd.DataFrame) -> np.ndarray:
    """The latent model's probability of depression for each row of ``frame``."""
    logit = true_logit(
        frame["Age"].to_numpy(float),
        frame["CGPA"].to_numpy(float),
        frame["Sleep_Duration"].to_numpy(float),
        frame["Social_Media_Hours"].to_numpy(float),
        frame["Physical_Activity"].to_numpy(float),
        frame["Stress_Level"].to_numpy(float),
    )
    return np.asarray(1.0 / (1.0 + np.exp(-logit)))


def bayes_accuracy(frame: pd.DataFrame) -> float:
    """Accuracy of the Bayes-optimal rule (predict 1 when the true p > 0.5) on ``frame``'s labels."""
    predicted = (true_probability(frame) > 0.5).astype(np.int64)
    return float(np.mean(predicted == frame[TARGET].to_numpy()))
