"""The command line: a bad option is one clear line; capture files parse or fail clearly;
replay paces itself."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from firmware_sim.capture import (
    Capture,
    Chunk,
    chunk_line,
    header_line,
    loop_gap_s,
    parse_capture,
    replay,
)
from firmware_sim.errors import CaptureError
from firmware_sim.ports import TcpPort, parse_host_port


def sim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "coalgate", "sim", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["indicator", "--protocol", "modbus", "--pty"], "Invalid value for '--protocol'"),
        (["indicator", "--protocol", "toledo", "--tcp", "localhost"], "expected HOST:PORT"),
        (["indicator", "--protocol", "toledo", "--tcp", "h:99999"], "expected HOST:PORT"),
        (["indicator", "--protocol", "toledo", "--pty", "--link", "/no/dir/x"], "does not exist"),
        (["indicator", "--protocol", "toledo"], "exactly one of --pty or --tcp"),
        (["indicator", "--protocol", "toledo", "--pty", "--tcp", "127.0.0.1:0"], "exactly one"),
        (["indicator", "--protocol", "toledo", "--pty", "--truck", "plate=A"], "--truck needs"),
        (
            ["indicator", "--protocol", "toledo", "--pty", "--truck", "plate=A,axles=9,tare=5"],
            "axle layout",
        ),
        (["indicator", "--protocol", "toledo", "--pty", "--decimals", "2"], "cannot express"),
        (["indicator", "--protocol", "toledo", "--pty", "--rate", "0"], "rate"),
        (["replay", "/no/such/capture.jsonl", "--pty"], "cannot read capture"),
        (["capture", "socket://127.0.0.1:1", "--out", "/no/dir/c.jsonl"], "does not exist"),
    ],
)
def test_bad_options_are_one_line(args: list[str], message: str) -> None:
    result = sim(*args)
    assert result.returncode in (1, 2)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert message in lines[0]


def test_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = sim(
            "indicator",
            "--protocol",
            "toledo",
            "--tcp",
            f"127.0.0.1:{port}",
            "--control",
            "127.0.0.1:0",
        )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]


def test_bad_capture_file_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"coalgate_capture": 1}\n{"t_ms": "soon"}\n')
    result = sim("replay", str(bad), "--pty")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["Error: bad chunk line"]


def test_capture_format_round_trip() -> None:
    chunks = [Chunk(t_ms=0, data=b"\x02)0 049000000000\r+"), Chunk(t_ms=100, data=b"\xff")]
    text = header_line(source="/dev/ttyUSB0", baud=9600) + "".join(map(chunk_line, chunks))
    capture = parse_capture(text, path="x")
    assert capture.chunks == tuple(chunks)
    assert capture.baud == 9600
    assert capture.source == "/dev/ttyUSB0"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("", None),
        ("not json\n", 1),
        ('{"something": "else"}\n', 1),
        ('{"coalgate_capture": 1}\n{"t_ms": 5, "hex": "zz"}\n', 2),
        ('{"coalgate_capture": 1}\n{"t_ms": 5, "hex": "00"}\n{"t_ms": 4, "hex": "00"}\n', 3),
    ],
)
def test_bad_capture_files_name_the_line(text: str, line: int | None) -> None:
    with pytest.raises(CaptureError) as caught:
        parse_capture(text, path="cap.jsonl")
    assert caught.value.line == line


async def test_looped_replay_of_one_chunk_repeats_at_a_steady_pace() -> None:
    # A capture whose chunks share one timestamp once made --loop spin without yielding:
    # a flood of bytes, and Ctrl-C/SIGTERM never handled.
    one = Capture(source="x", baud=None, chunks=(Chunk(t_ms=0, data=b"ABCD"),))
    addresses: list[str] = []
    listening = asyncio.Event()

    def started(address: str) -> None:
        addresses.append(address)
        listening.set()

    received = b""
    async with asyncio.TaskGroup() as tasks:
        replaying = tasks.create_task(
            replay(
                one,
                port=TcpPort(host="127.0.0.1", port=0),
                loop_forever=True,
                started=started,
            ),
            name="replay",
        )
        async with asyncio.timeout(5):
            await listening.wait()
        host, port = parse_host_port(addresses[0].removeprefix("socket://"))
        reader, writer = await asyncio.open_connection(host, port)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.55):
                while data := await reader.read(100):
                    received += data
        writer.close()
        await writer.wait_closed()
        replaying.cancel()
    assert loop_gap_s(one) == 0.1
    assert 2 <= received.count(b"ABCD") <= 10, received[:80]
    assert received == b"ABCD" * received.count(b"ABCD")


def test_loop_gap_is_the_mean_chunk_spacing() -> None:
    chunks = tuple(Chunk(t_ms=t, data=b"x") for t in (0, 100, 300))
    assert loop_gap_s(Capture(source="x", baud=None, chunks=chunks)) == 0.15
