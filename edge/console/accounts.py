"""Operator accounts of the console: a JSON file under the edge's data dir, mode 0600.

``<data_dir>/operators.json`` holds each operator's id, name, when the account was made,
whether it is disabled, and the password's scrypt hash (``hashlib.scrypt``, a random 16-byte
salt per password; never the password). The file is replaced whole on every change (a
temporary file, fsync, rename), so a crash leaves the old or the new file, never half of one.
It is read on every login, so ``coalgate edge operator …`` takes effect on a running edge.

The operator id is what goes into the lane's inputs and from there into the signed records
(``operator`` of a weighing, of an ``override`` or ``alarm_ack`` event).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from edge.errors import AccountError

ACCOUNTS_FILE: Final = "operators.json"
OPERATOR_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
MIN_PASSWORD: Final = 8
MAX_PASSWORD: Final = 256
MAX_NAME: Final = 64
#: scrypt cost: 16 MiB and about a tenth of a second per login on a gate PC.
SCRYPT_N: Final = 2**14
SCRYPT_R: Final = 8
SCRYPT_P: Final = 1
_SALT_BYTES: Final = 16
_HASH_BYTES: Final = 32
_VERSION: Final = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Operator:
    id: str
    name: str
    created_ms: int
    disabled: bool = False


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$salt$hash`` (salt and hash in unpadded URL-safe Base64)."""
    salt = secrets.token_bytes(_SALT_BYTES) if salt is None else salt
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (``hash_password``'s form), in constant time."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(digest)
        actual = _scrypt(password, _unb64(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=64 * 2**20, dklen=_HASH_BYTES
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise ValueError("not Base64") from exc


#: Checked against when the operator is unknown, so that a wrong id takes as long as a wrong
#: password (the id cannot be probed by timing).
_DUMMY: Final = hash_password("not a password", salt=bytes(_SALT_BYTES))


def check_operator_id(operator: str) -> str:
    if not OPERATOR_ID.fullmatch(operator):
        raise AccountError(
            f"operator id {operator!r}: 1-32 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
            code="invalid",
        )
    return operator


def check_new_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise AccountError(
            f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters", code="invalid"
        )
    return password


class Accounts:
    """The accounts file at ``path``; see the module docstring. Thread-safe."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    @classmethod
    def in_dir(cls, data_dir: Path) -> Accounts:
        return cls(data_dir / ACCOUNTS_FILE)

    # --- reading -------------------------------------------------------------------------

    def list(self) -> list[Operator]:
        """Every account, by id."""
        with self._lock:
            entries = self._read()
        return [_operator(key, entry) for key, entry in sorted(entries.items())]

    def verify(self, operator: str, password: str) -> Operator | None:
        """The enabled account ``operator`` whose password is ``password``, else None."""
        if len(password) > MAX_PASSWORD or len(operator) > MAX_NAME:
            return None
        with self._lock:
            entry = self._read().get(operator)
        if entry is None:
            check_password(password, _DUMMY)
            return None
        if not check_password(password, str(entry.get("hash", ""))):
            return None
        found = _operator(operator, entry)
        return None if found.disabled else found

    # --- changing ------------------------------------------------------------------------

    def add(self, operator: str, password: str, *, name: str, now_ms: int) -> Operator:
        check_operator_id(operator)
        check_new_password(password)
        if len(name) > MAX_NAME:
            raise AccountError(f"a name has at most {MAX_NAME} characters", code="invalid")
        with self._lock:
            entries = self._read()
            if operator in entries:
                raise AccountError(f"operator {operator!r} exists", code="exists")
            entries[operator] = {
                "name": name or operator,
                "created_ms": now_ms,
                "disabled": False,
                "hash": hash_password(password),
            }
            self._write(entries)
            return _operator(operator, entries[operator])

    def set_password(self, operator: str, password: str) -> None:
        check_new_password(password)
        self._change(operator, hash=hash_password(password))

    def set_disabled(self, operator: str, disabled: bool) -> None:
        self._change(operator, disabled=disabled)

    def _change(self, operator: str, **fields: Any) -> None:
        with self._lock:
            entries = self._read()
            if operator not in entries:
                raise AccountError(f"no operator {operator!r}", code="unknown")
            entries[operator] = {**entries[operator], **fields}
            self._write(entries)

    # --- the file ------------------------------------------------------------------------

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise AccountError(f"cannot read {self.path}: {exc.strerror}", code="file") from exc
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        operators = data.get("operators") if isinstance(data, dict) else None
        if not isinstance(data, dict) or data.get("version") != _VERSION:
            operators = None
        if not isinstance(operators, dict):
            raise AccountError(f"{self.path} is not an accounts file", code="file")
        return {str(k): dict(v) for k, v in operators.items() if isinstance(v, dict)}

    def _write(self, entries: dict[str, dict[str, Any]]) -> None:
        data = json.dumps(
            {"version": _VERSION, "operators": entries},
            ensure_ascii=False,
            indent=2,
            sort_keys=True,
        ).encode("utf-8")
        temporary = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as file:
                os.fchmod(fd, 0o600)  # whatever the umask
                file.write(data)
                file.flush()
                os.fsync(fd)
            temporary.replace(self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise AccountError(f"cannot write {self.path}: {exc.strerror}", code="file") from exc


def _operator(key: str, entry: dict[str, Any]) -> Operator:
    return Operator(
        id=key,
        name=str(entry.get("name") or key),
        created_ms=int(entry.get("created_ms", 0)),
        disabled=bool(entry.get("disabled", False)),
    )
