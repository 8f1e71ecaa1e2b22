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
be computed, and trained models are judged against it.

Two kinds of change are stated, so that the feedback loop can be judged under each:

* *covariate drift* (:class:`Drift`, e.g. :data:`SLEEP_LOSS_DRIFT`) shifts the features and keeps
  ``P(risk | features)``: a model fitted before the shift is still right, the inputs merely move;
* *concept drift* (:class:`Concept`, e.g. :data:`SCREEN_TIME_CONCEPT`) keeps the features and
  changes ``P(risk | features)``: the coefficients above and the base rate. Under
  :data:`SCREEN_TIME_CONCEPT` social media weighs three times as much (0.90 per hour), sleep a
  little (-0.20 per hour), stress less (0.40 per level), and the intercept rises from -0.45 to
  -0.05 (more students at risk). A model fitted before such a change is wrong on the new rows
  until it learns from feedback.

A *world* is a concept plus a drift; :func:`generate` draws from one, and
:func:`true_probability` / :func:`bayes_accuracy` take the concept the labels came from.
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


@dataclass(frozen=True, slots=True, kw_only=True)
class Concept:
    """The coefficients of the log-odds of depression (centred as in the module docstring)."""

    intercept: float = -0.45
    stress: float = 0.50
    sleep: float = -0.55
    social_media: float = 0.30
    activity: float = -0.004
    cgpa: float = -0.60
    age: float = 0.02


#: The relation the base dataset is drawn from.
BASE_CONCEPT: Final = Concept()
#: A concept drift: screen time matters far more, sleep and stress less, more students at risk.
SCREEN_TIME_CONCEPT: Final = Concept(intercept=-0.05, stress=0.40, sleep=-0.20, social_media=0.90)
#: Named worlds for the command line and the drift simulation: (concept, covariate drift).
WORLDS: Final[dict[str, tuple[Concept, Drift]]] = {
    "base": (BASE_CONCEPT, Drift()),
    "sleep-loss": (BASE_CONCEPT, SLEEP_LOSS_DRIFT),
    "screen-time": (SCREEN_TIME_CONCEPT, Drift()),
}


def true_logit(
    age: np.ndarray,
    cgpa: np.ndarray,
    sleep: np.ndarray,
    social: np.ndarray,
    activity: np.ndarray,
    stress: np.ndarray,
    concept: Concept = BASE_CONCEPT,
) -> np.ndarray:
    """Log-odds of depression in the latent model (see the module docstring)."""
    return (
        concept.intercept
        + concept.stress * (stress - 5.5)
        + concept.sleep * (sleep - 7.0)
        + concept.social_media * (social - 3.0)
        + concept.activity * (activity - 150.0)
        + concept.cgpa * (cgpa - 3.0)
        + concept.age * (age - 21.0)
    )


def generate(
    n_rows: int = DEFAULT_ROWS,
    seed: int = DEFAULT_SEED,
    *,
    drift: Drift | None = None,
    concept: Concept = BASE_CONCEPT,
    with_truth: bool = False,
) -> pd.DataFrame:
    """Generate ``n_rows`` students; the same ``seed`` always gives the same frame.

    ``drift`` moves the features, ``concept`` sets the relation the labels are drawn from.
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
    logit = true_logit(age, cgpa, sleep, social, activity, stress, concept)
    probability = 1.0 / (1.0 + np.exp(-logit))
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


def true_probability(frame: pd.DataFrame, concept: Concept = BASE_CONCEPT) -> np.ndarray:
    """The latent model's probability of depression for each row of ``frame`` under ``concept``."""
    logit = true_logit(
        frame["Age"].to_numpy(float),
        frame["CGPA"].to_numpy(float),
        frame["Sleep_Duration"].to_numpy(float),
        frame["Social_Media_Hours"].to_numpy(float),
        frame["Physical_Activity"].to_numpy(float),
        frame["Stress_Level"].to_numpy(float),
        concept,
    )
    return np.asarray(1.0 / (1.0 + np.exp(-logit)))


def bayes_accuracy(frame: pd.DataFrame, concept: Concept = BASE_CONCEPT) -> float:
    """Accuracy of the Bayes-optimal rule (predict 1 when the true p > 0.5) on ``frame``'s labels.

    ``concept`` must be the one the labels were drawn from.
    """
    predicted = (true_probability(frame, concept) > 0.5).astype(np.int64)
    return float(np.mean(predicted == frame[TARGET].to_numpy()))
