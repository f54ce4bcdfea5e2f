"""A small region made with the real commands: one enterprise, sites ``site-a`` (devices
``d-a1``, ``d-a2``) and ``site-b`` (``d-b1``), a device CA with a certificate for each device,
the broker's server certificate, the ACL and central's broker password — laid out as
docs/operations.md says (``etc`` stands for /etc/mosquitto/coalgate/)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from coalgate.commands.central import central
from coalgate.commands.key import key
from tests.deploy.broker import Tls

CENTRAL_USER = "central-service"
CENTRAL_PASSWORD = "test-only-central-password"  # a private broker's, for tests
DEVICES = {"d-a1": "site-a", "d-a2": "site-a", "d-b1": "site-b"}


@dataclass(frozen=True)
class Pki:
    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def etc(self) -> Path:
        return self.root / "etc"

    def env(self, **extra: str) -> dict[str, str]:
        return {"COALGATE_DATA_DIR": str(self.data), "COALGATE_CA_DIR": "", **extra}

    def tls(self, device: str) -> Tls:
        return Tls(
            ca=self.etc / "ca.crt",
            cert=self.root / "certs" / f"{device}.crt",
            key=self.root / "keys" / f"{device}.key",
        )

    def central(self, *args: str, **env: str) -> str:
        """``coalgate central …`` in this process (fast); fails the test on a non-zero exit."""
        result = CliRunner().invoke(
            central, list(args), env=self.env(**env), catch_exceptions=False
        )
        assert result.exit_code == 0, result.output
        return result.output

    def publish_broker_files(self) -> None:
        """What the operator copies to /etc/mosquitto/coalgate/ after a change."""
        shutil.copyfile(self.data / "ca" / "crl.pem", self.etc / "crl.pem")
        self.central("ca", "acl", "--out", str(self.etc / "acl"))

    def copy(self, root: Path) -> Pki:
        shutil.copytree(self.root, root)
        return Pki(root)


def make_pki(root: Path) -> Pki:
    pki = Pki(root)
    for folder in (pki.etc, root / "keys", root / "certs"):
        folder.mkdir(parents=True)
    pki.central(
        "enterprise", "add", "--id", "e1", "--name", "E1", "--credit-code", "91610800MA6Y000A0A",
        "--land-mu", "10", "--capacity-t", "1000",
    )  # fmt: skip
    for site in sorted(set(DEVICES.values())):
        pki.central(
            "site", "add", "--id", site, "--enterprise", "e1", "--kind", "coal_mine",
            "--name", site,
        )  # fmt: skip
    pki.central("ca", "init")
    for device, site in DEVICES.items():
        result = CliRunner().invoke(key, ["new", "--device", device, "--out", str(root / "keys")])
        assert result.exit_code == 0, result.output
        pubkey = str(root / "keys" / f"{device}.pub")
        pki.central("enroll", "--site", site, "--device", device, "--pubkey", pubkey)
        pki.central(
            "ca", "issue", "--device", device, "--key", str(root / "keys" / f"{device}.key"),
            "--out", str(root / "certs" / f"{device}.crt"),
        )  # fmt: skip
    pki.central(
        "ca", "server-cert", "--host", "127.0.0.1", "--host", "localhost",
        "--out", str(pki.etc / "server.crt"), "--key-out", str(pki.etc / "server.key"),
    )  # fmt: skip
    shutil.copyfile(pki.data / "ca" / "ca.crt", pki.etc / "ca.crt")
    pki.publish_broker_files()
    subprocess.run(
        ["mosquitto_passwd", "-c", "-b", str(pki.etc / "passwd"), CENTRAL_USER, CENTRAL_PASSWORD],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    # A second CA that certifies d-a1's real key: the broker must not trust it.
    rogue = str(root / "rogue-ca")
    pki.central("ca", "init", COALGATE_CA_DIR=rogue)
    pki.central(
        "ca", "issue", "--device", "d-a1", "--key", str(root / "keys" / "d-a1.key"),
        "--out", str(root / "certs" / "rogue-d-a1.crt"), COALGATE_CA_DIR=rogue,
    )  # fmt: skip
    return pki
