"""docs/operations.md's device CA workflow, run as written with private paths."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from cryptography import x509

from tests.test_cli_wire import COALGATE

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
MARKER = "<!-- tested: tests/deploy/test_operations_doc.py"


def workflow_block() -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(MARKER)
    match = re.search(r"```sh\n(.*?)```", text[start:], flags=re.DOTALL)
    assert match is not None
    return match.group(1)


def run(script: str, cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(
        ["bash", "-e", "-u", "-o", "pipefail", "-c", script], cwd=cwd, env=env,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def test_the_ca_workflow_runs_as_documented(tmp_path: Path) -> None:
    central_dir, broker = tmp_path / "central", tmp_path / "broker"
    broker.mkdir()
    script = workflow_block()
    assert script.count("/var/lib/coalgate-central") == 1
    assert script.count("/etc/mosquitto/coalgate") == 1
    script = script.replace("/var/lib/coalgate-central", str(central_dir))
    script = script.replace("/etc/mosquitto/coalgate", str(broker))
    env = {k: v for k, v in os.environ.items() if not k.startswith("COALGATE_")}
    env["PATH"] = f"{Path(COALGATE).parent}:{env['PATH']}"
    env["COALGATE_DATA_DIR"] = str(central_dir)
    # What the page assumes: the site is registered and the gate made its key.
    run(
        "coalgate central enterprise add --id yl-coal-co-a --name A --credit-code "
        "91610800MA6Y000A0A --land-mu 1 --capacity-t 1\n"
        "coalgate central site add --id yl-mine-a --enterprise yl-coal-co-a --kind coal_mine "
        "--name A\n"
        "coalgate key new --device yl-mine-a-gate-1 --out .\n",
        tmp_path, env,
    )  # fmt: skip

    output = run(script, tmp_path, env)

    cert = x509.load_pem_x509_certificate((tmp_path / "yl-mine-a-gate-1.pem").read_bytes())
    crl = x509.load_pem_x509_crl((broker / "crl.pem").read_bytes())
    ca = x509.load_pem_x509_certificate((broker / "ca.crt").read_bytes())
    cert.verify_directly_issued_by(ca)
    assert crl.is_signature_valid(ca.public_key())
    assert crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None
    assert f"{cert.serial_number:x} of yl-mine-a-gate-1 revoked" in output
    assert "yl-mine-a-gate-1" not in (broker / "acl").read_text()  # revoked: no topics
    assert (broker / "server.key").stat().st_mode & 0o777 == 0o600
    server = x509.load_pem_x509_certificate((broker / "server.crt").read_bytes())
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["broker.yulin.example"]
    assert "revoked" in output.splitlines()[-1]
