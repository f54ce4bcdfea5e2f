"""The deployment files that cannot run here: systemd units (checked by ``systemd-analyze
verify`` with the venv's coalgate in place of /opt/coalgate), the compose file (YAML, the files
it references, the commands it runs), and ``backup.sh`` (it only parses: the test server allows
no replication connections)."""

from __future__ import annotations

import functools
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.test_cli_wire import COALGATE

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = sorted(
    p for p in (DEPLOY / "systemd").iterdir() if p.suffix in (".service", ".timer", ".path")
)
INSTALLED = "/opt/coalgate/bin/coalgate"


def exec_lines(unit: Path) -> list[list[str]]:
    return [
        shlex.split(line.split("=", 1)[1])
        for line in unit.read_text().splitlines()
        if line.startswith("ExecStart=")
    ]


@functools.cache
def help_text(*words: str) -> str:
    result = subprocess.run(
        [COALGATE, *words, "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, f"coalgate {' '.join(words)}: {result.stderr}"
    return result.stdout


def check_cli(argv: list[str]) -> None:
    """``argv`` (after the program) names a real command, and each option it passes is one of
    that command's options."""
    words: list[str] = []  # the command path: the words before the first option
    for arg in argv:
        if arg.startswith("-"):
            break
        words.append(arg)
    assert words, argv
    text = help_text(*words)
    for option in (a.split("=", 1)[0] for a in argv if a.startswith("--")):
        if option != "--help":
            assert re.search(rf"(^|[\s,]){re.escape(option)}\b", text), (option, argv)


def test_the_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed; the CLI check below still runs")
    for unit in UNITS:
        text = unit.read_text().replace(INSTALLED, COALGATE)
        (tmp_path / unit.name).write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", *(unit.name for unit in UNITS)],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr  # unknown keys are only warnings


def test_every_unit_runs_a_real_command_with_its_hardening() -> None:
    services = [u for u in UNITS if u.suffix == ".service"]
    commands = 0
    for unit in services:
        text = unit.read_text()
        for argv in exec_lines(unit):
            if argv[0] == INSTALLED:
                check_cli(argv[1:])
                commands += 1
        if INSTALLED in text:  # ours, not the one-line reload helper
            for setting in ("User=coalgate", "NoNewPrivileges=yes", "ProtectSystem=strict",
                            "StateDirectory=coalgate", "CapabilityBoundingSet=\n"):  # fmt: skip
                assert setting in text, (unit.name, setting)
    assert commands >= 6
    edge = exec_lines(DEPLOY / "systemd" / "coalgate-edge.service")
    assert edge == [[INSTALLED, "edge", "run", "--config", "/etc/coalgate/site.toml",
                     "--log-format", "json"]]  # fmt: skip


def test_the_compose_file_references_what_exists() -> None:
    yaml = pytest.importorskip("yaml")
    compose_dir = DEPLOY / "compose"
    spec = yaml.safe_load((compose_dir / "compose.yaml").read_text())
    services = spec["services"]
    assert {"postgres", "mosquitto", "api", "ingest", "webhooks"} <= set(services)
    assert "timescale" in services["postgres"]["image"]
    for name, service in services.items():
        build = service.get("build")
        if build is not None:
            assert (compose_dir / build["context"] / build["dockerfile"]).is_file(), name
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (compose_dir / source).exists(), (name, volume)
            else:
                assert source in spec["volumes"], (name, volume)
        if service.get("network_mode", "").startswith("service:"):
            assert service["network_mode"].removeprefix("service:") in services
        if service.get("image") == "coalgate:local":
            check_cli([str(a) for a in service["command"]])
        if service.get("env_file"):
            assert (compose_dir / service["env_file"]).is_file()
    mosquitto = services["mosquitto"]
    assert "../mosquitto/mosquitto.conf:/etc/mosquitto/mosquitto.conf:ro" in mosquitto["volumes"]
    for secret in spec["secrets"].values():
        path = compose_dir / secret["file"]
        assert path.exists() or path.with_name(path.name + ".example").exists()
    dockerfile = (compose_dir / "Dockerfile").read_text()
    for line in dockerfile.splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), line


def test_backup_script_parses() -> None:
    result = subprocess.run(
        ["bash", "-n", str(DEPLOY / "postgres" / "backup.sh")],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
