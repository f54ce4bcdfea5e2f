"""Who is calling: the bearer token, its role and scope, and which roles a route allows.

Every route but ``/healthz`` and ``GET /api/v1/keys`` declares its roles with
``Annotated[Principal, allow(...)]``. No token or a malformed header is 401
``unauthorized``; an unknown or revoked token 401 ``invalid_token``; a role the route does not
allow 403 ``forbidden``. Scoping inside a role (an enterprise's own sites and tickets, a
device's own id) is checked by the route, with the helpers here. A request without an
``Authorization`` header may instead carry the dashboard's session cookie (``SessionAuth``,
docs/dashboard.md): the same token, role and scope, looked up again on every request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from central.api import tokens
from central.api.context import ApiContext, Context
from central.api.errors import forbidden, unauthorized
from central.errors import NotFoundError
from central.store.model import ApiToken, TokenRole

SessionAuth = Callable[[Request], ApiToken | None]
"""What the dashboard installs as ``app.state.session_auth``: the active token behind the
request's session cookie, or ``None`` (no cookie, an ended session, a revoked token). A
request without an ``Authorization`` header is authenticated through it."""

_bearer = HTTPBearer(auto_error=False, description="A token from `coalgate central token create`")


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    token_id: int
    role: TokenRole
    enterprise: str | None
    device: str | None
    checkpoint: str | None = None

    @property
    def actor(self) -> str:
        """How the audit trail names this caller."""
        scope = self.enterprise or self.device or self.checkpoint
        return (
            f"api:{self.role}:{scope}#{self.token_id}"
            if scope
            else f"api:{self.role}#{self.token_id}"
        )


def allow(*roles: TokenRole) -> Any:
    """A dependency that admits a valid token of one of ``roles`` (see the module docstring)."""
    allowed = frozenset(roles)

    def principal(
        context: Context,
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    ) -> Principal:
        session_auth: SessionAuth | None = getattr(request.app.state, "session_auth", None)
        if credentials is None and session_auth is not None:
            token = session_auth(request)
            if token is None:
                raise unauthorized("a bearer token or a dashboard session is required")
        elif credentials is None or credentials.scheme.lower() != "bearer":
            raise unauthorized("a bearer token is required (Authorization: Bearer …)")
        else:
            token = tokens.lookup(context.store, credentials.credentials)
        if token is None:
            raise unauthorized("the token is unknown or revoked", code="invalid_token")
        if token.role not in allowed:
            raise forbidden(f"the {token.role} role may not call this route")
        return Principal(
            token_id=token.id,
            role=token.role,
            enterprise=token.enterprise,
            device=token.device,
            checkpoint=token.checkpoint,
        )

    return Depends(principal)


def own_sites(context: ApiContext, principal: Principal) -> tuple[str, ...] | None:
    """The sites an enterprise token may see (``None``: every site, for other roles)."""
    if principal.role != "enterprise":
        return None
    return tuple(s.id for s in context.store.list_sites(enterprise=principal.enterprise))


def require_site(context: ApiContext, principal: Principal, site: str) -> None:
    """403 unless ``principal`` may see ``site`` (an enterprise only its own)."""
    if principal.role != "enterprise":
        return
    try:
        owner = context.store.get_site(site).enterprise
    except NotFoundError:
        owner = None
    if owner != principal.enterprise:
        raise forbidden(f"site {site!r} is not one of {principal.enterprise}'s sites")
