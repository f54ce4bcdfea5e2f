"""Key files: standard PEM, private keys 0600 and never overwritten; key sets by kid."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from wire.errors import KeyFileError, UnknownKeyError
from wire.keyfiles import read_key_set, read_public_key, read_signing_key, write_key_pair
from wire.keys import KeySet, PublicKey, SigningKey


def test_key_pair_files_and_modes(tmp_path: Path) -> None:
    key = SigningKey.generate(kid="gate-1")
    private_path, public_path = write_key_pair(key, tmp_path)
    assert private_path.name == "gate-1.key"
    assert public_path.name == "gate-1.pub"
    assert stat.S_IMODE(private_path.stat().st_mode) == 0o600
    assert private_path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert public_path.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    assert read_signing_key(private_path).public == key.public
    assert read_public_key(public_path) == key.public


def test_existing_key_files_are_never_overwritten(tmp_path: Path) -> None:
    first = SigningKey.generate(kid="gate-1")
    private_path, _ = write_key_pair(first, tmp_path)
    before = private_path.read_bytes()
    with pytest.raises(KeyFileError, match="never overwritten"):
        write_key_pair(SigningKey.generate(kid="gate-1"), tmp_path)
    assert private_path.read_bytes() == before


def test_a_lone_public_file_also_blocks_a_new_pair(tmp_path: Path) -> None:
    (tmp_path / "gate-1.pub").write_text("not mine")
    with pytest.raises(KeyFileError):
        write_key_pair(SigningKey.generate(kid="gate-1"), tmp_path)
    assert not (tmp_path / "gate-1.key").exists()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")
def test_openssl_reads_our_pem_files(tmp_path: Path) -> None:
    key = SigningKey.generate(kid="gate-1")
    private_path, public_path = write_key_pair(key, tmp_path)
    derived = subprocess.run(
        ["openssl", "pkey", "-in", str(private_path), "-pubout"],
        check=True,
        capture_output=True,
    ).stdout
    assert derived == public_path.read_bytes()
    text = subprocess.run(
        ["openssl", "pkey", "-pubin", "-in", str(public_path), "-text", "-noout"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "ED25519" in text


def test_key_set_from_files_and_directories(tmp_path: Path) -> None:
    keys = [SigningKey.generate(kid=f"gate-{n}") for n in range(3)]
    (tmp_path / "dir").mkdir()
    for key in keys[:2]:
        write_key_pair(key, tmp_path / "dir")
    write_key_pair(keys[2], tmp_path)
    loaded = read_key_set([tmp_path / "dir", tmp_path / "gate-2.pub"])
    assert sorted(loaded) == ["gate-0", "gate-1", "gate-2"]
    assert loaded.require("gate-1") == keys[1].public
    with pytest.raises(UnknownKeyError):
        loaded.require("gate-9")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("gate-1.pub", b"garbage", "not a PEM public key"),
        ("Bad Name.pub", None, "valid kid"),
        ("gate-1.key", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "not"),
    ],
)
def test_bad_key_files_get_one_clear_error(
    tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(
        content if content is not None else SigningKey.generate(kid="x").public.to_pem()
    )
    read = read_signing_key if name.endswith(".key") else lambda p: read_key_set([p])
    with pytest.raises(KeyFileError, match=message):
        read(path)


def test_non_ed25519_keys_are_refused(tmp_path: Path) -> None:
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(KeyFileError, match="not an Ed25519 key"):
        PublicKey.from_pem(pem, kid="gate-1")


def test_empty_directory_and_missing_paths(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match=r"no \*\.pub files"):
        read_key_set([tmp_path])
    with pytest.raises(KeyFileError, match="no such file"):
        read_key_set([tmp_path / "missing.pub"])


def test_two_keys_under_one_kid_is_a_misuse() -> None:
    keys = KeySet([SigningKey.generate(kid="gate-1").public])
    with pytest.raises(ValueError, match="two different keys"):
        keys.add(SigningKey.generate(kid="gate-1").public)
