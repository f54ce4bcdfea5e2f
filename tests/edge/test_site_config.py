"""The site file: ``docs/examples/site.toml`` loads (so the docs cannot drift), good variants
load with their defaults, and every broken one fails with its exact one line — through
``load_site_config`` and through ``coalgate edge check-config``; random documents never
produce anything but a ``SiteConfigError``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coalgate.commands.edge_config import check_config
from edge.camera.reads import CameraSpot, Side
from edge.config import ModbusScale, SerialScale, SiteConfig, load_site_config
from edge.errors import ConfigError, SiteConfigError
from wire.keyfiles import write_key_pair
from wire.keys import SigningKey

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "site.toml"
DEVICE = "yl-mine-a-gate-1"


def make_site(directory: Path) -> Path:
    """The example with the key and TLS files it names; returns the site file's path."""
    (directory / "keys" / "central").mkdir(parents=True)
    write_key_pair(SigningKey.generate(kid=DEVICE), directory / "keys")
    central = SigningKey.generate(kid="central-1")
    (directory / "keys" / "central" / "central-1.pub").write_bytes(central.public.to_pem())
    (directory / "tls").mkdir()
    for name in ("ca.pem", f"{DEVICE}.pem", f"{DEVICE}.key"):
        (directory / "tls" / name).write_text("-----BEGIN CERTIFICATE-----\n")
    (directory / "tls" / f"{DEVICE}.key").chmod(0o600)
    site = directory / "site.toml"
    shutil.copy(EXAMPLE, site)
    return site


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return make_site(tmp_path)


def edit(site: Path, old: str, new: str) -> Path:
    text = site.read_text()
    assert text.count(old) >= 1, old
    site.write_text(text.replace(old, new, 1))
    return site


def check(path: Path) -> tuple[int, str]:
    result = CliRunner().invoke(check_config, [str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


# --- good files ----------------------------------------------------------------------------


def test_the_example_loads(site: Path) -> None:
    config = load_site_config(site)
    assert (config.site.id, config.site.device) == ("yl-mine-a", DEVICE)
    assert config.site.device_key == site.parent / "keys" / f"{DEVICE}.key"
    assert config.site.journal_path == site.parent / "data" / "journal.db"
    assert config.broker.tls
    assert (config.uplink.window, config.uplink.resend_after_s, config.uplink.heartbeat_s) == (
        200,
        10.0,
        300.0,
    )
    assert (config.http.host, config.http.port) == ("0.0.0.0", 8080)
    serial, modbus = config.lanes
    assert isinstance(serial.scale, SerialScale)
    assert (serial.id, serial.direction, serial.passes) == ("lane1", "out", "two")
    assert (serial.scale.protocol, serial.scale.division_kg, serial.scale.capacity_kg) == (
        "toledo",
        20,
        100_000,
    )
    assert (serial.io.barrier, serial.io.pulse_ms, serial.io.unit_id) == ("pulse", 500, 1)
    assert serial.io.map.channels() == {
        "barrier": 0, "red": 1, "green": 2, "horn": 3,
        "entry": 0, "deck_front": 1, "deck_rear": 2, "exit": 3, "barrier_up": 4,
    }  # fmt: skip
    assert isinstance(modbus.scale, ModbusScale)
    assert (modbus.direction, modbus.passes) == ("in", "single")
    assert modbus.scale.modbus.name == "hr-int32"
    assert (modbus.scale.unit_id, modbus.io.unit_id) == (2, 1)
    assert modbus.scale.address == modbus.io.address  # one RS-485 line, two units
    assert (modbus.io.map.exit, modbus.io.map.barrier_up, modbus.io.map.entry) == (5, 6, 0)
    assert config.cameras() == {
        "lane1-entry": CameraSpot(lane="lane1", side=Side.ENTRY),
        "lane1-exit": CameraSpot(lane="lane1", side=Side.EXIT),
        "north-anpr-in": CameraSpot(lane="lane2", side=Side.ENTRY),
        "north-anpr-out": CameraSpot(lane="lane2", side=Side.EXIT),
    }


def test_check_config_summarises_the_example(site: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "coalgate", "edge", "check-config", str(site)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"site yl-mine-a, device {DEVICE}"
    assert "lane lane1: out, two passes" in lines
    assert "  scale: toledo at /dev/ttyS0 9600 baud, e = 20 kg, Max 100000 kg" in lines
    assert "lane lane2: in, one pass (stored tare)" in lines
    assert (
        "  scale: modbus hr-int32 at rtu:///dev/ttyUSB1?baud=9600 unit 2, e = 10 kg, Max 60000 kg"
    ) in lines
    assert "  cameras: north-anpr-in (entry), north-anpr-out (exit)" in lines


MINIMAL = f"""
[site]
id = "yl-mine-a"
device = "{DEVICE}"
device_key = "keys/{DEVICE}.key"
central_keys = "keys/central"
data_dir = "data"

[broker]
url = "mqtt://127.0.0.1"

[[lane]]
id = "gate-a"
direction = "out"
[lane.scale]
protocol = "mt-sics"
url = "socket://127.0.0.1:4001"
division_kg = 10
capacity_kg = 60000
[lane.io]
url = "tcp://127.0.0.1:5020"
"""


def test_a_minimal_file_takes_the_defaults(site: Path) -> None:
    site.write_text(MINIMAL)
    config = load_site_config(site)
    (lane,) = config.lanes
    assert not config.broker.tls
    assert config.broker.mqtt_version == "5"
    assert config.http.bind == "127.0.0.1:8080"
    assert lane.passes == "two"
    assert (lane.entry_camera, lane.exit_camera) == ("gate-a-entry", "gate-a-exit")
    assert isinstance(lane.scale, SerialScale)
    assert (lane.scale.baud, lane.scale.unit, lane.scale.poll_interval_s) == (9600, "kg", 0.1)
    assert (lane.io.unit_id, lane.io.barrier, lane.io.pulse_ms) == (1, "pulse", 500)
    thresholds = lane.thresholds
    assert (thresholds.band_e, thresholds.window_ms, thresholds.min_plate_conf) == (1, 1000, 80)
    assert (thresholds.zero_band_e, thresholds.tare_tolerance_kg) == (2, 300)


def test_an_inline_register_map(site: Path) -> None:
    edit(
        site, 'modbus = "hr-int32"', 'modbus = { name = "laumas", gross = 7, net = 9, status = 6 }'
    )
    scale = load_site_config(site).lanes[1].scale
    assert isinstance(scale, ModbusScale)
    assert (scale.modbus.name, scale.modbus.gross, scale.modbus.status) == ("laumas", 7, 6)


def test_a_register_map_file_next_to_the_site_file(site: Path) -> None:
    (site.parent / "maps").mkdir()
    (site.parent / "maps" / "c500.toml").write_text('name = "c500"\narea = "input"\ngross = 0\n')
    edit(site, 'modbus = "hr-int32"', 'modbus = "maps/c500.toml"')
    scale = load_site_config(site).lanes[1].scale
    assert isinstance(scale, ModbusScale)
    assert (scale.modbus.name, scale.modbus.area.value) == ("c500", "input")


def test_modbus_tcp_devices_share_a_gateway_with_distinct_units(site: Path) -> None:
    edit(site, 'url = "rtu:///dev/ttyUSB1?baud=9600"', 'url = "tcp://10.0.0.5:502"')
    edit(site, 'url = "rtu:///dev/ttyUSB1?baud=9600"', 'url = "tcp://10.0.0.5"')
    lane = load_site_config(site).lanes[1]
    assert isinstance(lane.scale, ModbusScale)
    assert lane.scale.address == lane.io.address


# --- broken files: one exact line each -----------------------------------------------------

LANE2_SCALE = 'modbus = "hr-int32"'
BROKEN: dict[str, tuple[str, str, str]] = {
    "division": ("division_kg = 20", "division_kg = 3",
                 "42: lane[1].scale.division_kg: must be 1, 2 or 5 \N{MULTIPLICATION SIGN} "
                 "10^n kg (got 3)"),
    "capacity off the grid": ("capacity_kg = 100000", "capacity_kg = 100010",
                              "43: lane[1].scale.capacity_kg: must be a multiple of division_kg "
                              "20 (got 100010)"),
    "too few divisions": ("capacity_kg = 60000", "capacity_kg = 600",
                          "75: lane[2].scale.capacity_kg: 600 kg is 60 divisions of 10 kg; a "
                          "class III truck scale has 500-10000 (OIML R76)"),
    "a string for a number": ("baud = 9600", 'baud = "9600"',
                              "41: lane[1].scale.baud: must be a valid integer (got '9600')"),
    "a typo": ("baud = 9600", "buad = 9600",
               "41: lane[1].scale.buad: unknown key; did you mean 'baud'?"),
    "unknown protocol": ('protocol = "toledo"', 'protocol = "tolado"',
                         "39: lane[1].scale.protocol: must be 'mt-sics', 'toledo', 'xk3190-a9', "
                         "'xk3190-a12' or 'xk3190-eq' (got 'tolado')"),
    "unknown preset": (LANE2_SCALE, 'modbus = "hr-int64"',
                       "71: lane[2].scale.modbus: 'hr-int64' is neither a preset (hr-int32, "
                       "ir-c500) nor a .toml map file"),
    "inline map without gross": (LANE2_SCALE, "modbus = { net = 2 }",
                                 "71: lane[2].scale.modbus.gross: required (the gross weight's "
                                 "address)"),
    "both protocol and modbus": (LANE2_SCALE, 'protocol = "toledo"\n' + LANE2_SCALE,
                                 "70: lane[2].scale: needs either protocol (a serial indicator) "
                                 "or modbus (a Modbus transmitter), not both"),
    "settle not after the window": ("window_ms = 1000", "window_ms = 40000",
                                    "52: lane[1].thresholds: settle_timeout_ms (30000) must be "
                                    "longer than window_ms (40000)"),
    "duplicate lane id": ('id = "lane2"', 'id = "lane1"',
                          "66: lane[2].id: lane 'lane1' is defined twice (also lane[1])"),
    "two lanes on one camera": ('entry = "north-anpr-in"', 'entry = "lane1-exit"',
                                "88: lane[2].cameras.entry: camera 'lane1-exit' is already "
                                "lane[1]'s exit camera; each camera names one lane and side"),
    "one unit id twice on a line": ("unit_id = 1\nbarrier = \"level\"",
                                    "unit_id = 2\nbarrier = \"level\"",
                                    "80: lane[2].io.unit_id: unit 2 on /dev/ttyUSB1 is already "
                                    "lane[2].scale; devices sharing a line need different unit "
                                    "ids"),
    "one line, two baud rates": ('url = "rtu:///dev/ttyUSB1?baud=9600"\nunit_id = 1',
                                 'url = "rtu:///dev/ttyUSB1?baud=19200"\nunit_id = 1',
                                 "79: lane[2].io.url: /dev/ttyUSB1 is already used by "
                                 "lane[2].scale with other settings (9600 8N1 here 19200 8N1)"),
    "a serial scale's tty shared": ('url = "rtu:///dev/ttyUSB0?baud=9600"',
                                    'url = "rtu:///dev/ttyS0?baud=9600"',
                                    "47: lane[1].io.url: /dev/ttyS0 is already used by "
                                    "lane[1].scale; a serial indicator needs a port of its own"),
    "TLS files with mqtt://": ('url = "mqtts://broker.yulin.example:8883"',
                               'url = "mqtt://broker.yulin.example:1883"',
                               "18: broker.ca_file: TLS files are for mqtts:// only; this "
                               "broker URL is mqtt://"),
    "mqtts without a certificate": ('cert_file = "tls/yl-mine-a-gate-1.pem"\n', "",
                                    "16: broker.cert_file: required for mqtts:// (CA, client "
                                    "certificate, key)"),
    "a bad broker URL": ('url = "mqtts://broker.yulin.example:8883"', 'url = "https://x"',
                         "17: broker.url: 'https://x' must look like mqtt://host:port or "
                         "mqtts://host:port"),
    "a missing key file": (f'device_key = "keys/{DEVICE}.key"', 'device_key = "keys/nope.key"',
                           "12: site.device_key: keys/nope.key: no such file"),
    "a public key as the device key": (f'device_key = "keys/{DEVICE}.key"',
                                       'device_key = "keys/central/central-1.pub"',
                                       "12: site.device_key: keys/central/central-1.pub: not an "
                                       "unencrypted PEM private key"),
    "a directory as the device key": (f'device_key = "keys/{DEVICE}.key"',
                                      'device_key = "keys"',
                                      "12: site.device_key: keys: is a directory, not a file"),
    "central keys missing": ('central_keys = "keys/central"', 'central_keys = "keys/none"',
                             "13: site.central_keys: keys/none: no such file or directory"),
    "a bad device id": (f'device = "{DEVICE}"', 'device = "Gate 1"',
                        "11: site.device: 'Gate 1' is not an id (a-z, 0-9 and '-', at most 63)"),
    "a reserved device id": (f'device = "{DEVICE}"', 'device = "central-gate"',
                             "11: site.device: 'central-gate' uses the prefix 'central-', "
                             "reserved for central"),
    "a channel out of range": ("exit = 5", "exit = 5\nred = 9999",
                               "85: lane[2].io.map.red: must be less than or equal to 1999 "
                               "(got 9999)"),
    "two signals on one input": ("exit = 5", "exit = 0",
                                 "83: lane[2].io.map: input 0 is given to both entry and exit"),
    "pulse_ms for a level barrier": ('barrier = "level"', 'barrier = "level"\npulse_ms = 300',
                                     '78: lane[2].io: pulse_ms is for barrier = "pulse"; this '
                                     'barrier is "level"'),
    "a zero window": ("window = 200", "window = 0",
                      "24: uplink.window: must be greater than or equal to 1 (got 0)"),
    "nan seconds": ("resend_after_s = 10", "resend_after_s = nan",
                    "25: uplink.resend_after_s: must be a finite number (got nan)"),
    "a bind without a port": ('bind = "0.0.0.0:8080"', 'bind = "0.0.0.0"',
                              "29: http.bind: '0.0.0.0' must be HOST:PORT with a port 1-65535"),
    "a bad Modbus URL": ('url = "rtu:///dev/ttyUSB0?baud=9600"', 'url = "rtu://ttyUSB0"',
                         "47: lane[1].io.url: 'rtu://ttyUSB0': expected rtu:///dev/PORT (three "
                         "slashes)"),
    "passes": ('passes = "single"', 'passes = "one"',
               "68: lane[2].passes: must be 'single' or 'two' (got 'one')"),
    "an unknown table": ("[uplink]", "[uplnk]", "23: uplnk: unknown key; did you mean 'uplink'?"),
    "a missing table": ("[broker]", "[brokers]",
                        "16: brokers: unknown key; did you mean 'broker'?"),
    "TOML syntax": ("[http]", "[http\n",
                    "28: TOML syntax (column 6): Expected ']' at the end of a table declaration"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_file_fails_with_one_exact_line(case: str, site: Path) -> None:
    old, new, expected = BROKEN[case]
    edit(site, old, new)
    os.chdir(site.parent)  # the line names the file as given: site.toml, paths relative to it
    with pytest.raises(SiteConfigError) as caught:
        load_site_config("site.toml")
    assert str(caught.value) == f"site.toml:{expected}"
    status, output = check(Path("site.toml"))
    assert (status, output) == (1, f"Error: site.toml:{expected}\n")


@pytest.fixture(autouse=True)
def _keep_cwd() -> object:
    before = Path.cwd()
    yield
    os.chdir(before)


@pytest.mark.parametrize(
    ("path", "option", "line"),
    [(f"keys/{DEVICE}.key", "site.device_key", 12), (f"tls/{DEVICE}.key", "broker.key_file", 20)],
)
def test_an_open_private_key_is_refused(site: Path, path: str, option: str, line: int) -> None:
    (site.parent / path).chmod(0o644)
    with pytest.raises(SiteConfigError) as caught:
        load_site_config(site)
    assert caught.value.message == (
        f"{site.parent / path} is open to others (mode 0644); a private key must be readable "
        "by its owner only: chmod 600"
    )
    assert (caught.value.option, caught.value.line) == (option, line)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "site.toml: no such file"),
        (b'[site]\nid = "\xff"\n', "site.toml:2: not UTF-8 text (TOML files are UTF-8)"),
        (b"", "site.toml: site: required, but missing"),
        (b"x = [" * 2000, "site.toml:1: TOML syntax (column 6): Invalid value"),
        (EXAMPLE.read_bytes().split(b"# Lane 1")[0], "site.toml: lane: required, but missing"),
        (b"site = 1", "site.toml:1: site: must be a table (got 1)"),
        (b"lane = 5", "site.toml:1: lane: must be an array of tables ([[lane]]) (got 5)"),
    ],
)
def test_whole_file_problems(tmp_path: Path, content: bytes | None, expected: str) -> None:
    os.chdir(tmp_path)
    if content is not None:
        Path("site.toml").write_bytes(content)
    assert check(Path("site.toml")) == (1, f"Error: {expected}\n")


def test_a_directory_is_not_a_site_file(tmp_path: Path) -> None:
    assert check(tmp_path) == (1, f"Error: {tmp_path}: is a directory, not a site file\n")


def test_the_error_is_a_config_error_with_its_parts(site: Path) -> None:
    edit(site, "division_kg = 20", "division_kg = 30")
    with pytest.raises(ConfigError) as caught:
        load_site_config(site)
    error = caught.value
    assert isinstance(error, SiteConfigError)
    assert (error.path, error.option, error.line) == (str(site), "lane[1].scale.division_kg", 42)
    assert error.message == "must be 1, 2 or 5 \N{MULTIPLICATION SIGN} 10^n kg (got 30)"
    assert error.reason == "config"


def test_the_io_map_and_thresholds_fit_the_drivers_and_the_gate(site: Path) -> None:
    # Contract with edge.io (IoMap takes the channels) and edge.gate (same threshold names).
    from edge.gate.config import LaneConfig  # noqa: PLC0415 - only this test needs them
    from edge.io.iomap import IoMap  # noqa: PLC0415

    lane = load_site_config(site).lanes[1]
    io_map = IoMap(**lane.io.map.channels())
    assert (io_map.exit, io_map.barrier_up, io_map.barrier) == (5, 6, 0)
    gate = LaneConfig(
        lane=lane.id,
        direction=lane.direction,
        passes=lane.passes,
        protocol="modbus",
        division_kg=lane.scale.division_kg,
        capacity_kg=lane.scale.capacity_kg,
        **lane.thresholds.model_dump(),
    )
    assert (gate.band_e, gate.window_ms, gate.min_plate_conf) == (1, 1000, 80)
    assert gate.entry_camera == "lane2-entry"  # the gate's default; the site file may rename


# --- fuzz ----------------------------------------------------------------------------------

_values = st.sampled_from(
    ['""', "0", "-1", "1.5", "nan", "inf", "true", "[]", "{}", '"x"', "[1, 2]", "{ a = 1 }",
     '"rtu:///dev/ttyUSB1?baud=9600"', '"tcp://h:1"', '"hr-int32"', "{ gross = 70000 }",
     "1979-05-27T07:32:00Z", "99999999999999999999", '"陕K12345"', "[[1]]"]
)  # fmt: skip


@st.composite
def _mutated(draw: st.DrawFn, text: str) -> str:
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        index = draw(st.integers(0, len(lines) - 1))
        line = lines[index]
        action = draw(st.sampled_from(["value", "delete", "duplicate", "garbage", "key"]))
        if action == "value" and "=" in line:
            lines[index] = line.split("=", 1)[0] + "= " + draw(_values)
        elif action == "delete":
            del lines[index]
        elif action == "duplicate":
            lines.insert(index, line)
        elif action == "key" and "=" in line:
            lines[index] = draw(st.from_regex(r"[a-z_]{1,12}", fullmatch=True)) + " = 1"
        else:
            lines[index] = draw(st.text(max_size=20))
        if not lines:
            break
    return "\n".join(lines)


_TABLES = ("site", "broker", "uplink", "http", "[lane]", "lane.scale", "lane.io", "lane.io.map",
           "lane.cameras", "lane.thresholds", "lane.scale.modbus")  # fmt: skip
_KEYS = ("id", "device", "device_key", "central_keys", "data_dir", "url", "ca_file", "window",
         "bind", "direction", "passes", "protocol", "modbus", "division_kg", "capacity_kg",
         "unit_id", "baud", "barrier", "pulse_ms", "entry", "exit", "band_e", "gross",
         "x")  # fmt: skip


@st.composite
def _assembled(draw: st.DrawFn) -> str:
    """Documents built from the file's own tables and keys with random values."""
    lines: list[str] = []
    for table in draw(st.lists(st.sampled_from(_TABLES), max_size=8)):
        lines.append(f"[{table}]")
        keys = draw(st.lists(st.sampled_from(_KEYS), max_size=5, unique=True))
        lines.extend(f"{key} = {draw(_values)}" for key in keys)
    return "\n".join(lines)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_random_documents_give_a_config_or_one_line(site: Path, data: st.DataObject) -> None:
    text = EXAMPLE.read_text()
    document = data.draw(_mutated(text) | _assembled() | st.text(max_size=200), label="document")
    path = site.parent / "fuzz.toml"
    path.write_text(document, errors="surrogatepass")
    try:
        config = load_site_config(path)
    except SiteConfigError as exc:
        line = str(exc)
        assert line.startswith(str(path))
        assert "\n" not in line
        assert "Traceback" not in line
    else:
        assert isinstance(config, SiteConfig)
    status, output = check(path)
    assert status in (0, 1)
    assert output.count("\n") >= 1
