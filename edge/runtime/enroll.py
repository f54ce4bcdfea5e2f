"""Enrollment (WIRE.md "Enrollment"): make the device key and register it with central.

``enroll_device`` creates the key file (PKCS#8 PEM, 0600, never over an existing file — a device
key is the device's identity), posts ``{"site", "device", "public_key_pem"}`` to
``POST /api/v1/devices/enroll`` with the enrollment token, and writes what central answers:
the device certificate (``<key>.cert``, base64 COSE as sent) and, when asked, central's key
set (JWKS) for ``[site] central_keys``. If central refuses or cannot be reached, the key file
just made is removed again (it was never enrolled), so the same command can be run again.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from edge.errors import EnrollError
from wire.keyfiles import write_signing_key
from wire.keys import SigningKey

ENROLL_PATH: Final = "/api/v1/devices/enroll"
CERT_SUFFIX: Final = ".cert"


@dataclass(frozen=True, slots=True, kw_only=True)
class Enrolled:
    """Where enrollment left its files."""

    key_path: Path
    certificate_path: Path
    central_keys_path: Path | None
    certificate: bytes


def enroll_device(
    *,
    central: str,
    token: str,
    site: str,
    device: str,
    key_path: Path,
    central_keys_path: Path | None = None,
    timeout_s: float = 15.0,
) -> Enrolled:
    """See the module docstring. ``KeyFileError`` when ``key_path`` exists, ``EnrollError``
    when central refuses or is unreachable, ``OSError`` for the files."""
    if central_keys_path is not None and central_keys_path.exists():
        raise EnrollError(
            f"{central_keys_path} exists; remove it or name another file", status=0, code="exists"
        )
    key = SigningKey.generate(kid=device)
    write_signing_key(key, key_path)
    try:
        answer = _post(central, token, site, device, key, timeout_s=timeout_s)
        certificate = _certificate(answer)
        certificate_path = key_path.with_name(key_path.name + CERT_SUFFIX)
        _write_public(certificate_path, base64.b64encode(certificate) + b"\n")
        if central_keys_path is not None:
            _write_public(central_keys_path, _key_set(answer))
    except BaseException:
        key_path.unlink(missing_ok=True)
        raise
    return Enrolled(
        key_path=key_path,
        certificate_path=certificate_path,
        central_keys_path=central_keys_path,
        certificate=certificate,
    )


def _post(
    central: str, token: str, site: str, device: str, key: SigningKey, *, timeout_s: float
) -> dict[str, Any]:
    url = central.rstrip("/") + ENROLL_PATH
    if not url.startswith(("http://", "https://")):
        raise EnrollError(f"{central!r} is not an http(s) URL", status=0, code="url")
    body = {"site": site, "device": device, "public_key_pem": key.public.to_pem().decode()}
    request = urllib.request.Request(  # noqa: S310  # http(s) only, checked above
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
            status, data = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, data = exc.code, exc.read()
        exc.close()
    except (OSError, ValueError) as exc:
        why = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise EnrollError(f"cannot reach {url}: {why}", status=0, code="unreachable") from exc
    try:
        answer = json.loads(data)
    except ValueError:
        answer = None
    if status != 200:
        code, message = "http", f"HTTP {status}"
        if isinstance(answer, dict):
            code = str(answer.get("code", code))
            message = str(answer.get("message", message))
        raise EnrollError(
            f"central refused the enrollment ({status} {code}): {message}", status=status, code=code
        )
    if not isinstance(answer, dict):
        raise EnrollError("central's answer is not a JSON object", status=200, code="answer")
    return answer


def _certificate(answer: dict[str, Any]) -> bytes:
    text = answer.get("certificate")
    missing = EnrollError("central's answer has no certificate", status=200, code="answer")
    if not isinstance(text, str):
        raise missing
    try:
        return base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        raise missing from None


def _key_set(answer: dict[str, Any]) -> bytes:
    keys = answer.get("central_keys")
    if not isinstance(keys, dict):
        raise EnrollError("central's answer has no key set", status=200, code="answer")
    return json.dumps(keys, indent=2).encode() + b"\n"


def _write_public(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
