"""Typed reading of decoded payload maps: each wrong field is a ``SchemaError`` naming it."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from types import MappingProxyType
from typing import Any

from wire.errors import SchemaError

UINT_MAX = 2**64 - 1
INT_MIN = -(2**63)
INT_MAX = 2**63 - 1


_NONE: Mapping[str, Any] = MappingProxyType({})


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


class Fields:
    """Reads fields of one map; remembers which it read so the rest can be kept as extras."""

    __slots__ = ("_data", "_seen", "_where")

    def __init__(self, data: object, *, where: str) -> None:
        if not isinstance(data, dict):
            raise SchemaError(f"{where} must be a map, not {_kind(data)}", field=where)
        self._data: dict[Any, Any] = data
        self._where = where
        self._seen: set[str] = set()

    def _get(self, name: str) -> Any:
        self._seen.add(name)
        try:
            return self._data[name]
        except KeyError:
            raise SchemaError(f"{self._where}.{name} is missing", field=self._path(name)) from None

    def _is_null(self, name: str) -> bool:
        """Whether a field that must be present holds null ("null where not applicable")."""
        return self._get(name) is None

    def _path(self, name: str) -> str:
        return f"{self._where}.{name}"

    def fail(self, name: str, problem: str) -> SchemaError:
        return SchemaError(f"{self._where}.{name} {problem}", field=self._path(name))

    def uint(self, name: str, *, maximum: int = UINT_MAX) -> int:
        value = self._get(name)
        if type(value) is not int or not 0 <= value <= maximum:
            raise self.fail(name, f"must be an integer 0..{maximum}, not {value!r}")
        return value

    def uint_or_none(self, name: str) -> int | None:
        return None if self._is_null(name) else self.uint(name)

    def integer(self, name: str) -> int:
        value = self._get(name)
        if type(value) is not int or not INT_MIN <= value <= INT_MAX:
            raise self.fail(name, f"must be a 64-bit integer, not {_kind(value)}")
        return value

    def integer_or_none(self, name: str) -> int | None:
        return None if self._is_null(name) else self.integer(name)

    def text(self, name: str, *, choices: Collection[str] | None = None, max_len: int = 256) -> str:
        value = self._get(name)
        if type(value) is not str or not 0 < len(value) <= max_len:
            raise self.fail(name, f"must be non-empty text of at most {max_len} characters")
        if choices is not None and value not in choices:
            raise self.fail(name, f"must be one of {', '.join(sorted(choices))}, not {value!r}")
        return value

    def text_or_none(
        self, name: str, *, choices: Collection[str] | None = None, max_len: int = 256
    ) -> str | None:
        if self._is_null(name):
            return None
        return self.text(name, choices=choices, max_len=max_len)

    def bstr(self, name: str, *, size: int) -> bytes:
        value = self._get(name)
        if type(value) is not bytes or len(value) != size:
            raise self.fail(name, f"must be a byte string of {size} bytes, not {_kind(value)}")
        return value

    def bstr_any(self, name: str) -> bytes:
        value = self._get(name)
        if type(value) is not bytes:
            raise self.fail(name, f"must be a byte string, not {_kind(value)}")
        return value

    def bstr_or_none(self, name: str, *, size: int) -> bytes | None:
        if self._is_null(name):
            return None
        return self.bstr(name, size=size)

    def boolean(self, name: str) -> bool:
        value = self._get(name)
        if type(value) is not bool:
            raise self.fail(name, f"must be true or false, not {_kind(value)}")
        return value

    def array(self, name: str) -> list[Any]:
        value = self._get(name)
        if type(value) is not list:
            raise self.fail(name, f"must be an array, not {_kind(value)}")
        return value

    def map(self, name: str) -> dict[Any, Any]:
        value = self._get(name)
        if type(value) is not dict:
            raise self.fail(name, f"must be a map, not {_kind(value)}")
        return value

    def nested(self, name: str) -> Fields:
        return Fields(self._get(name), where=self._path(name))

    def extras(self) -> Mapping[str, Any]:
        """Keys not read: kept verbatim so a newer writer's fields survive (WIRE.md)."""
        if len(self._seen) == len(self._data):  # every name read was present, so none is left
            return _NONE
        rest = {k: v for k, v in self._data.items() if k not in self._seen}
        for key in rest:
            if type(key) is not str:
                raise SchemaError(f"{self._where} has a non-text key {key!r}", field=self._where)
        return rest
