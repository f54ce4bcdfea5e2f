"""Structured logs: one JSON object per line (``json``) or ``key=value`` pairs (``kv``) on stderr.

Every line has ``ts`` (UTC, ISO 8601 with ms), ``level``, ``logger`` and ``msg`` (the %-style
message, formatted); fields passed with ``extra={…}`` follow (``lane``, ``decision``,
``reasons``, ``seq`` …), and ``exc`` carries a traceback when one is logged. Log collectors
(journald, Loki, Vector) take either form without a parser of their own.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Final, Literal, TextIO

LogFormat = Literal["json", "kv"]

#: LogRecord attributes that are not ``extra`` fields.
_STANDARD: Final = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys()
    | {"message", "asctime", "taskName", "color_message"}  # uvicorn's coloured duplicate
)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    moment = datetime.fromtimestamp(record.created, tz=UTC)
    fields: dict[str, Any] = {
        "ts": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "level": record.levelname.lower(),
        "logger": record.name,
        "msg": record.getMessage(),
    }
    fields.update(
        (key, value)
        for key, value in vars(record).items()
        if key not in _STANDARD and not key.startswith("_")
    )
    if record.exc_info:
        fields["exc"] = logging.Formatter().formatException(record.exc_info)
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per line (non-JSON values as their ``str``)."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_fields(record), ensure_ascii=False, default=str)


class KeyValueFormatter(logging.Formatter):
    """``ts=… level=info logger=… msg="…" lane=lane1``: values with spaces, quotes or ``=``
    are quoted JSON strings."""

    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{key}={_kv_value(value)}" for key, value in _fields(record).items())


def _kv_value(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    if not text or any(c in text for c in ' "=\n\t\\'):
        return json.dumps(text, ensure_ascii=False)
    return text


def configure_logging(
    *, log_format: LogFormat = "json", level: int | str = logging.INFO, stream: TextIO | None = None
) -> logging.Handler:
    """Send the root logger's records to ``stream`` (stderr) in ``log_format``; the handler is
    returned so that a caller may remove it again."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else KeyValueFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # the MQTT and HTTP libraries' debug chatter is not the gate's business
    for noisy in ("uvicorn.access", "pymodbus"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handler
