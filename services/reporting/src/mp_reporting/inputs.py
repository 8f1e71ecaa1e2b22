"""Read the two inputs of every report: the reference set and the production feedback.

``ref_data.csv`` is written by training (features, ``PCA_1..k``, ``target``, ``prediction``,
``split``); production rows come from the feedback store, the only reader of ``prod_data.csv``.
Malformed rows are skipped and kept by line number so the reports can count them; columns that do
not match the schema stop the run with an error naming them.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from mp_core.errors import InvalidDataset
from mp_core.ml.dataset import load_dataset
from mp_core.schema import FEATURE_NAMES
from mp_core.stores.feedback_files import PROD_COLUMNS, FeedbackStore

if TYPE_CHECKING:
    import pandas as pd

REFERENCE_LABELS: Final = ("target", "prediction")
REFERENCE_COLUMNS: Final = (*FEATURE_NAMES, *REFERENCE_LABELS, "split")
_PCA_RE: Final = re.compile(r"^PCA_(\d+)$")


class SchemaMismatch(InvalidDataset):
    """An input file's columns do not match the data contract."""


@dataclass(slots=True)
class Table:
    """The valid rows of one input, and the lines that were skipped and why."""

    frame: pd.DataFrame
    source: Path
    bad_lines: dict[int, str] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return len(self.frame)


@dataclass(slots=True)
class Inputs:
    reference: Table
    production: Table
    pca_columns: list[str]


def read_header(path: Path) -> list[str]:
    """The column names on the first line of ``path``."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            header = next(csv.reader(handle), [])
    except FileNotFoundError:
        raise InvalidDataset(
            f"{path}: no reference data; train a model first (`just train`), which writes it"
        ) from None
    except UnicodeDecodeError as exc:
        raise InvalidDataset(f"{path}: not UTF-8 text ({exc.reason})") from None
    if not header:
        raise InvalidDataset(f"{path}: the file is empty (expected a header line)")
    return [name.strip() for name in header]


def reference_pca_columns(header: list[str], source: Path) -> list[str]:
    """Check the reference header against the contract; return its ``PCA_1..k`` columns."""
    numbers = sorted(int(m.group(1)) for name in header if (m := _PCA_RE.match(name)))
    missing = [name for name in REFERENCE_COLUMNS if name not in header]
    unknown = [n for n in header if n not in REFERENCE_COLUMNS and not _PCA_RE.match(n)]
    problems = []
    if missing:
        problems.append("missing column(s) " + ", ".join(missing))
    if unknown:
        problems.append("unknown column(s) " + ", ".join(unknown))
    if not numbers:
        problems.append("no PCA_1..PCA_k columns")
    elif numbers != list(range(1, len(numbers) + 1)):
        problems.append("PCA columns must run PCA_1..PCA_k without gaps")
    if problems:
        raise SchemaMismatch(
            f"{source}: {'; '.join(problems)} (expected {', '.join(REFERENCE_COLUMNS)} "
            "and PCA_1..PCA_k)"
        )
    return [f"PCA_{i}" for i in numbers]


def load_reference(path: Path) -> tuple[Table, list[str]]:
    """The reference rows (bad ones skipped) and the names of their PCA columns."""
    pca_columns = reference_pca_columns(read_header(path), path)
    loaded = load_dataset(
        path,
        binary_columns=REFERENCE_LABELS,
        float_columns=pca_columns,
        keep_columns=("split",),
        on_bad="skip",
    )
    frame = loaded.frame[[*REFERENCE_COLUMNS, *pca_columns]]
    return Table(frame=frame, source=path, bad_lines=loaded.bad_lines), pca_columns


def load_production(path: Path) -> Table:
    """Every valid feedback row; a missing file gives an empty table."""
    try:
        loaded = FeedbackStore(path).read()
    except SchemaMismatch:
        raise
    except InvalidDataset as exc:
        # The store names missing columns; say which file and contract they belong to.
        raise SchemaMismatch(
            f"{exc} (production data must have {', '.join(PROD_COLUMNS)})"
        ) from None
    if loaded.ignored_columns:
        raise SchemaMismatch(
            f"{path}: unknown column(s) {', '.join(loaded.ignored_columns)} "
            f"(production data must have exactly {', '.join(PROD_COLUMNS)})"
        )
    return Table(frame=loaded.frame, source=path, bad_lines=loaded.bad_lines)


def load_inputs(ref_path: Path, prod_path: Path) -> Inputs:
    """Both inputs, checked against the data contract."""
    reference, pca_columns = load_reference(ref_path)
    production = load_production(prod_path)
    return Inputs(reference=reference, production=production, pca_columns=pca_columns)
