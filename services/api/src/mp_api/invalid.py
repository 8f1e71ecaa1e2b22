"""Every bad field of a JSON body, found once msgspec has refused it.

msgspec stops at the first error, which keeps the happy path fast. When a body is refused, this
module reads it again, leniently (Python's ``json`` accepts ``NaN`` and ``Infinity``, which JSON
does not), and checks each field against the request type on its own. The result is one
msgspec-style message per bad field (``Expected `int` >= 16 - at `$.features.Age```), so
:mod:`mp_api.problems` words them all the same way. Only refused bodies pay for this.
"""

from __future__ import annotations

import functools
import json
import math
from typing import Annotated, Any, Final, get_args, get_origin, get_type_hints

import msgspec

#: A body with more bad fields than this lists the first ones (a batch can hold many).
MAX_LISTED: Final = 50
NON_FINITE: Final = "Expected a finite number"


class NonFinite:
    """``NaN``, ``Infinity`` or ``-Infinity`` where the body has one."""

    def __init__(self, text: str) -> None:
        self.text = text


class Malformed(ValueError):
    """The body is not JSON, even read leniently; ``where`` says where it stops making sense."""

    def __init__(self, where: str) -> None:
        super().__init__(where)
        self.where = where


def read_leniently(body: bytes) -> Any:
    """The body as Python objects, non-finite numbers kept as :class:`NonFinite`."""
    try:  # UTF-8 only, as msgspec reads it (json.loads would guess UTF-16 from the bytes)
        return json.loads(body.decode("utf-8"), parse_constant=NonFinite)
    except UnicodeDecodeError as exc:
        raise Malformed(f"not UTF-8 text at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise Malformed(f"{exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except RecursionError:
        raise Malformed("nested too deeply") from None


def _unwrap(hint: Any) -> Any:
    """``Annotated[list[X], Meta]`` -> ``list[X]``; anything else unchanged."""
    return get_args(hint)[0] if get_origin(hint) is Annotated else hint


def _is_struct(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, msgspec.Struct)


@functools.cache
def _decoder(hint: Any) -> msgspec.json.Decoder[Any]:
    """One decoder per field type, built once (building is what costs, not decoding)."""
    return msgspec.json.Decoder(hint)


def _judge(value: Any, hint: Any) -> None:
    """Raise msgspec's ValidationError if ``value`` is not valid as ``hint``, as JSON would be."""
    _decoder(hint).decode(msgspec.json.encode(value))


@functools.cache
def _struct_fields(kind: type[msgspec.Struct]) -> tuple[tuple[str, bool, Any], ...]:
    """(JSON name, required, type) of each field, resolved once per request type."""
    hints = get_type_hints(kind, include_extras=True)
    return tuple((f.encode_name, f.required, hints[f.name]) for f in msgspec.structs.fields(kind))


def _non_finite(value: Any) -> str | None:
    if isinstance(value, NonFinite):
        return value.text
    if isinstance(value, float) and not math.isfinite(value):
        return "Infinity" if value > 0 else "-Infinity"
    return None


def field_messages(body: bytes, kind: type[Any]) -> list[str]:
    """One msgspec-style message per bad field of ``body`` read as ``kind`` (at most
    :data:`MAX_LISTED`); raises :class:`Malformed` when the body is not JSON at all."""
    messages: list[str] = []
    _check(read_leniently(body), kind, "$", messages)
    # A non-finite number is what made the JSON decoder refuse the body: name it first.
    messages.sort(key=lambda m: not m.startswith(NON_FINITE))
    return messages[:MAX_LISTED]


def _check(value: Any, hint: Any, path: str, out: list[str]) -> None:
    if len(out) >= MAX_LISTED:
        return
    shown = _non_finite(value)
    if shown is not None:
        out.append(f"{NON_FINITE}, got {shown} - at `{path}`")
        return
    core = _unwrap(hint)
    if _is_struct(core) and isinstance(value, dict):
        _check_struct(value, core, path, out)
        return
    if get_origin(core) is list and isinstance(value, list):
        if get_origin(hint) is Annotated:  # the list's own constraints (length) first
            try:
                _judge(value, Annotated[list[Any], *get_args(hint)[1:]])
            except msgspec.ValidationError as exc:
                out.append(_at(str(exc), path))
                return
        (item,) = get_args(core)
        for index, element in enumerate(value):
            _check(element, item, f"{path}[{index}]", out)
        return
    try:
        _judge(value, hint)
    except msgspec.ValidationError as exc:
        out.append(_at(str(exc), path))


def _check_struct(
    value: dict[str, Any], kind: type[msgspec.Struct], path: str, out: list[str]
) -> None:
    fields = _struct_fields(kind)
    if kind.__struct_config__.forbid_unknown_fields:
        known = {name for name, _, _ in fields}
        out.extend(
            f"Object contains unknown field `{key}` - at `{path}`"
            for key in value
            if key not in known
        )
    for name, required, hint in fields:
        if name in value:
            _check(value[name], hint, f"{path}.{name}", out)
        elif required:
            out.append(f"Object missing required field `{name}` - at `{path}`")


def _at(message: str, path: str) -> str:
    """msgspec's message for a value checked alone, placed at ``path`` in the whole body."""
    rule, sep, where = message.rpartition(" - at `")
    if not sep:
        return f"{message} - at `{path}`"
    inner = where.rstrip("`").removeprefix("$")
    return f"{rule} - at `{path}{inner}`"
