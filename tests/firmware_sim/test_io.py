"""Each indicator read through pyserial over a real pty and over socket://, and driven live.

The simulator runs in a thread of its own (see conftest); the tests talk to it exactly as a
host would: pyserial for the scale line, HTTP for the control interface.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import serial

from firmware_sim.display import Display
from firmware_sim.indicator import IndicatorConfig, IndicatorState, Protocol
from firmware_sim.model import Deck, Scene, Truck
from firmware_sim.ports import PtyPort, TcpPort
from tests.firmware_sim.sim_thread import Running, run_indicator

TRUCK = Truck(plate="陕K12345", axles=6, tare_kg=15_000, load_kg=34_000)


def toledo_frame(body: bytes) -> bytes:
    return body + bytes([(-sum(b & 0x7F for b in body)) & 0x7F])


# What each protocol sends for a standing 49 000 kg truck, e = 10 kg, kg, no decimals.
EXPECTED = {
    Protocol.TOLEDO: toledo_frame(b"\x02\x29\x30\x20" + b"049000" + b"000000" + b"\r"),
    Protocol.XK3190_A9: b"\x02+0490000" + b"16" + b"\x03",
    Protocol.XK3190_A12: b"WG0049000kg21\r\n",
    Protocol.XK3190_EQ: b"=0009400" + b"0",
    Protocol.MT_SICS: b"S S      49000 kg\r\n",
}


def quiet_scene() -> Scene:
    return Scene(deck=Deck(noise_kg=0.0)).arrive(TRUCK, 0, settled=True)


def make_port(kind: str, tmp_path: Path) -> PtyPort | TcpPort:
    if kind == "pty":
        return PtyPort(link=tmp_path / "scale")
    return TcpPort(host="127.0.0.1", port=0)


def open_line(running: Running) -> serial.Serial:
    line = serial.serial_for_url(running.address, baudrate=115200, timeout=2)
    line.reset_input_buffer()
    return line


def read_for(line: serial.Serial, seconds: float) -> bytes:
    """Everything that arrives within ``seconds`` (no read outlasts the deadline)."""
    data = b""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        line.timeout = left
        data += line.read(max(1, line.in_waiting))
    line.timeout = 2
    return data


@pytest.mark.parametrize("kind", ["pty", "tcp"])
@pytest.mark.parametrize("protocol", list(Protocol))
def test_each_indicator_reads_through_pyserial(
    protocol: Protocol, kind: str, tmp_path: Path
) -> None:
    config = IndicatorConfig(protocol=protocol, rate_hz=50)
    with run_indicator(
        config, IndicatorState(scene=quiet_scene()), make_port(kind, tmp_path)
    ) as running:
        if kind == "pty":
            assert (tmp_path / "scale").is_symlink()
        with open_line(running) as line:
            if protocol is Protocol.MT_SICS:
                line.write(b"SI\r\n")
                assert line.readline() == EXPECTED[protocol]
            else:
                data = read_for(line, 0.3)
                assert data.count(EXPECTED[protocol]) >= 3, data
    if kind == "pty":
        assert not (tmp_path / "scale").exists(), "the link goes when the simulator stops"


def test_pty_output_is_paced_at_the_baud_rate(tmp_path: Path) -> None:
    # A pty passes bytes at memory speed; the simulator must keep to 1200 baud itself.
    config = IndicatorConfig(protocol=Protocol.TOLEDO, rate_hz=100)
    state = IndicatorState(scene=quiet_scene())
    with (
        run_indicator(config, state, make_port("pty", tmp_path), baud=1200) as running,
        open_line(running) as line,
    ):
        data = read_for(line, 1.0)
    # 1200 baud 8N1 carries 120 bytes a second: six or seven frames, not the hundred asked for.
    assert 3 * 18 <= len(data) <= 8 * 18, len(data)


def test_mt_sics_session_over_tcp(tmp_path: Path) -> None:
    config = IndicatorConfig(protocol=Protocol.MT_SICS, rate_hz=50)
    with (
        run_indicator(
            config, IndicatorState(scene=quiet_scene()), make_port("tcp", tmp_path)
        ) as running,
        open_line(running) as line,
    ):
        line.write(b"T\r\nSI\r\nBOGUS\r\nTAC\r\nSIR\r\n")
        assert [line.readline() for _ in range(4)] == [
            b"T S      49000 kg\r\n",
            b"S S          0 kg\r\n",
            b"ES\r\n",
            b"TAC A\r\n",
        ]
        repeated = [line.readline() for _ in range(3)]
        assert repeated == [EXPECTED[Protocol.MT_SICS]] * 3
        line.write(b"@\r\n")
        tail = read_for(line, 0.3)
        assert tail.endswith(b'I4 A "SIM0000001"\r\n')
        assert read_for(line, 0.2) == b"", "@ stops the SIR stream"

        line.write(b"SIR\r\n")
        assert line.readline() == EXPECTED[Protocol.MT_SICS]
        assert running.call("POST /faults", {"kind": "power-loss", "duration_ms": 300})[0] == 200
        tail = read_for(line, 1.2)
        assert tail.endswith(b'I4 A "SIM0000001"\r\n'), "back on, it says who it is"
        assert read_for(line, 0.2) == b"", "a power cycle ends the SIR stream"


def test_truck_drives_on_and_s_waits_for_stable(tmp_path: Path) -> None:
    config = IndicatorConfig(protocol=Protocol.MT_SICS)
    state = IndicatorState(scene=Scene(deck=Deck(noise_kg=1.0)))
    with run_indicator(
        config, state, make_port("pty", tmp_path), stable_timeout_ms=10_000
    ) as running:
        status, body = running.call(
            "POST /trucks",
            {"plate": "陕K12345", "axles": 6, "tare_kg": 15000, "load_kg": 34000, "speed_mps": 20},
        )
        assert status == 201
        assert body["trucks"][0]["plate"] == "陕K12345"
        deadline = time.monotonic() + 5
        while running.call("GET /state")[1]["reading"]["stable"]:  # until it rolls on
            assert time.monotonic() < deadline
            time.sleep(0.02)
        with serial.serial_for_url(running.address, baudrate=115200, timeout=12) as line:
            line.write(b"S\r\n")
            assert line.readline() == b"S S      49000 kg\r\n"
        status, body = running.call("GET /state")
        assert body["reading"]["gross_kg"] == 49000
        assert body["trucks_on_deck"] == ["陕K12345"]
        status, body = running.call("PUT /trucks/%E9%99%95K12345/load", {"load_kg": 30000})
        assert status == 200
        status, body = running.call("DELETE /trucks/%E9%99%95K12345")
        assert status == 202
        assert body["trucks"][0]["leaving"] is True


def toledo_running(tmp_path: Path) -> tuple[IndicatorConfig, IndicatorState, TcpPort]:
    config = IndicatorConfig(protocol=Protocol.TOLEDO, rate_hz=50, display=Display(division_kg=10))
    return config, IndicatorState(scene=quiet_scene()), TcpPort(host="127.0.0.1", port=0)


def frames_in(data: bytes) -> list[bytes]:
    return [b"\x02" + part for part in data.split(b"\x02")[1:]]


def test_stream_faults_over_tcp(tmp_path: Path) -> None:
    good = EXPECTED[Protocol.TOLEDO]
    with run_indicator(*toledo_running(tmp_path)) as running, open_line(running) as line:
        assert running.call("POST /faults", {"kind": "bad-checksum", "count": 2})[0] == 200
        frames = frames_in(read_for(line, 0.3))
        bad = [f for f in frames if len(f) == 18 and f != good]
        assert len(bad) == 2
        assert all(sum(b & 0x7F for b in f) & 0x7F != 0 for f in bad)

        assert running.call("POST /faults", {"kind": "half-frame", "count": 1})[0] == 200
        assert good[:9] + good in read_for(line, 0.3)

        assert running.call("POST /faults", {"kind": "garbage", "bytes": 7})[0] == 200
        data = read_for(line, 0.3)
        assert data.count(good) >= 3
        # Somewhere 7 stray bytes stand before a good frame where another frame's tail should.
        starts = [i for i in range(7, len(data) - 17) if data[i : i + 18] == good]
        assert any(data[i - 7 : i] != good[-7:] for i in starts)

        # Generous durations: the silent window must outlast the read by far on a slow machine.
        assert running.call("POST /faults", {"kind": "silence", "duration_ms": 1000})[0] == 200
        time.sleep(0.05)
        line.reset_input_buffer()
        assert read_for(line, 0.2) == b""
        time.sleep(0.9)
        assert good in read_for(line, 0.3)

        assert running.call("POST /faults", {"kind": "frozen"})[0] == 200
        running.call("PUT /trucks/%E9%99%95K12345/load", {"load_kg": 33_000})
        time.sleep(0.2)
        assert good in read_for(line, 0.2), "the display is stuck on the old weight"
        assert running.call("DELETE /faults")[0] == 200
        time.sleep(2.5)  # the load change settles
        line.reset_input_buffer()
        unloaded = toledo_frame(b"\x02\x29\x30\x20" + b"048000" + b"000000" + b"\r")
        assert unloaded in read_for(line, 0.3)

        assert running.call("POST /faults", {"kind": "step", "kg": 500})[0] == 200
        time.sleep(0.1)
        data = read_for(line, 0.3)
        # In motion for the stability window after the jump, stable after (a slow machine).
        moving = toledo_frame(b"\x02\x29\x38\x20" + b"048500" + b"000000" + b"\r")
        steady = toledo_frame(b"\x02\x29\x30\x20" + b"048500" + b"000000" + b"\r")
        assert moving in data or steady in data, data
        assert good not in data[-36:]

        assert running.call("POST /calibration")[1] == {"calibration_count": 1}


def test_power_loss_and_disconnect(tmp_path: Path) -> None:
    with run_indicator(*toledo_running(tmp_path)) as running:
        with open_line(running) as line:
            status, _ = running.call("POST /faults", {"kind": "power-loss", "duration_ms": 1000})
            assert status == 200
            time.sleep(0.05)
            line.reset_input_buffer()
            assert read_for(line, 0.2) == b""
            time.sleep(0.9)
            # Whole frames only: the read's deadline may cut the last one short.
            back = [f for f in frames_in(read_for(line, 0.3)) if len(f) == 18]
            # 49 t on the deck is outside the power-up zero range: status B bit 6 says so.
            assert back
            assert all(f[2] & 0x40 for f in back), back

            assert (
                running.call("POST /faults", {"kind": "disconnect", "duration_ms": 500})[0] == 200
            )
            with pytest.raises(serial.SerialException):
                read_until_hangup(line)
        wait_connected(running)
        with open_line(running) as line:
            assert frames_in(read_for(line, 0.3))


def wait_connected(running: Running) -> None:
    """Until the simulator is back after a disconnect fault (no fixed sleep to misjudge)."""
    deadline = time.monotonic() + 10
    while not running.call("GET /state")[1]["connected"]:
        assert time.monotonic() < deadline, "the simulator did not reconnect"
        time.sleep(0.05)


def read_until_hangup(line: serial.Serial) -> None:
    for _ in range(50):
        line.read(100)
        time.sleep(0.02)


def test_pty_disconnect_keeps_the_link(tmp_path: Path) -> None:
    config = IndicatorConfig(protocol=Protocol.XK3190_A9, rate_hz=50)
    port = PtyPort(link=tmp_path / "scale")
    with run_indicator(config, IndicatorState(scene=quiet_scene()), port) as running:
        assert running.call("POST /faults", {"kind": "disconnect", "duration_ms": 300})[0] == 200
        time.sleep(0.1)
        assert running.call("GET /state")[1]["connected"] is False
        assert (tmp_path / "scale").is_symlink(), "the link stays while the cable is out"
        wait_connected(running)
        with open_line(running) as line:
            assert EXPECTED[Protocol.XK3190_A9] in read_for(line, 0.3)
        assert str((tmp_path / "scale").readlink()) == port.path, "the link follows the new pty"


@pytest.mark.parametrize(
    ("target", "body", "status", "needle"),
    [
        ("POST /trucks", b"{not json", 400, "not JSON"),
        ("POST /trucks", b"[1, 2]", 400, "JSON object"),
        ("POST /trucks", b'{"plate": "X", "axles": 9, "tare_kg": 1000}', 400, "axle layout"),
        ("POST /trucks", b'{"plate": "X", "axles": 2, "tare_kg": "heavy"}', 400, "integer"),
        (
            "POST /trucks",
            b'{"plate": "X", "axles": 2, "tare_kg": 5000, "wings": 2}',
            400,
            "unknown field",
        ),
        (
            "POST /trucks",
            b'{"plate": "\\u9655K12345", "axles": 6, "tare_kg": 5000}',
            409,
            "already",
        ),
        ("POST /faults", b'{"kind": "gremlins"}', 400, "must be one of"),
        ("POST /faults", b'{"kind": "silence", "duration_ms": -5}', 400, "must be 1-"),
        ("POST /faults", b'{"kind": "power-loss"}', 400, "duration_ms"),
        ("DELETE /trucks/NOPE", None, 404, "no truck"),
        ("PUT /trucks/NOPE/load", b'{"load_kg": 5}', 404, "no truck"),
        ("GET /nowhere", None, 404, "no such resource"),
        ("DELETE /state", None, 405, "not allowed"),
        # Values the model cannot compute with: refused, and the simulator keeps running.
        (
            "POST /trucks",
            b'{"plate": "X", "axles": 2, "kind": "rigid", "tare_kg": 5000, "stop_m": NaN}',
            400,
            "finite",
        ),
        (
            "POST /trucks",
            b'{"plate": "X", "axles": 2, "kind": "rigid", "tare_kg": 5000, "load_kg": 1'
            + b"0" * 400
            + b"}",
            400,
            "'load_kg' must be 0-",
        ),
        ("PUT /trucks/%E9%99%95K12345/load", b'{"load_kg": 1e400}', 400, "integer"),
        ("POST /faults", b'{"kind": "garbage", "bytes": 1000000000}', 400, "'bytes'"),
        ("POST /faults", b'{"kind": "step", "kg": -100000000000}', 400, "'kg'"),
        ("POST /faults", b'{"kind": "disconnect", "duration_ms": 1' + b"0" * 40 + b"}", 400, "1-"),
    ],
)
def test_bad_control_requests_get_a_clear_4xx(
    target: str, body: bytes | None, status: int, needle: str, tmp_path: Path
) -> None:
    config = IndicatorConfig(protocol=Protocol.TOLEDO, rate_hz=50)  # streams: computes weights
    with run_indicator(
        config, IndicatorState(scene=quiet_scene()), make_port("tcp", tmp_path)
    ) as running:
        got, answer = running.call(target, raw=body)
        assert got == status
        assert needle in answer["error"]
        assert running.call("GET /state")[0] == 200, "a bad request does not stop the simulator"
        time.sleep(0.05)  # a frame period: a poisoned scene would have failed the stream
        assert running.call("GET /state")[0] == 200


def test_bad_checksum_refused_for_formats_without_one(tmp_path: Path) -> None:
    config = IndicatorConfig(protocol=Protocol.XK3190_EQ)
    with run_indicator(
        config, IndicatorState(scene=quiet_scene()), make_port("tcp", tmp_path)
    ) as running:
        status, answer = running.call("POST /faults", {"kind": "bad-checksum"})
        assert status == 409
        assert "no checksum" in answer["error"]
