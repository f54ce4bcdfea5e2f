"""Identifier rules of WIRE.md "Identifiers and units"."""

from __future__ import annotations

import re

from wire.errors import SchemaError

ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
CENTRAL_PREFIX = "central-"


def is_valid_id(text: object) -> bool:
    """True for a site, device, enterprise or checkpoint id (``[a-z0-9][a-z0-9-]{0,62}``)."""
    return isinstance(text, str) and ID_PATTERN.fullmatch(text) is not None


def check_id(text: object, *, field: str) -> str:
    """Return ``text`` when it is a valid id, else raise ``SchemaError`` naming ``field``."""
    if not isinstance(text, str):
        raise SchemaError(f"{field} must be text, not {type(text).__name__}", field=field)
    if ID_PATTERN.fullmatch(text) is None:
        raise SchemaError(
            f"{field} {text!r} is not an id ([a-z0-9][a-z0-9-]{{0,62}})",
            field=field,
        )
    return text


def check_device_id(text: object, *, field: str = "device") -> str:
    """A device id: a valid id that does not use the ``central-`` prefix reserved for central."""
    device = check_id(text, field=field)
    if device.startswith(CENTRAL_PREFIX):
        raise SchemaError(f"{field} {device!r} uses the reserved prefix 'central-'", field=field)
    return device
