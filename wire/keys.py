"""Ed25519 keys and key sets (WIRE.md "COSE rules", "Central-signed objects").

A key is named by its kid: the device id for a device key, ``central-<yyyymmdd>`` for central's.
Keys move between parties as PEM (PKCS#8 for private keys, SubjectPublicKeyInfo for public
ones) so that any tool can read them; the file helpers live in :mod:`wire.keyfiles`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cwt import COSEKey

from wire.errors import KeyFileError, UnknownKeyError
from wire.ids import check_id

ALG_EDDSA = -8
ALG_ED25519 = -19  # RFC 9864's fully specified name for the same algorithm; accepted on verify


def _cose_key(raw_public: bytes, kid: str, raw_private: bytes | None = None) -> Any:
    params: dict[int, Any] = {1: 1, 2: kid.encode(), 3: ALG_EDDSA, -1: 6, -2: raw_public}
    if raw_private is not None:
        params[-4] = raw_private
    return COSEKey.new(params)


@dataclass(frozen=True, slots=True, kw_only=True)
class PublicKey:
    """A verification key and its kid."""

    kid: str
    key: Ed25519PublicKey = field(repr=False)
    raw: bytes = field(repr=False)
    cose: Any = field(repr=False, compare=False)

    @classmethod
    def from_raw(cls, raw: bytes, *, kid: str) -> PublicKey:
        check_id(kid, field="kid")
        try:
            key = Ed25519PublicKey.from_public_bytes(raw)
        except ValueError as exc:
            raise KeyFileError(f"not an Ed25519 public key: {exc}", path=kid) from exc
        return cls(kid=kid, key=key, raw=raw, cose=_cose_key(raw, kid))

    @classmethod
    def from_pem(cls, pem: bytes, *, kid: str, source: str = "<pem>") -> PublicKey:
        """Parse a SubjectPublicKeyInfo PEM holding an Ed25519 key."""
        try:
            loaded = serialization.load_pem_public_key(pem)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise KeyFileError(f"{source}: not a PEM public key", path=source) from exc
        if not isinstance(loaded, Ed25519PublicKey):
            raise KeyFileError(f"{source}: not an Ed25519 key", path=source)
        return cls.from_raw(loaded.public_bytes_raw(), kid=kid)

    def to_pem(self) -> bytes:
        return self.key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SigningKey:
    """A private Ed25519 key and its kid. Never leaves the party that made it."""

    kid: str
    key: Ed25519PrivateKey = field(repr=False)
    public: PublicKey
    cose: Any = field(repr=False, compare=False)

    @classmethod
    def generate(cls, *, kid: str) -> SigningKey:
        return cls._from_private(Ed25519PrivateKey.generate(), kid=kid)

    @classmethod
    def from_seed(cls, seed: bytes, *, kid: str) -> SigningKey:
        """The key whose 32-byte RFC 8032 seed is ``seed`` (test vectors and worked examples)."""
        return cls._from_private(Ed25519PrivateKey.from_private_bytes(seed), kid=kid)

    @classmethod
    def from_pem(cls, pem: bytes, *, kid: str, source: str = "<pem>") -> SigningKey:
        """Parse an unencrypted PKCS#8 PEM holding an Ed25519 private key."""
        try:
            loaded = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise KeyFileError(
                f"{source}: not an unencrypted PEM private key", path=source
            ) from exc
        if not isinstance(loaded, Ed25519PrivateKey):
            raise KeyFileError(f"{source}: not an Ed25519 key", path=source)
        return cls._from_private(loaded, kid=kid)

    @classmethod
    def _from_private(cls, key: Ed25519PrivateKey, *, kid: str) -> SigningKey:
        check_id(kid, field="kid")
        raw_public = key.public_key().public_bytes_raw()
        public = PublicKey.from_raw(raw_public, kid=kid)
        return cls(
            kid=kid,
            key=key,
            public=public,
            cose=_cose_key(raw_public, kid, key.private_bytes_raw()),
        )

    def to_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


class KeySet(Mapping[str, PublicKey]):
    """Public keys by kid, for verification. Two keys under one kid is a misuse."""

    def __init__(self, keys: Iterable[PublicKey] = ()) -> None:
        self._keys: dict[str, PublicKey] = {}
        for key in keys:
            self.add(key)

    def add(self, key: PublicKey) -> None:
        existing = self._keys.get(key.kid)
        if existing is not None and existing.raw != key.raw:
            raise ValueError(f"two different keys for kid {key.kid!r}")
        self._keys[key.kid] = key

    def require(self, kid: str) -> PublicKey:
        """The key for ``kid``, or ``UnknownKeyError``."""
        key = self._keys.get(kid)
        if key is None:
            raise UnknownKeyError(f"no key for kid {kid!r}", kid=kid)
        return key

    def __getitem__(self, kid: str) -> PublicKey:
        return self._keys[kid]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"KeySet({sorted(self._keys)})"
