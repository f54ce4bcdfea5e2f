"""``coalgate edge run`` (the gate house's agent) and ``coalgate edge enroll`` (its key)."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

import click

from edge.config import SiteConfig, load_site_config
from edge.errors import EdgeError, SiteConfigError
from edge.gate.outputs import Say
from edge.runtime.agent import EdgeAgent
from edge.runtime.display import Display, Language, LedDisplay
from edge.runtime.enroll import enroll_device
from edge.runtime.logs import configure_logging
from wire.errors import WireError


def _led(value: str) -> tuple[str, str]:
    lane, sep, target = value.partition("=")
    if not sep or not lane or not target:
        raise click.BadParameter(f"{value!r} must be LANE=TARGET (a URL or a serial port)")
    return lane, target


@click.command("run")
@click.option(
    "--config", "config_path", required=True, type=click.Path(path_type=Path),
    help="The site file (TOML), as `coalgate edge check-config` checks it.",
)  # fmt: skip
@click.option(
    "--log-format", type=click.Choice(["json", "kv"]), default="json", show_default=True,
    help="One JSON object per line, or key=value pairs, on stderr.",
)  # fmt: skip
@click.option(
    "--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
    show_default=True,
)  # fmt: skip
@click.option(
    "--led", "leds", multiple=True, metavar="LANE=TARGET",
    help="An LED sign for LANE: http(s)://… (POST text/plain) or a serial port / "
    "socket://host:port (one line per message). Repeatable.",
)  # fmt: skip
@click.option(
    "--led-language", type=click.Choice(["zh", "en", "both"]), default="zh", show_default=True
)
@click.option("--led-encoding", default="gbk", show_default=True, help="Bytes sent to the sign.")
def run_command(
    config_path: Path,
    log_format: str,
    log_level: str,
    leds: tuple[str, ...],
    led_language: str,
    led_encoding: str,
) -> None:
    """Run the site's lanes until SIGTERM or Ctrl-C: scales, IO modules, cameras, the gate,
    the journal, the uplink and the local HTTP server."""
    try:
        config = load_site_config(config_path)
    except SiteConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    lanes = {lane.id for lane in config.lanes}
    signs: dict[str, str] = {}
    for value in leds:
        lane, target = _led(value)
        if lane not in lanes:
            raise click.BadParameter(f"no lane {lane!r} in {config_path}", param_hint="--led")
        signs[lane] = target
    configure_logging(log_format="json" if log_format == "json" else "kv", level=log_level.upper())
    try:
        asyncio.run(_run(config, signs, led_language, led_encoding))
    except (EdgeError, WireError, OSError) as exc:
        raise _one_line(exc) from exc
    except BaseExceptionGroup as group:  # a task of the agent failed: say the first plainly
        found = group.subgroup(lambda e: isinstance(e, EdgeError | WireError | OSError))
        if found is None:
            raise
        first = _first(found)
        raise _one_line(first) from group


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


def _one_line(exc: BaseException) -> click.ClickException:
    if isinstance(exc, EdgeError | WireError):
        return click.ClickException(f"{exc.reason}: {exc.message}")
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else ""
        return click.ClickException(f"{exc.strerror or exc}{where}")
    return click.ClickException(str(exc))


async def _run(config: SiteConfig, signs: dict[str, str], language: str, encoding: str) -> None:
    displays: list[Display] = [
        _LaneSign(lane, LedDisplay(target=target, language=_language(language), encoding=encoding))
        for lane, target in signs.items()
    ]
    agent = EdgeAgent(config=config, displays=displays)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, agent.stop)
    try:
        await agent.run()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    logging.getLogger(__name__).info("edge run: stopped cleanly")


def _language(value: str) -> Language:
    if value == "en":
        return "en"
    return "both" if value == "both" else "zh"


class _LaneSign:
    """An LED sign that shows one lane's lines only."""

    def __init__(self, lane: str, sign: LedDisplay) -> None:
        self.lane = lane
        self.sign = sign

    async def show(self, say: Say, *, lane: str, at_ms: int) -> None:
        if lane == self.lane:
            await self.sign.show(say, lane=lane, at_ms=at_ms)

    async def aclose(self) -> None:
        await self.sign.aclose()


@click.command("enroll")
@click.option("--central", required=True, help="Central's API base URL, e.g. https://central:8443")
@click.option("--token", required=True, envvar="COALGATE_ENROLL_TOKEN",
              help="An enrollment token (admin, or a device token for this device).")  # fmt: skip
@click.option("--site", required=True, help="The site id central registered.")
@click.option("--device", required=True, help="This edge's device id (the key's kid).")
@click.option(
    "--key", "key_path", required=True, type=click.Path(path_type=Path),
    help="Where to write the new device key (never over an existing file).",
)  # fmt: skip
@click.option(
    "--central-keys", "central_keys_path", type=click.Path(path_type=Path),
    help="Also write central's key set (JWKS) here, for [site] central_keys.",
)  # fmt: skip
def enroll_command(
    central: str,
    token: str,
    site: str,
    device: str,
    key_path: Path,
    central_keys_path: Path | None,
) -> None:
    """Make this edge's device key and enroll it with central."""
    try:
        enrolled = enroll_device(
            central=central, token=token, site=site, device=device, key_path=key_path,
            central_keys_path=central_keys_path,
        )  # fmt: skip
    except (EdgeError, WireError) as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"device {device} enrolled at site {site}")
    click.echo(f"  key: {enrolled.key_path} (0600)")
    click.echo(f"  certificate: {enrolled.certificate_path}")
    if enrolled.central_keys_path is not None:
        click.echo(f"  central keys: {enrolled.central_keys_path}")
