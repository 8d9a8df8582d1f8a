"""The rules the facts are read by: `parse` accepts decoded JSON only as the declared dataclasses, enums, lists,
dicts and scalars, within their ranges and sizes (FactError says where it does not); `dumps` writes what it reads.
Standard library only: this module runs inside the measuring sandbox too."""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from enum import Enum

TEXT_LIMIT = 4000  # characters of one string
ITEMS_LIMIT = 10_000  # items of one list or dict
INT_LIMIT = 1 << 53
ENCODED_LIMIT = 2_000_000  # characters of one picture's base64

Encoded = typing.NewType("Encoded", str)  # base64 text, longer than other texts


class FactError(ValueError):
    """Measured facts that are not of the declared types and ranges."""


class Status(str, Enum):
    OK = "ok"
    PENDING = "pending"  # cannot be measured here (e.g. needs a GPU): neither earned nor lost
    PROBLEM = "problem"  # could not be measured; `reason` says why, in words for the student


def require(condition: bool, what: str) -> None:
    """FactError saying `what` unless `condition`."""
    if not condition:
        raise FactError(what)


T = typing.TypeVar("T")


def parse(kind: type[T], raw: object, where: str = "facts") -> T:
    """`raw` (decoded JSON) as `kind`, or FactError saying where it is not."""
    return _value(kind, raw, where)


def _value(kind: object, raw: object, where: str):
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if raw is None and type(None) in args:
            return None
        return _value(next(arg for arg in args if arg is not type(None)), raw, where)
    if dataclasses.is_dataclass(kind):
        require(isinstance(raw, dict), f"{where}: not an object")
        hints = typing.get_type_hints(kind)
        fields = {f.name: f for f in dataclasses.fields(kind)}
        require(set(raw) <= set(fields), f"{where}: unknown fields {sorted(set(raw) - set(fields))[:5]}")
        values = {name: _value(hints[name], raw[name], f"{where}.{name}") for name in fields if name in raw}
        try:
            return kind(**values)
        except TypeError as error:
            raise FactError(f"{where}: {error}") from error
    if isinstance(kind, type) and issubclass(kind, Enum):
        try:
            return kind(raw)
        except ValueError as error:
            raise FactError(f"{where}: {error}") from error
    if origin is list:
        require(isinstance(raw, list) and len(raw) <= ITEMS_LIMIT, f"{where}: not a list within {ITEMS_LIMIT} items")
        return [_value(args[0], item, f"{where}[{i}]") for i, item in enumerate(raw)]
    if origin is dict:
        require(isinstance(raw, dict) and len(raw) <= ITEMS_LIMIT, f"{where}: not an object within {ITEMS_LIMIT} items")
        return {_value(str, key, where): _value(args[1], item, f"{where}[{key!r}]") for key, item in raw.items()}
    if kind is bool:
        require(isinstance(raw, bool), f"{where}: not true or false")
        return raw
    if kind is int:
        require(
            isinstance(raw, int) and not isinstance(raw, bool) and abs(raw) <= INT_LIMIT, f"{where}: not an integer"
        )
        return raw
    if kind is float:
        require(isinstance(raw, int | float) and not isinstance(raw, bool), f"{where}: not a number")
        try:
            value = float(raw)
        except OverflowError as error:
            raise FactError(f"{where}: not a finite number") from error
        require(math.isfinite(value), f"{where}: not a finite number")
        return value
    if kind is Encoded:
        require(
            isinstance(raw, str) and len(raw) <= ENCODED_LIMIT, f"{where}: not base64 within {ENCODED_LIMIT} characters"
        )
        return raw
    if kind is str:
        require(isinstance(raw, str) and len(raw) <= TEXT_LIMIT, f"{where}: not a text within {TEXT_LIMIT} characters")
        return raw
    raise FactError(f"{where}: the grader has no rule for {kind}")


def dumps(facts: object) -> str:
    """Facts as JSON (what `parse` reads back)."""
    return json.dumps(dataclasses.asdict(facts), default=lambda value: value.value, separators=(",", ":"))
