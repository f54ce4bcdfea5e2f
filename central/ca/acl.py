"""The broker's ACL file, rendered from the registry (pure: devices in, text out).

Mosquitto's ``pattern`` rules substitute only the username (``%u``) and the client id (``%c``),
and the topic names the site *before* the device (``cg/v1/{site}/{device}/…``): a pattern
``cg/v1/+/%u/up/#`` would let a device publish under any site. So each active device gets its
own ``user`` block naming its enrolled site; a device that is not enrolled, or revoked, has no
block and may do nothing. The username is the certificate's CN (the device id) under
``use_identity_as_username``, and ``use_username_as_clientid`` makes it the client id too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from central.errors import CertificateError
from wire.errors import WireError
from wire.ids import CENTRAL_PREFIX, check_device_id, check_id, is_valid_id

DEFAULT_CENTRAL_USER = "central-service"

HEADER = """\
# Mosquitto ACL for coalgate, written by `coalgate central ca acl` from the registry.
# Do not edit: regenerate after enrolling or revoking a device, then reload the broker.
# A device may publish only under its own site/device and read only its own down/ topics
# and central's tree head (WIRE.md "MQTT"); central's services may do everything under cg/v1/.
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class AclDevice:
    site: str
    device: str


def _checked(device: AclDevice) -> AclDevice:
    try:
        check_id(device.site, field="site")
        check_device_id(device.device, field="device")
    except WireError as exc:  # an id with a space or newline would rewrite the ACL
        raise CertificateError(exc.message) from exc
    return device


def render_acl(
    devices: Iterable[AclDevice], *, central_users: Iterable[str] = (DEFAULT_CENTRAL_USER,)
) -> str:
    """The ACL text: central's users, then one block per device, sorted (same input, same
    bytes, so a caller can tell whether the broker needs a reload)."""
    lines = [HEADER]
    for user in sorted(set(central_users)):
        # central- is reserved (WIRE.md), so no device certificate can carry this name
        if not (is_valid_id(user) and user.startswith(CENTRAL_PREFIX)):
            raise CertificateError(f"central user {user!r} must be an id starting with central-")
        # Mosquitto checks a $share/<group>/<filter> subscription against <filter>, so this
        # also admits the ingest workers' shared subscription (tests/deploy).
        lines += [f"user {user}", "topic readwrite cg/v1/#", ""]
    for item in sorted({_checked(d) for d in devices}, key=lambda d: (d.site, d.device)):
        prefix = f"cg/v1/{item.site}/{item.device}"
        lines += [
            f"user {item.device}",
            f"topic write {prefix}/up/#",
            f"topic read {prefix}/down/#",
            "topic read cg/v1/central/sth",
            "",
        ]
    return "\n".join(lines)
