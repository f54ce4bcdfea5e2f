"""Errors of the demo: each one a line for the person at the terminal.

DemoError            base: a part of the region that could not start or answer (names its log)
"""

from __future__ import annotations


class DemoError(Exception):
    """The demo cannot go on; ``message`` says what and where to look."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
