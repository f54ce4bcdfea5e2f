"""``coalgate sim indicator`` and ``sim modbus`` as subprocesses (never imported), over TCP or
a pty with a link, with their control interface for faults. Waits are bounded and
event-driven: the ready line."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import urllib.request
from pathlib import Path

TRUCK = "plate=陕K12345,axles=6,tare=15000,load=34000,settled=yes"
EXPECTED_KG = 49_000
READY_S = 15.0


class Indicator:
    """One simulated indicator; ``url`` is what pyserial opens, ``control`` its HTTP base."""

    def __init__(
        self,
        protocol: str,
        *,
        pty_link: Path | None = None,
        rate: int = 20,
        extra: tuple[str, ...] = (),
    ) -> None:
        where = ["--pty", "--link", str(pty_link)] if pty_link else ["--tcp", "127.0.0.1:0"]
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "coalgate",
                "sim",
                "indicator",
                "--protocol",
                protocol,
                *where,
                "--control",
                "127.0.0.1:0",
                "--noise",
                "0",
                "--rate",
                str(rate),
                "--truck",
                TRUCK,
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            fields = self._ready()
        except BaseException:
            self.stop()
            raise
        self.control = fields["control"].rstrip("/")
        if pty_link is not None:
            self.url = str(pty_link)
        else:
            self.url = "socket://127.0.0.1:" + fields["port"].rsplit(":", 1)[1]

    def _ready(self) -> dict[str, str]:
        assert self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout=READY_S):
                raise AssertionError("the simulator printed no ready line in time")
        line = self.process.stdout.readline().decode()
        assert line.startswith("ready"), line
        return dict(part.split("=", 1) for part in line.split() if "=" in part)

    def fault(self, kind: str, **fields: object) -> None:
        """``POST /faults``; raises on a refusal."""
        body = json.dumps({"kind": kind, **fields}).encode()
        request = urllib.request.Request(f"{self.control}/faults", data=body, method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status < 300, response.status

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


class Transmitter(Indicator):
    """``coalgate sim modbus``: a weight transmitter on Modbus TCP, or RTU over a pty with a
    link. ``url`` is what ``ModbusLine`` opens; faults go to its ``transmitter`` device."""

    def __init__(
        self,
        *,
        preset: str = "hr-int32",
        map_file: Path | None = None,
        pty_link: Path | None = None,
        baud: int = 38_400,
        truck: str | None = TRUCK,
        extra: tuple[str, ...] = (),
    ) -> None:
        where = ["--pty", "--link", str(pty_link)] if pty_link else ["--tcp", "127.0.0.1:0"]
        which = ["--map", str(map_file)] if map_file else ["--preset", preset]
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "coalgate", "sim", "modbus", *which, *where,
                "--baud", str(baud), "--control", "127.0.0.1:0", "--noise", "0",
                *(["--truck", truck] if truck else []), *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        try:
            fields = self._ready()
        except BaseException:
            self.stop()
            raise
        self.control = fields["control"].rstrip("/")
        if pty_link is not None:
            self.url = f"rtu://{pty_link}?baud={baud}"
        else:
            self.url = "tcp://127.0.0.1:" + fields["port"].rsplit(":", 1)[1]

    def fault(self, kind: str, **fields: object) -> None:
        """``POST /faults`` for the transmitter; raises on a refusal."""
        super().fault(kind, device="transmitter", **fields)

    def post(self, path: str, body: dict[str, object]) -> dict[str, object]:
        """``POST`` a JSON body to the control interface (e.g. ``/trucks``)."""
        request = urllib.request.Request(
            f"{self.control}{path}", data=json.dumps(body).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            answer: dict[str, object] = json.loads(response.read())
            return answer

    def state(self) -> dict[str, object]:
        """``GET /state``."""
        with urllib.request.urlopen(f"{self.control}/state", timeout=5) as response:
            answer: dict[str, object] = json.loads(response.read())
            return answer
