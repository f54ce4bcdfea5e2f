"""Key files: the one place in ``wire`` that touches the disk.

Private keys are written PKCS#8 PEM with mode 0600 from the moment the file exists (created
with ``O_EXCL``, never overwritten: a device key is its identity). Public keys are written as
SubjectPublicKeyInfo PEM, ``<kid>.pub``, so a directory of them is a key set.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from wire.errors import KeyFileError, WireError
from wire.ids import is_valid_id
from wire.keys import KeySet, PublicKey, SigningKey
from wire.keysets import parse_key_set_file

PRIVATE_SUFFIX = ".key"
PUBLIC_SUFFIX = ".pub"


def _write_new(path: Path, data: bytes, mode: int) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError as exc:
        raise KeyFileError(
            f"{path} exists; key files are never overwritten", path=str(path)
        ) from exc
    try:
        os.fchmod(fd, mode)  # the umask may have narrowed or, for group bits, not mattered
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def write_key_pair(key: SigningKey, directory: Path) -> tuple[Path, Path]:
    """Write ``<kid>.key`` (0600) and ``<kid>.pub`` into ``directory``; refuse to overwrite."""
    private_path = directory / f"{key.kid}{PRIVATE_SUFFIX}"
    public_path = directory / f"{key.kid}{PUBLIC_SUFFIX}"
    for path in (private_path, public_path):
        if path.exists():
            raise KeyFileError(f"{path} exists; key files are never overwritten", path=str(path))
    _write_new(private_path, key.to_pem(), 0o600)
    _write_new(public_path, key.public.to_pem(), 0o644)
    return private_path, public_path


def write_signing_key(key: SigningKey, path: Path) -> Path:
    """Write one private key (PKCS#8 PEM, 0600) to ``path``; refuse to overwrite."""
    _write_new(path, key.to_pem(), 0o600)
    return path


def _kid_from_name(path: Path, suffix: str) -> str:
    kid = path.name.removesuffix(suffix) if path.name.endswith(suffix) else path.stem
    if not is_valid_id(kid):
        raise KeyFileError(f"{path}: the file name does not start with a valid kid", path=str(path))
    return kid


def read_signing_key(path: Path, *, kid: str | None = None) -> SigningKey:
    """Read a PKCS#8 PEM private key; the kid defaults to the file name before ``.key``."""
    name = kid if kid is not None else _kid_from_name(path, PRIVATE_SUFFIX)
    return SigningKey.from_pem(path.read_bytes(), kid=name, source=str(path))


def read_public_key(path: Path, *, kid: str | None = None) -> PublicKey:
    """Read a SubjectPublicKeyInfo PEM; the kid defaults to the file name before ``.pub``."""
    name = kid if kid is not None else _kid_from_name(path, PUBLIC_SUFFIX)
    return PublicKey.from_pem(path.read_bytes(), kid=name, source=str(path))


def _key_set_file(data: bytes, path: Path) -> KeySet:
    try:
        return parse_key_set_file(data, source=str(path))
    except WireError as exc:
        raise KeyFileError(
            f"{path}: not a PEM public key, JWKS or COSE_KeySet ({exc.message})", path=str(path)
        ) from exc


def _add(keys: KeySet, key: PublicKey, path: Path) -> None:
    try:
        keys.add(key)
    except ValueError as exc:
        raise KeyFileError(f"{path}: {exc}", path=str(path)) from exc


def read_key_set(paths: Iterable[Path]) -> KeySet:
    """A key set from PEM public keys, directories of ``<kid>.pub`` files, JWKS files and
    COSE_KeySet files (WIRE.md: every ``--keys`` option takes all four)."""
    keys = KeySet()
    for path in paths:
        if path.is_dir():
            found = sorted(path.glob(f"*{PUBLIC_SUFFIX}"))
            if not found:
                raise KeyFileError(
                    f"{path}: no *{PUBLIC_SUFFIX} files in this directory", path=str(path)
                )
            for item in found:
                _add(keys, read_public_key(item), item)
        elif path.exists():
            data = path.read_bytes()
            if data.lstrip().startswith(b"-----BEGIN"):
                _add(keys, read_public_key(path), path)
            else:
                for key in _key_set_file(data, path).values():
                    _add(keys, key, path)
        else:
            raise KeyFileError(f"{path}: no such file or directory", path=str(path))
    return keys
