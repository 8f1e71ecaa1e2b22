"""MindPulse core: the feature schema, settings and errors shared by every service.

Only msgspec-based modules are re-exported here, so ``import mp_core`` stays light for the UI;
the ML modules (training, artifacts, fastpath, ...) are imported by name where they are needed.
"""

from mp_core.errors import (
    CorruptArtifact,
    FeedbackStoreError,
    InvalidDataset,
    InvalidProfile,
    MindPulseError,
    ModelUnavailable,
)
from mp_core.schema import (
    CATEGORICAL_FEATURES,
    FEATURE_NAMES,
    NUMERIC_FEATURES,
    TARGET,
    FeatureSpec,
    StudentProfile,
    decode_profile,
    feature_specs,
    profile_from_mapping,
)
from mp_core.settings import ConfigError, Settings

__version__ = "0.1.0"

__all__ = [
    "CATEGORICAL_FEATURES",
    "FEATURE_NAMES",
    "NUMERIC_FEATURES",
    "TARGET",
    "ConfigError",
    "CorruptArtifact",
    "FeatureSpec",
    "FeedbackStoreError",
    "InvalidDataset",
    "InvalidProfile",
    "MindPulseError",
    "ModelUnavailable",
    "Settings",
    "StudentProfile",
    "__version__",
    "decode_profile",
    "feature_specs",
    "profile_from_mapping",
]
