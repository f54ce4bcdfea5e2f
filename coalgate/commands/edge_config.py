"""``coalgate edge check-config FILE``: load a site file as the edge would at start.

On success a short summary (site, device, broker, lanes with their devices); on a wrong file
the one line that names the file, line, key and problem, and exit status 1.
"""

from __future__ import annotations

from pathlib import Path

import click

from edge.config import LaneSettings, SerialScale, SiteConfig, load_site_config
from edge.errors import SiteConfigError


@click.command("check-config")
@click.argument("file", type=click.Path(path_type=Path))
def check_config(file: Path) -> None:
    """Check a site file (TOML) and summarise it; a wrong one fails with one line."""
    try:
        config = load_site_config(file)
    except SiteConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    for line in summary(config):
        click.echo(line)


def summary(config: SiteConfig) -> list[str]:
    """The lines ``check-config`` prints for a good file."""
    site, broker = config.site, config.broker
    lines = [
        f"site {site.id}, device {site.device}",
        f"  keys: {site.device_key}; central {site.central_keys}; journal {site.journal_path}",
        f"  broker: {broker.url} (MQTT {broker.mqtt_version}"
        f"{', TLS' if broker.tls else ''}); http {config.http.bind}",
    ]
    for lane in config.lanes:
        lines.extend(_lane(lane))
    return lines


def _lane(lane: LaneSettings) -> list[str]:
    scale = lane.scale
    if isinstance(scale, SerialScale):
        device = f"{scale.protocol} at {scale.url} {scale.baud} baud"
    else:
        device = f"modbus {scale.modbus.name} at {scale.url} unit {scale.unit_id}"
    io = lane.io
    barrier = f"pulse {io.pulse_ms} ms" if io.barrier == "pulse" else "level"
    passes = "one pass (stored tare)" if lane.passes == "single" else "two passes"
    return [
        f"lane {lane.id}: {lane.direction}, {passes}",
        f"  scale: {device}, e = {scale.division_kg} kg, Max {scale.capacity_kg} kg",
        f"  io: {io.url} unit {io.unit_id}, barrier {barrier}",
        f"  cameras: {lane.entry_camera} (entry), {lane.exit_camera} (exit)",
    ]
