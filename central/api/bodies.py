"""Request bodies: the only untrusted input with a shape, checked by Pydantic before a route
runs (a failure is a 422 naming the field). Unknown fields are refused."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from wire.ids import ID_PATTERN

Id = Annotated[str, StringConstraints(pattern=f"^{ID_PATTERN.pattern}$")]
# Free text: no control characters (PostgreSQL text cannot hold NUL; logs should not get
# escape sequences).
Text = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]*$")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EnrollBody(_Body):
    """WIRE.md "Enrollment"."""

    site: Id
    device: Id
    public_key_pem: Annotated[str, Field(min_length=1, max_length=4096)]


class TicketBody(_Body):
    """An enterprise's ticket request; the enterprise is the token's."""

    seller_site: Id
    buyer: Id
    plate: Annotated[Text, Field(min_length=1, max_length=32)]
    coal: Annotated[Text, Field(min_length=1, max_length=64)]
    max_net_kg: Annotated[int, Field(ge=1, le=100_000)]
    dest_site: Id
    valid_hours: Annotated[int, Field(ge=1, le=720)] = 48
    transit_hours: Annotated[int, Field(ge=1, le=336)] = 48


class VerifyBody(_Body):
    """A ticket QR text (``CT1:…``) or a receipt (``CR1:…``)."""

    qr: Annotated[str, Field(min_length=1, max_length=8192)]


class SightingBody(_Body):
    """What a checkpoint officer saw: a ticket or receipt QR text, a plate typed by hand, or
    both (the plate read off the truck then names the sighting); ``seen_at`` is the officer's
    device clock (UTC ms; central's clock if absent)."""

    qr: Annotated[str | None, Field(min_length=1, max_length=8192)] = None
    plate: Annotated[Text | None, Field(min_length=1, max_length=32)] = None
    seen_at: Annotated[int | None, Field(ge=0, le=2**62)] = None


class AckBody(_Body):
    note: Annotated[Text, Field(max_length=1000)] = ""
