"""A camera's status URL, polled: the adapter behind ``edge.camera.health``'s ``status`` source.

Most ANPR cameras answer a status or device-info page (Hikvision ``/ISAPI/System/status``,
Dahua ``/cgi-bin/magicBox.cgi?action=getSystemInfo``); a camera that answers 2xx within the
timeout is up. Credentials in the URL (``http://user:secret@10.0.0.21/…``) are sent with basic
or digest auth, whichever the camera asks for, and never shown: ``public_url`` is what logs
and errors name. Proxies from the environment are not used (the cameras are on the gate
house's LAN).
"""

from __future__ import annotations

import asyncio
import http.client
import urllib.error
import urllib.request
from typing import Final
from urllib.parse import urlsplit, urlunsplit

#: Read at most this much of a status page (it is thrown away; reading ends the exchange).
MAX_BODY_BYTES: Final = 64 * 1024


def public_url(url: str) -> str:
    """``url`` without its credentials."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


async def check_status(url: str, *, timeout_s: float) -> str | None:
    """None when the camera answered 2xx within ``timeout_s``; else what went wrong (one line,
    without credentials)."""
    try:
        async with asyncio.timeout(timeout_s + 1):  # urllib's own timeout ends it first
            return await asyncio.to_thread(_get, url, timeout_s)
    except TimeoutError:
        return f"no answer within {timeout_s:g} s"


def _get(url: str, timeout_s: float) -> str | None:
    parts = urlsplit(url)
    target = public_url(url)
    handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
    if parts.username is not None:
        manager = urllib.request.HTTPPasswordMgrWithDefaultRealm()
        manager.add_password(None, target, parts.username, parts.password or "")
        handlers += [
            urllib.request.HTTPBasicAuthHandler(manager),
            urllib.request.HTTPDigestAuthHandler(manager),
        ]
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(target, method="GET")  # noqa: S310  # http(s), checked
    try:
        with opener.open(request, timeout=timeout_s) as response:
            response.read(MAX_BODY_BYTES)
            status = int(response.status)
    except urllib.error.HTTPError as exc:  # any status >= 400 (after auth was tried)
        exc.close()
        return f"HTTP {exc.code}"
    except urllib.error.URLError as exc:
        return f"unreachable: {exc.reason}"
    except TimeoutError:
        return f"no answer within {timeout_s:g} s"
    except (OSError, http.client.HTTPException) as exc:
        return f"unreachable: {exc or type(exc).__name__}"
    return None if 200 <= status < 300 else f"HTTP {status}"
