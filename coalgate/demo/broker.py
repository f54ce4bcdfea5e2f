"""The demo's MQTT broker: a private Mosquitto (its own config file, a free port, anonymous,
no persistence) when ``mosquitto`` is on PATH, else amqtt (pure Python, MQTT 3.1.1 only,
anonymous auth configured — without an auth plugin it refuses every client) as a subprocess.

With amqtt, edges speak MQTT 3.1.1 and central ingests with one worker on a plain filter
(``$share`` subscriptions deliver nothing there); ``central run`` does both by default.
"""

from __future__ import annotations

import shutil
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from coalgate.demo.errors import DemoError
from coalgate.demo.procs import Children, until

READY_S = 20.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Broker:
    """Where the broker listens and what it is."""

    url: str
    kind: str  # "mosquitto", "amqtt" or "external"
    mqtt_version: str  # what edges should speak: "5" or "3.1.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def mosquitto_binary() -> str | None:
    found = shutil.which("mosquitto")
    if found is None and Path("/usr/sbin/mosquitto").exists():
        return "/usr/sbin/mosquitto"
    return found


def start_broker(children: Children, directory: Path, *, choice: str = "auto") -> Broker:
    """Start a private broker under ``directory`` (``choice``: auto, mosquitto, amqtt) and wait
    until it accepts connections."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    binary = mosquitto_binary() if choice != "amqtt" else None
    if binary is None and choice == "mosquitto":
        raise DemoError("mosquitto is not on PATH; install it or use --broker amqtt")
    if binary is not None:
        config = directory / "mosquitto.conf"
        config.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "log_dest stderr\nlog_type error\nlog_type warning\n",
            encoding="utf-8",
        )
        children.start("mosquitto", [binary, "-c", str(config)], log_path=directory / "broker.log")
        kind, version = "mosquitto", "5"
    else:
        config = directory / "amqtt.yaml"
        config.write_text(
            "listeners:\n"
            "  default:\n"
            "    type: tcp\n"
            f"    bind: 127.0.0.1:{port}\n"
            "plugins:\n"
            "  amqtt.plugins.authentication.AnonymousAuthPlugin:\n"
            "    allow_anonymous: true\n",
            encoding="utf-8",
        )
        script = "import sys; from amqtt.scripts.broker_script import main; main()"
        argv = [sys.executable, "-c", script, "-c", str(config)]
        children.start("amqtt", argv, log_path=directory / "broker.log")
        kind, version = "amqtt", "3.1.1"
    until(lambda: listening(port), within_s=READY_S, what=f"{kind} on port {port}",
          children=children)  # fmt: skip
    return Broker(url=f"mqtt://127.0.0.1:{port}", kind=kind, mqtt_version=version)
