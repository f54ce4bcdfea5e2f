"""Which line of a TOML text defines a key: so an error can say ``site.toml:14:``. Pure.

``tomllib`` keeps no positions, so this reads the text line by line, as a person would: table
headers (``[site]``, ``[[lane]]``, ``[lane.scale]``) and ``key = value`` lines. Arrays of tables
count their entries from 0, so ``("lane", 1, "scale", "url")`` is the ``url`` of the second
``[[lane]]``'s scale. Best effort: keys inside an inline table or a multi-line value take the
line of the key that holds them, and ``line_of`` falls back to the nearest enclosing key.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

Key = tuple[str | int, ...]

_HEADER: Final = re.compile(r"^\s*(\[\[?)(.+?)\]\]?\s*(?:#.*)?$")
_ASSIGN: Final = re.compile(
    r"""^\s*((?:[A-Za-z0-9_-]+|"[^"\n]*"|'[^'\n]*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"\n]*"|'[^'\n]*'))*)\s*="""
)
_PART: Final = re.compile(r"""\s*([A-Za-z0-9_-]+|"[^"\n]*"|'[^'\n]*')\s*""")


def _parts(dotted: str) -> list[str] | None:
    parts: list[str] = []
    for piece in re.findall(r"""(?:"[^"\n]*"|'[^'\n]*'|[^.])+""", dotted):
        match = _PART.fullmatch(piece)
        if match is None:
            return None
        name = match.group(1)
        parts.append(name[1:-1] if name[0] in "\"'" else name)
    return parts


class KeyLines:
    """Line numbers (1-based) of the keys and table headers of one TOML text."""

    def __init__(self, text: str) -> None:
        self._lines: dict[Key, int] = {}
        arrays: dict[tuple[str, ...], int] = {}  # array-of-tables path → entries so far
        table: Key = ()
        for number, line in enumerate(text.splitlines(), start=1):
            header = _HEADER.match(line)
            if header is not None and not _ASSIGN.match(line):
                names = _parts(header.group(2))
                if names is None:
                    continue
                table = self._resolve(names, arrays, new_entry=header.group(1) == "[[")
                self._lines.setdefault(table, number)
                continue
            assign = _ASSIGN.match(line)
            if assign is not None:
                names = _parts(assign.group(1))
                if names is None:
                    continue
                key: Key = table
                for name in names:
                    key = (*key, name)
                    self._lines.setdefault(key, number)

    def _resolve(
        self, names: list[str], arrays: dict[tuple[str, ...], int], *, new_entry: bool
    ) -> Key:
        key: Key = ()
        plain: tuple[str, ...] = ()
        for position, name in enumerate(names):
            plain = (*plain, name)
            key = (*key, name)
            last = position == len(names) - 1
            if last and new_entry:
                arrays[plain] = arrays.get(plain, -1) + 1
                key = (*key, arrays[plain])
            elif plain in arrays:
                key = (*key, arrays[plain])
        return key

    def line_of(self, key: Sequence[str | int]) -> int | None:
        """The line that defines ``key``, or the nearest enclosing key's; None if none is known."""
        path = tuple(key)
        while path:
            if path in self._lines:
                return self._lines[path]
            path = path[:-1]
        return None
