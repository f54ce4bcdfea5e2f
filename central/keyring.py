"""Central's own signing keys, kept as PEM files under ``<data dir>/keys``.

The newest ``central-<yyyymmdd>.key`` signs; every ``central-*.pub`` stays in the published key
set, so objects signed before a rotation still verify. Only central's process reads this
directory; the files are written 0600 and never overwritten (wire.keyfiles).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from wire.central import central_kid, is_central_kid
from wire.keyfiles import read_key_set, read_signing_key, write_key_pair
from wire.keys import KeySet, SigningKey


@dataclass(frozen=True, slots=True, kw_only=True)
class Keyring:
    signing: SigningKey
    published: KeySet


def load_keyring(directory: Path, *, today: dt.date) -> Keyring:
    """The newest central key (made now if there is none) and every central public key."""
    directory.mkdir(parents=True, exist_ok=True)
    private = sorted(
        path for path in directory.glob("central-*.key") if is_central_kid(path.name[:-4])
    )
    if private:
        signing = read_signing_key(private[-1])
    else:
        signing = SigningKey.generate(kid=central_kid(today))
        write_key_pair(signing, directory)
    public = read_key_set(sorted(directory.glob("central-*.pub")))
    return Keyring(signing=signing, published=public)
