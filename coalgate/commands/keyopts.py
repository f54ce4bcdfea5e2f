"""The ``--keys`` option every verifying command shares (WIRE.md: PEM, directories, key sets)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def keys_option(*, required: bool) -> Callable[[F], F]:
    return click.option(
        "--keys",
        "key_paths",
        multiple=True,
        required=required,
        type=click.Path(path_type=Path),
        help="PEM public key, directory of <kid>.pub files, JWKS or COSE_KeySet file; repeatable.",
    )


def read_text_argument(text: str) -> str:
    """QR text from the command line, or from stdin when it is ``-``."""
    if text != "-":
        return text
    return sys.stdin.read().strip()
