"""Open Inference Protocol (V2) request bodies decoded straight into the scorer's columns.

An inference request carries the nine features either as nine named input tensors (one value
per row; ``BYTES`` for ``Gender`` and ``Department``) or as one row-major ``BYTES`` tensor of
shape ``[N, 9]`` in the schema's column order. msgspec decodes each tensor's ``data`` as a flat
list already checked against its ``datatype`` (the datatype is the tag of a union, so
``[1, "a"]`` in an ``FP64`` tensor fails while decoding); numpy then turns each list into one
column, and the ranges, whole numbers and categories of :mod:`mp_core.schema` are checked on
whole columns at once. Nested ``data`` (``[[1], [2]]``, which the protocol allows too) takes a
slower path that flattens it first.

Every refusal is a :class:`TensorError` naming the input, the rule and the JSON path.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce
from itertools import repeat
from typing import Annotated, Any, Final

import msgspec
import numpy as np

from mp_core.schema import CATEGORICAL_FEATURES, FEATURE_NAMES, NUMERIC_FEATURES, SPECS_BY_NAME
from mp_core.scoring.fastpath import CATEGORY_LEVELS

#: The protocol's tensor datatypes and the numpy type each one's values are read as.
NUMPY_TYPES: Final[dict[str, Any]] = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
    "BYTES": None,
}
_ELEMENT: Final[dict[str, Any]] = {
    "BOOL": bool,
    "BYTES": str,
    **{name: int for name in NUMPY_TYPES if "INT" in name},
    **{name: float for name in NUMPY_TYPES if name.startswith("FP")},
}
ROW_MAJOR_WIDTH: Final = len(FEATURE_NAMES)
_CODES: Final = {
    name: {level: i for i, level in enumerate(CATEGORY_LEVELS[name])}
    for name in CATEGORICAL_FEATURES
}
_NUMERIC_COLUMN: Final = {name: i for i, name in enumerate(NUMERIC_FEATURES)}
Parameters = dict[str, Any]
Dimension = Annotated[int, msgspec.Meta(ge=0)]


class TensorError(ValueError):
    """A tensor the model cannot take: which input, which rule, where."""

    def __init__(self, detail: str, *, field: str, rule: str, path: str) -> None:
        super().__init__(detail)
        self.field = field
        self.rule = rule
        self.path = path


class RequestedOutput(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    name: str
    parameters: Parameters | None = None


def _tensor_type(datatype: str) -> type[msgspec.Struct]:
    return msgspec.defstruct(
        f"Input{datatype}",
        [
            ("name", str),
            ("shape", list[Dimension]),
            ("data", list[_ELEMENT[datatype]]),  # type: ignore[misc]
            ("parameters", Parameters | None, None),
        ],
        tag_field="datatype",
        tag=datatype,
        forbid_unknown_fields=True,
        frozen=True,
        gc=False,
    )


_TENSOR_TYPES: Final = tuple(_tensor_type(datatype) for datatype in NUMPY_TYPES)


class LooseInput(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """An input whose ``data`` may be nested; flattened and checked by :func:`_flatten`."""

    name: str
    shape: list[Dimension]
    datatype: str
    data: list[Any]
    parameters: Parameters | None = None


def _request_type(name: str, tensor: Any) -> Any:
    return msgspec.defstruct(
        name,
        [
            ("inputs", Annotated[list[tensor], msgspec.Meta(min_length=1)]),
            ("id", str | None, None),
            ("parameters", Parameters | None, None),
            ("outputs", list[RequestedOutput] | None, None),
        ],
        forbid_unknown_fields=True,
        frozen=True,
        gc=False,
    )


_FLAT_REQUEST: Final = _request_type("InferenceRequest", reduce(operator.or_, _TENSOR_TYPES))
_LOOSE_REQUEST: Final = _request_type("InferenceRequestNested", LooseInput)
_decode_flat = msgspec.json.Decoder(_FLAT_REQUEST).decode
_decode_loose = msgspec.json.Decoder(_LOOSE_REQUEST).decode


@dataclass(frozen=True, slots=True)
class Columns:
    """A decoded request: the scorer's inputs and what the answer must echo or hold."""

    numeric: np.ndarray  # (n, 7), NUMERIC_FEATURES order
    codes: tuple[np.ndarray, np.ndarray]  # Gender, Department category codes
    request_id: str | None
    outputs: tuple[str, ...] | None  # requested output names, None = all

    @property
    def rows(self) -> int:
        return int(self.numeric.shape[0])


def decode_request(body: bytes) -> Columns:
    """Decode and check an inference request; raises msgspec errors or :class:`TensorError`."""
    try:
        request = _decode_flat(body)
        inputs: Sequence[Any] = request.inputs
        datatypes = [type(tensor).__struct_config__.tag for tensor in inputs]
    except msgspec.ValidationError as flat_error:
        # Nested data, or a real error: the loose decoder tells which (and words it).
        try:
            request = _decode_loose(body)
        except msgspec.ValidationError:
            raise flat_error from None
        datatypes = [_known_datatype(t.datatype, i) for i, t in enumerate(request.inputs)]
        inputs = [_flatten(t, i, datatypes[i]) for i, t in enumerate(request.inputs)]
    outputs = None
    if request.outputs is not None:
        outputs = tuple(o.name for o in request.outputs)
    if len(inputs) == 1 and len(inputs[0].shape) == 2 and inputs[0].shape[1] == ROW_MAJOR_WIDTH:
        numeric, codes = _row_major(inputs[0], datatypes[0])
    else:
        numeric, codes = _named(inputs, datatypes)
    return Columns(numeric, codes, request.id, outputs)


def _known_datatype(datatype: str, index: int) -> str:
    if datatype not in NUMPY_TYPES:
        raise TensorError(
            f"inputs[{index}].datatype: unknown datatype {datatype!r}",
            field="datatype",
            rule="one of " + ", ".join(NUMPY_TYPES),
            path=f"$.inputs[{index}].datatype",
        )
    return datatype


def _flatten(tensor: LooseInput, index: int, datatype: str) -> Any:
    """A nested tensor as the flat tensor type of its datatype (its elements checked)."""
    flat: list[Any] = []
    stack: list[Any] = [iter(tensor.data)]
    while stack:
        for value in stack[-1]:
            if isinstance(value, list):
                stack.append(iter(value))
                break
            flat.append(value)
        else:
            stack.pop()
    cls = _TENSOR_TYPES[list(NUMPY_TYPES).index(datatype)]
    try:
        return msgspec.convert(
            {"name": tensor.name, "shape": tensor.shape, "datatype": datatype, "data": flat},
            cls,
        )
    except msgspec.ValidationError as exc:
        rule = str(exc).split(" - at ", 1)[0]
        raise TensorError(
            f"inputs[{index}] ({tensor.name}): {rule} (a {datatype} tensor)",
            field=tensor.name,
            rule=f"{datatype} elements are {_ELEMENT[datatype].__name__}",
            path=f"$.inputs[{index}].data",
        ) from None


def _rows_of(tensor: Any, index: int, width: int) -> int:
    """The row count of a tensor whose shape is [N] / [N, 1] (width 1) or [N, width]."""
    shape = list(tensor.shape)
    if width == 1:
        fits, wanted = len(shape) == 1 or (len(shape) == 2 and shape[1] == 1), "[N] or [N, 1]"
    else:
        fits, wanted = len(shape) == 2 and shape[1] == width, f"[N, {width}]"
    if not fits:
        raise TensorError(
            f"inputs[{index}] ({tensor.name}): shape {shape} is not {wanted}",
            field=tensor.name,
            rule=f"shape must be {wanted}",
            path=f"$.inputs[{index}].shape",
        )
    rows = shape[0]
    if rows * width != len(tensor.data):
        raise TensorError(
            f"inputs[{index}] ({tensor.name}): shape {shape} holds {rows * width} values, "
            f"data has {len(tensor.data)}",
            field=tensor.name,
            rule="data must hold as many values as the shape says",
            path=f"$.inputs[{index}].data",
        )
    if rows == 0:
        raise TensorError(
            f"inputs[{index}] ({tensor.name}): no rows",
            field=tensor.name,
            rule="send at least one row",
            path=f"$.inputs[{index}].shape",
        )
    return int(rows)


def _named(inputs: Sequence[Any], datatypes: list[str]) -> tuple[np.ndarray, Any]:
    by_name: dict[str, int] = {}
    for index, tensor in enumerate(inputs):
        if tensor.name not in SPECS_BY_NAME:
            raise TensorError(
                f"inputs[{index}]: unknown input {tensor.name!r}; the inputs are "
                + ", ".join(FEATURE_NAMES)
                + f" (or one BYTES tensor of shape [N, {ROW_MAJOR_WIDTH}])",
                field=tensor.name,
                rule="unknown input: the inputs are " + ", ".join(FEATURE_NAMES),
                path=f"$.inputs[{index}].name",
            )
        if tensor.name in by_name:
            raise TensorError(
                f"inputs[{index}]: input {tensor.name!r} is sent twice",
                field=tensor.name,
                rule="each input once",
                path=f"$.inputs[{index}].name",
            )
        by_name[tensor.name] = index
    missing = [name for name in FEATURE_NAMES if name not in by_name]
    if missing:
        raise TensorError(
            f"inputs: missing {', '.join(missing)}",
            field=missing[0],
            rule="required input is missing",
            path="$.inputs",
        )
    rows = -1
    numeric = np.empty((0, 0))
    codes: list[np.ndarray] = []
    for name in FEATURE_NAMES:
        index = by_name[name]
        tensor, datatype = inputs[index], datatypes[index]
        n = _rows_of(tensor, index, 1)
        if rows < 0:
            rows = n
            numeric = np.empty((rows, len(NUMERIC_FEATURES)), dtype=np.float64)
        elif n != rows:
            raise TensorError(
                f"inputs[{index}] ({name}): {n} rows, the other inputs have {rows}",
                field=name,
                rule="every input has the same number of rows",
                path=f"$.inputs[{index}].shape",
            )
        where = f"$.inputs[{index}].data"
        if name in _CODES:
            if datatype != "BYTES":
                raise _wrong_datatype(name, index, datatype, "BYTES")
            codes.append(_category(name, tensor.data, where))
        else:
            if datatype == "BYTES" or datatype == "BOOL":
                raise _wrong_datatype(name, index, datatype, "a number type (INT*, UINT*, FP*)")
            numeric[:, _NUMERIC_COLUMN[name]] = _number_column(name, tensor.data, datatype, where)
    return numeric, (codes[0], codes[1])


def _row_major(tensor: Any, datatype: str) -> tuple[np.ndarray, Any]:
    rows = _rows_of(tensor, 0, ROW_MAJOR_WIDTH)
    if datatype != "BYTES":
        raise _wrong_datatype(tensor.name, 0, datatype, "BYTES (categories are text)")
    values = tensor.data
    numeric = np.empty((rows, len(NUMERIC_FEATURES)), dtype=np.float64)
    codes: list[np.ndarray] = []
    for column, name in enumerate(FEATURE_NAMES):
        cells = values[column::ROW_MAJOR_WIDTH]
        where = f"$.inputs[0].data[{column}::{ROW_MAJOR_WIDTH}]"
        if name in _CODES:
            codes.append(_category(name, cells, where))
        else:
            numeric[:, _NUMERIC_COLUMN[name]] = _number_column(name, cells, "BYTES", where)
    return numeric, (codes[0], codes[1])


def _wrong_datatype(name: str, index: int, datatype: str, wanted: str) -> TensorError:
    return TensorError(
        f"inputs[{index}] ({name}): datatype {datatype} is not allowed; send {wanted}",
        field=name,
        rule=f"datatype must be {wanted}",
        path=f"$.inputs[{index}].datatype",
    )


def _category(name: str, values: list[str], where: str) -> np.ndarray:
    index = _CODES[name]
    codes = np.fromiter(map(index.get, values, repeat(-1)), np.int64, len(values))
    bad = np.flatnonzero(codes < 0)
    if bad.size:
        row = int(bad[0])
        rule = SPECS_BY_NAME[name].rule()
        raise TensorError(
            f"{name} row {row}: {values[row]!r} is not allowed (must be {rule})",
            field=name,
            rule=f"must be {rule}",
            path=f"{where}[{row}]",
        )
    return codes


def _number_column(name: str, values: list[Any], datatype: str, where: str) -> np.ndarray:
    spec = SPECS_BY_NAME[name]
    try:
        if datatype == "BYTES":
            column = np.array(values, dtype=np.float64)
        else:
            column = np.array(values, dtype=NUMPY_TYPES[datatype]).astype(np.float64, copy=False)
    except (OverflowError, ValueError):
        row = _first_unreadable(values, datatype)
        kind = "a number written as text" if datatype == "BYTES" else f"within {datatype}"
        raise TensorError(
            f"{name} row {row}: {values[row]!r} is not {kind}",
            field=name,
            rule=f"must be {kind}",
            path=f"{where}[{row}]",
        ) from None
    ok = (column >= spec.minimum) & (column <= spec.maximum)  # NaN compares false
    if spec.kind == "int":
        ok &= column == np.floor(column)
    if not ok.all():
        row = int(np.flatnonzero(~ok)[0])
        raise TensorError(
            f"{name} row {row}: {values[row]!r} breaks the rule (must be {spec.rule()})",
            field=name,
            rule=f"must be {spec.rule()}",
            path=f"{where}[{row}]",
        )
    return column


def _first_unreadable(values: list[Any], datatype: str) -> int:
    numpy_type = np.float64 if datatype == "BYTES" else NUMPY_TYPES[datatype]
    for row, value in enumerate(values):
        try:
            np.array([value], dtype=numpy_type)
        except (OverflowError, ValueError):
            return row
    return 0
