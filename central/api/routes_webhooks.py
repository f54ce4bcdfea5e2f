"""Webhook subscriptions (docs/feeds.md "Webhooks"): a platform, regulator or enterprise token
subscribes a URL to a journal feed; each new item is POSTed to it, signed with HMAC-SHA256.
A token sees and deletes its own subscriptions only; an enterprise's get its own items only."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypedDict

from central.api.auth import Principal, allow
from central.api.context import Context
from central.api.errors import invalid
from central.api.routes_records import MAX_INT
from central.feeds.model import Webhook
from central.webhooks.signing import new_secret

router = APIRouter(prefix="/api/v1", tags=["feeds"])

ROLES = ("platform", "regulator", "enterprise")


class WebhookBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    feed: Literal["credit", "trucks"]
    url: Annotated[str, Field(min_length=8, max_length=2000)]
    secret: Annotated[str | None, Field(min_length=16, max_length=200)] = None


class WebhookView(TypedDict):
    id: int
    feed: str
    url: str
    enterprise: str | None
    created_at: int


class WebhookCreated(WebhookView):
    secret: str  # shown once: verify X-Coalgate-Signature with it


def webhook_view(hook: Webhook) -> WebhookView:
    return {
        "id": hook.id,
        "feed": hook.feed,
        "url": hook.url,
        "enterprise": hook.enterprise,
        "created_at": hook.created_at,
    }


@router.post("/webhooks", summary="Subscribe a URL to a feed (signed POSTs of new items)")
def add_webhook(
    context: Context,
    principal: Annotated[Principal, allow(*ROLES)],
    body: WebhookBody,
) -> WebhookCreated:
    """Items added to the feed from now on are delivered (earlier ones: poll the feed). The
    secret is generated unless given, and returned once."""
    if not body.url.startswith(("http://", "https://")):
        raise invalid("url", "must be an http:// or https:// URL")
    hook = context.store.add_webhook(
        token=principal.token_id,
        enterprise=principal.enterprise if principal.role == "enterprise" else None,
        feed=body.feed,
        url=body.url,
        secret=body.secret or new_secret(),
        actor=principal.actor,
        at=context.clock(),
    )
    return {**webhook_view(hook), "secret": hook.secret}


@router.get("/webhooks", summary="This token's subscriptions")
def list_webhooks(
    context: Context, principal: Annotated[Principal, allow(*ROLES)]
) -> list[WebhookView]:
    return [webhook_view(h) for h in context.store.list_webhooks(token=principal.token_id)]


@router.delete("/webhooks/{id}", summary="End one of this token's subscriptions", status_code=204)
def delete_webhook(
    context: Context,
    principal: Annotated[Principal, allow(*ROLES)],
    id: Annotated[int, Path(ge=1, le=MAX_INT)],  # noqa: A002 - the route's stable parameter name
) -> None:
    context.store.delete_webhook(
        id, token=principal.token_id, actor=principal.actor, at=context.clock()
    )
