"""Load a CSV of student profiles and validate every row against the schema.

Bad rows are reported by their line number in the file (the header is line 1) and the rule they
break; they are never dropped silently. Parsing goes through the csv module so that a row with
the wrong number of fields (a torn line, a stray comma) is caught at its own line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

import numpy as np

from mp_core.errors import InvalidDataset
from mp_core.schema import FEATURE_NAMES, FEATURE_SPECS, TARGET

if TYPE_CHECKING:
    import pandas as pd

MAX_REPORTED_LINES: Final = 20
BINARY_RULE: Final = "must be 0 or 1"


@dataclass(slots=True)
class LoadedDataset:
    """Valid rows as a typed frame, plus the lines that were rejected and why."""

    frame: pd.DataFrame
    bad_lines: dict[int, str] = field(default_factory=dict)
    ignored_columns: tuple[str, ...] = ()

    @property
    def n_bad(self) -> int:
        return len(self.bad_lines)


def describe_bad_lines(bad_lines: dict[int, str], limit: int = MAX_REPORTED_LINES) -> str:
    """``line 3: Age must be ...; line 9: ...`` for the first ``limit`` lines."""
    shown = [f"line {n}: {reason}" for n, reason in sorted(bad_lines.items())[:limit]]
    more = len(bad_lines) - limit
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


def load_dataset(
    path: Path,
    *,
    binary_columns: Sequence[str] = (TARGET,),
    float_columns: Sequence[str] = (),
    keep_columns: Sequence[str] = (),
    on_bad: Literal["raise", "skip"] = "raise",
) -> LoadedDataset:
    """Read ``path`` and validate the nine features plus ``binary_columns`` (0/1).

    ``float_columns`` are parsed as finite numbers, ``keep_columns`` kept as text. With
    ``on_bad="raise"`` any bad row raises :class:`InvalidDataset` listing the lines; with
    ``"skip"`` bad rows are left out and returned in ``bad_lines``.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidDataset(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise InvalidDataset(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return parse_csv_text(
        text,
        source=str(path),
        binary_columns=binary_columns,
        float_columns=float_columns,
        keep_columns=keep_columns,
        on_bad=on_bad,
    )


def parse_csv_text(
    text: str,
    *,
    source: str = "<csv>",
    binary_columns: Sequence[str] = (TARGET,),
    float_columns: Sequence[str] = (),
    keep_columns: Sequence[str] = (),
    on_bad: Literal["raise", "skip"] = "raise",
) -> LoadedDataset:
    """Validate CSV ``text``; see :func:`load_dataset`."""
    import pandas as pd

    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise InvalidDataset(f"{source}: the file is empty (expected a header line)") from None
    header = [name.strip() for name in header]
    wanted = [*FEATURE_NAMES, *binary_columns, *float_columns, *keep_columns]
    missing = [name for name in wanted if name not in header]
    if missing:
        raise InvalidDataset(
            f"{source}: missing column(s) {', '.join(missing)}; "
            f"expected {', '.join(wanted)} (found {', '.join(header) or 'none'})"
        )
    ignored = tuple(name for name in header if name not in wanted)
    positions = [header.index(name) for name in wanted]

    bad: dict[int, str] = {}
    rows: list[list[str]] = []
    line_numbers: list[int] = []
    for record in reader:
        line = reader.line_num
        if not record:
            continue  # blank line
        if len(record) != len(header):
            bad[line] = f"expected {len(header)} fields, found {len(record)}"
            continue
        rows.append([record[i] for i in positions])
        line_numbers.append(line)

    raw = pd.DataFrame(rows, columns=wanted, dtype=object)
    lines = np.asarray(line_numbers, dtype=np.int64)
    frame, row_errors = _validate_columns(raw, binary_columns, float_columns, keep_columns)
    for index, reason in row_errors.items():
        bad[int(lines[index])] = reason
    keep = np.ones(len(raw), dtype=bool)
    if row_errors:
        keep[list(row_errors)] = False
    if bad and on_bad == "raise":
        raise InvalidDataset(
            f"{source}: {len(bad)} bad row(s): {describe_bad_lines(bad)}", bad_lines=bad
        )
    frame = frame.loc[keep].reset_index(drop=True)
    return LoadedDataset(frame=frame, bad_lines=dict(sorted(bad.items())), ignored_columns=ignored)


def _numbers(text: pd.Series) -> np.ndarray:
    """Each entry as a float, NaN where pandas does not read a number, every value exact.

    pandas' own parser (``to_numeric``, ``read_csv``'s default) rounds about a third of
    17-digit values one unit off in the last place, so a stored probability or feature would
    not read back as written; Python's ``float`` reads each exactly.
    """
    import pandas as pd

    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
    numbers = ~np.isnan(values)
    values[numbers] = [float(entry) for entry in text.to_numpy(dtype=object)[numbers]]
    return values


def _validate_columns(
    raw: pd.DataFrame,
    binary_columns: Iterable[str],
    float_columns: Iterable[str],
    keep_columns: Iterable[str],
) -> tuple[pd.DataFrame, dict[int, str]]:
    """Typed columns plus {row index: first rule broken} for the rows that break one."""
    import pandas as pd

    errors: dict[int, str] = {}

    def flag(mask: np.ndarray, message: str) -> None:
        for index in np.flatnonzero(mask):
            errors.setdefault(int(index), message)

    columns: dict[str, object] = {}
    for spec in FEATURE_SPECS:
        text = raw[spec.name].astype(str).str.strip()
        if spec.kind == "category":
            flag(~text.isin(spec.choices).to_numpy(), f"{spec.name} must be {spec.rule()}")
            columns[spec.name] = text.to_numpy(dtype=object)
            continue
        values = _numbers(text)
        ok = np.isfinite(values)
        assert spec.minimum is not None and spec.maximum is not None
        with np.errstate(invalid="ignore"):
            ok &= (values >= spec.minimum) & (values <= spec.maximum)
            if spec.kind == "int":
                ok &= values == np.round(values)
        flag(~ok, f"{spec.name} must be {spec.rule()}")
        filled = np.where(ok, values, spec.minimum)
        columns[spec.name] = filled.astype(np.int64) if spec.kind == "int" else filled
    for name in binary_columns:
        values = _numbers(raw[name].astype(str).str.strip())
        ok = (values == 0) | (values == 1)
        flag(~ok, f"{name} {BINARY_RULE}")
        columns[name] = np.where(ok, values, 0).astype(np.int64)
    for name in float_columns:
        values = _numbers(raw[name].astype(str).str.strip())
        ok = np.isfinite(values)
        flag(~ok, f"{name} must be a finite number")
        columns[name] = np.where(ok, values, 0.0)
    for name in keep_columns:
        columns[name] = raw[name].astype(str).to_numpy(dtype=object)
    return pd.DataFrame(columns, index=raw.index), errors


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` to ``path`` atomically (readers see the old file or the new one)."""
    from mp_core.atomic import atomic_write_text

    atomic_write_text(path, frame.to_csv(index=False))


def base_dataset_info_path(dataset_path: Path) -> Path:
    """Where the base dataset's provenance (synthetic seed, or the user's file) is kept."""
    return dataset_path.with_suffix(".json")


def save_base_dataset(frame: pd.DataFrame, path: Path, source: dict[str, object]) -> None:
    """Write the base training set and a small JSON note of where it came from."""
    import json

    from mp_core.atomic import atomic_write_text

    write_csv(frame[[*FEATURE_NAMES, TARGET]], path)
    atomic_write_text(base_dataset_info_path(path), json.dumps(source, indent=2) + "\n")


def base_dataset_source(path: Path) -> dict[str, object]:
    """The provenance note of the base dataset ({} when unknown)."""
    import json

    try:
        data = json.loads(base_dataset_info_path(path).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
