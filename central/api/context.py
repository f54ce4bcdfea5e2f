"""What every route works with, built by :func:`central.api.app.create_app` and kept on
``app.state``: the store, central's keys, settings, the bundle publisher and the clock."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from central.config import Settings
from central.keyring import Keyring
from central.store.base import Store
from central.ticketing.bundles import BundlePublisher


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiContext:
    store: Store
    keyring: Keyring
    settings: Settings
    publisher: BundlePublisher | None
    clock: Callable[[], int]
    logger: logging.Logger


def _context(request: Request) -> ApiContext:
    context = request.app.state.context
    assert isinstance(context, ApiContext)  # set by create_app, always
    return context


Context = Annotated[ApiContext, Depends(_context)]
