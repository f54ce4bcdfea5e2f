"""``coalgate central ticket …`` as an enterprise's clerk or an administrator runs it."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from central.keyring import load_keyring
from tests.central.test_cli_central import env_for
from tests.conftest import Mosquitto
from tests.test_cli_wire import COALGATE
from wire.bundles import verify_bundle
from wire.tickets import ticket_from_qr, verify_ticket
from wire.topics import bundle_topic


def run(
    tmp_path: Path, *args: str, ok: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [COALGATE, "central", *args], cwd=tmp_path, env=env_for(tmp_path) | (env or {}),
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (result.returncode == 0) is ok, result
    assert "Traceback" not in result.stderr
    return result


def region(tmp_path: Path, *, env: dict[str, str] | None = None) -> None:
    """Seller with a mine (quota 100 t), buyer with an enrolled smelter."""
    for ident, code, capacity in (("e-sell", "a" * 18, "100"), ("e-buy", "b" * 18, "1")):
        run(tmp_path, "enterprise", "add", "--id", ident, "--name", ident, "--credit-code", code,
            "--land-mu", "1", "--capacity-t", capacity, env=env)  # fmt: skip
    run(tmp_path, "site", "add", "--id", "mine", "--enterprise", "e-sell", "--kind", "coal_mine",
        "--name", "M", env=env)  # fmt: skip
    run(tmp_path, "site", "add", "--id", "smelter", "--enterprise", "e-buy", "--kind",
        "magnesium_smelter", "--name", "S", env=env)  # fmt: skip
    subprocess.run([COALGATE, "key", "new", "--device", "smelter-gate-1", "--out", "keys"],
                   cwd=tmp_path, check=True, capture_output=True)  # fmt: skip
    run(tmp_path, "enroll", "--site", "smelter", "--device", "smelter-gate-1", "--pubkey",
        "keys/smelter-gate-1.pub", env=env)  # fmt: skip


ISSUE = ("ticket", "issue", "--enterprise", "e-sell", "--seller-site", "mine", "--buyer", "e-buy",
         "--plate", "陕K·12345", "--coal", "lump", "--dest-site", "smelter")  # fmt: skip


def test_issue_list_revoke(tmp_path: Path) -> None:
    region(tmp_path)
    issued = run(tmp_path, *ISSUE, "--max-net-kg", "60000", "--valid-hours", "6", "--no-publish")
    fields = dict(line.split(": ", 1) for line in issued.stdout.splitlines())
    assert re.fullmatch(r"[0-9a-f]{32}", fields["cti"])
    assert re.fullmatch(r"\d{8}-[0-9A-F]{8}", fields["no"])
    keys = load_keyring(tmp_path / "data" / "keys", today=dt.date(2026, 11, 29)).published
    ticket = verify_ticket(ticket_from_qr(fields["qr"]), keys, now_s=None)
    assert (ticket.id, ticket.no, ticket.plate, ticket.exp - ticket.iat) == (
        fields["cti"], fields["no"], "陕K12345", 6 * 3600
    )  # fmt: skip
    listed = run(tmp_path, "ticket", "list", "--state", "issued").stdout.splitlines()
    assert len(listed) == 1
    assert listed[0].startswith(f"{fields['cti']}  {fields['no']}  issued")
    # 60 t of 100 t reserved: 40 t more is refused with one line naming the quota.
    refused = run(tmp_path, *ISSUE, "--max-net-kg", "40001", "--no-publish", ok=False)
    assert [line for line in refused.stderr.splitlines() if line.startswith("Error: ")] == [
        refused.stderr.strip()
    ]
    assert "40000 kg of quota left" in refused.stderr
    revoked = run(tmp_path, "ticket", "revoke", "--cti", fields["cti"], "--no-publish")
    assert f"ticket {fields['no']} ({fields['cti']}) revoked" in revoked.stdout
    assert run(tmp_path, "ticket", "list", "--state", "issued").stdout == ""
    run(tmp_path, *ISSUE, "--max-net-kg", "100000", "--no-publish")  # released


BAD = [
    ((*ISSUE, "--max-net-kg", "1000", "--plate", "陕KO2345", "--no-publish"), "I and O"),
    ((*ISSUE[:-1], "mine", "--max-net-kg", "1000", "--no-publish"), "another site"),
    ((*ISSUE, "--max-net-kg", "0", "--no-publish"), "max_net_kg"),
    ((*ISSUE[:3], "nobody", *ISSUE[4:], "--max-net-kg", "1", "--no-publish"), "no enterprise"),
    (("ticket", "revoke", "--cti", "xyz", "--no-publish"), "32 hex"),
    (("ticket", "revoke", "--cti", "00" * 16, "--no-publish"), "no ticket"),
    (("ticket", "list", "--state", "lost"), "lost"),
]


def test_bad_input_is_one_clear_line(tmp_path: Path) -> None:
    region(tmp_path)
    for args, message in BAD:
        result = run(tmp_path, *args, ok=False)
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
        assert len(errors) == 1, (args, result.stderr)
        assert message in errors[0], (args, errors)


@pytest.mark.mosquitto
def test_issuing_sends_the_destination_its_bundle(tmp_path: Path, mosquitto: Mosquitto) -> None:
    env = {"COALGATE_MQTT_URL": mosquitto.url}
    region(tmp_path, env=env)
    issued = run(tmp_path, *ISSUE, "--max-net-kg", "30000", env=env)
    assert "bundles sent: smelter v1" in issued.stdout  # the mine has no device: no bundle
    cti = issued.stdout.split("cti: ", 1)[1].split()[0]

    received: list[bytes] = []
    got = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="smelter-gate-1")

    def on_message(_c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        received.append(bytes(message.payload))
        got.set()

    client.on_message = on_message
    client.on_connect = lambda c, *_: c.subscribe(bundle_topic("smelter", "smelter-gate-1"), 1)
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    try:
        assert got.wait(10), "no retained bundle"
    finally:
        client.disconnect()
        client.loop_stop()
    keys = load_keyring(tmp_path / "data" / "keys", today=dt.date(2026, 11, 29)).published
    bundle = verify_bundle(received[0], keys, site="smelter", held_version=None)
    assert [entry.ticket.id for entry in bundle.tickets] == [cti]
    # A vehicle change concerns every enrolled site.
    changed = run(tmp_path, "vehicle", "add", "--plate", "陕K23456", "--axles", "2", "--kind",
                  "rigid", env=env)  # fmt: skip
    assert "bundles sent: smelter v2" in changed.stdout
