"""``GET /metrics``: Prometheus text exposition of central's state (central/metrics.py).

No token: Prometheus scrapes without one by default, and the page holds only counts (no ids,
no records). Keep it off the public network as you would any metrics endpoint (a reverse proxy
that serves ``/api`` only, or a firewall), as docs/central.md "Metrics" says.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from central.api.context import Context
from central.metrics import CONTENT_TYPE, exposition

router = APIRouter()


@router.get(
    "/metrics",
    summary="Prometheus metrics (no token)",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Text exposition 0.0.4"}},
)
def metrics(context: Context) -> Response:
    """Counts read from the database: records stored, ingest lag, quarantine by reason, alarms
    by kind, devices online, tickets by state, the webhook outbox, the latest signed tree head."""
    store = context.store
    text = exposition(
        store.counts(),
        store.device_statuses(),
        store.tree_head(),
        webhook_backlog=store.webhook_backlog(),
    )
    return Response(content=text, media_type=CONTENT_TYPE)
