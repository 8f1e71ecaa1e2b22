"""A short, kind explanation of a result, tied to the person's own answers.

Pure functions over a validated profile: no Gradio, no HTTP, so every rule is unit-tested. The
wording stays plain and makes no medical claim: the model sees patterns in survey-like answers,
it does not diagnose anything. The thresholds are general, widely published wellbeing guidance
(sleep 7-9 hours for young adults, about 150 minutes of activity a week), used here only to pick
which of the person's answers are worth a friendly word.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from mp_core.schema import StudentProfile

SHORT_SLEEP_HOURS: Final = 7.0
LONG_SLEEP_HOURS: Final = 10.0
HIGH_STRESS: Final = 8
LOW_STRESS: Final = 4
ACTIVE_MINUTES_PER_WEEK: Final = 150.0
HEAVY_SOCIAL_MEDIA_HOURS: Final = 4.0
LONG_STUDY_HOURS: Final = 8.0
LOW_CGPA: Final = 2.0

RiskLevel = Literal["lower", "moderate", "higher"]

# Where the gauge changes colour and wording; the class itself is the model's decision.
MODERATE_FROM: Final = 0.35
HIGHER_FROM: Final = 0.65


@dataclass(frozen=True, slots=True)
class Observation:
    """One answer worth a word: what the person said, and one practical thing to try."""

    topic: str
    finding: str
    suggestion: str


@dataclass(frozen=True, slots=True)
class Explanation:
    """What the result page says below the gauge."""

    headline: str
    summary: str
    concerns: tuple[Observation, ...]
    strengths: tuple[str, ...]
    closing: str


def risk_level(probability: float) -> RiskLevel:
    """The word the gauge uses for a probability of the higher-risk class."""
    if probability >= HIGHER_FROM:
        return "higher"
    if probability >= MODERATE_FROM:
        return "moderate"
    return "lower"


def class_label(prediction: int) -> str:
    """The predicted class in words."""
    return "Higher risk pattern" if prediction == 1 else "Lower risk pattern"


def _chance(percent: int) -> str:
    """``a 64% chance``, ``an 89% chance``, ``an 11% chance``: the article the number takes."""
    spoken = str(percent)
    vowel_sound = spoken.startswith("8") or spoken in ("11", "18")
    return f"{'an' if vowel_sound else 'a'} {percent}% chance"


def _hours(value: float) -> str:
    return f"{value:g} hour" + ("" if value == 1 else "s")


def concerns_for(profile: StudentProfile) -> tuple[Observation, ...]:
    """The answers that often go with feeling low, each with one small, practical step."""
    found: list[Observation] = []
    if profile.Sleep_Duration < SHORT_SLEEP_HOURS:
        found.append(
            Observation(
                "Sleep",
                f"You sleep about {_hours(profile.Sleep_Duration)} a night; most young adults "
                "feel better with 7 to 9.",
                "Try a regular bedtime, and put screens away half an hour before sleeping.",
            )
        )
    elif profile.Sleep_Duration > LONG_SLEEP_HOURS:
        found.append(
            Observation(
                "Sleep",
                f"You sleep about {_hours(profile.Sleep_Duration)} a day, which is a lot; "
                "feeling tired all the time is worth mentioning to someone you trust.",
                "Keep regular wake-up times and get some daylight in the morning.",
            )
        )
    if profile.Stress_Level >= HIGH_STRESS:
        found.append(
            Observation(
                "Stress",
                f"You rate your stress at {profile.Stress_Level} out of 10.",
                "Plan short breaks between tasks, and talk to someone: a friend, "
                "a tutor or your university's student services.",
            )
        )
    if profile.Physical_Activity < ACTIVE_MINUTES_PER_WEEK:
        found.append(
            Observation(
                "Movement",
                f"You move about {profile.Physical_Activity:g} minutes a week; "
                "around 150 minutes is a common goal.",
                "A 20-minute walk a day, alone or with a friend, already gets you there.",
            )
        )
    if profile.Social_Media_Hours >= HEAVY_SOCIAL_MEDIA_HOURS:
        found.append(
            Observation(
                "Screens",
                f"You spend about {_hours(profile.Social_Media_Hours)} a day on social media.",
                "Set a daily limit in your phone's settings and keep the phone out of the bedroom.",
            )
        )
    if profile.Study_Hours >= LONG_STUDY_HOURS:
        found.append(
            Observation(
                "Study load",
                f"You study about {_hours(profile.Study_Hours)} a day on top of everything else.",
                "Work in blocks of 50 minutes with real breaks, and keep one evening a week free.",
            )
        )
    if profile.CGPA < LOW_CGPA:
        found.append(
            Observation(
                "Studies",
                f"Your CGPA is {profile.CGPA:g} out of 4, which can weigh on you.",
                "An academic adviser or tutor can help you plan the next term; asking is normal.",
            )
        )
    return tuple(found)


def strengths_for(profile: StudentProfile) -> tuple[str, ...]:
    """Answers that are going well, so the page does not only list problems."""
    found: list[str] = []
    if SHORT_SLEEP_HOURS <= profile.Sleep_Duration <= LONG_SLEEP_HOURS:
        found.append(f"You sleep about {_hours(profile.Sleep_Duration)} a night: keep it up.")
    if profile.Physical_Activity >= ACTIVE_MINUTES_PER_WEEK:
        found.append(f"You move {profile.Physical_Activity:g} minutes a week: well done.")
    if profile.Stress_Level <= LOW_STRESS:
        found.append(f"Your stress is fairly low ({profile.Stress_Level} out of 10).")
    return tuple(found)


def explain(profile: StudentProfile, prediction: int, probability: float) -> Explanation:
    """The explanation of one prediction for the person who gave these answers."""
    concerns = concerns_for(profile)
    strengths = strengths_for(profile)
    percent = round(probability * 100)
    if prediction == 1:
        headline = "Your answers look like those of students who were feeling low."
        summary = (
            f"The model gives {_chance(percent)} that your answers match that pattern. "
            "That is not a diagnosis, and it does not say how you feel: only you know that."
        )
        closing = (
            "If you have been feeling down, it can help to talk to someone. "
            "The support lines below are free and confidential."
        )
    else:
        headline = "Your answers look like those of students who were doing fairly well."
        summary = (
            f"The model gives {_chance(percent)} that your answers match the pattern of "
            "students who were feeling low. That is not a diagnosis either way."
        )
        closing = (
            "Even so, if something weighs on you, talking helps. "
            "The support lines below are there for everyone."
        )
    if not concerns:
        summary += " None of your answers stands out as a usual source of strain."
    return Explanation(headline, summary, concerns, strengths, closing)
