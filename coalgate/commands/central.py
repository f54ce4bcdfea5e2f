"""``coalgate central``: administer and run the regulator's service on one configuration.

Settings come from the environment (central/config.py): ``COALGATE_DATABASE_URL`` (SQLite
under ``COALGATE_DATA_DIR`` when unset), ``COALGATE_MQTT_URL``, ``COALGATE_ISSUER``.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import getpass
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast

import click
import paho.mqtt.client as mqtt
import uvicorn
from paho.mqtt.enums import CallbackAPIVersion

from central.api.app import create_app
from central.api.tokens import create_token
from central.config import Settings
from central.errors import CentralError
from central.ingest.worker import IngestWorker
from central.keyring import Keyring, load_keyring
from central.registry import enroll as enroll_device
from central.registry import import_vehicles, vehicle, vehicles_from_csv
from central.store import open_store
from central.store.base import Store
from central.store.model import TICKET_STATES, TOKEN_ROLES, Checkpoint, Enterprise, Site, TokenRole
from central.ticketing import lifecycle
from central.ticketing import service as ticketing
from central.ticketing.bundles import BundlePublisher
from central.ticketing.rules import TicketRequest
from central.transparency.publisher import TreeHeadPublisher
from central.webhooks.worker import WebhookWorker
from coalgate.commands.central_ca import ca, revoke_device_certificates
from wire.ids import check_device_id
from wire.keysets import encode_cose_key_set, jwks
from wire.tickets import ticket_qr


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _settings() -> Settings:
    return Settings.from_env(os.environ)


@contextmanager
def _store(settings: Settings) -> Iterator[Store]:
    if settings.database_url.startswith("sqlite:///"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(settings.database_url)
    try:
        store.migrate()
        yield store
    finally:
        store.close()


def _keyring(settings: Settings) -> Keyring:
    return load_keyring(settings.keys_dir, today=dt.datetime.now(dt.UTC).date())


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


class _CentralGroup(click.Group):
    """Turns central's own errors into one line, like the main command does for wire's."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except CentralError as exc:
            raise click.ClickException(exc.message) from exc


@click.group(cls=_CentralGroup)
def central() -> None:
    """The regulator's service: registry, enrollment, ingest, tickets, the API."""


central.add_command(ca)


@central.command("migrate")
def migrate() -> None:
    """Create or upgrade the database schema (also done at every start)."""
    settings = _settings()
    if settings.database_url.startswith("sqlite:///"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(settings.database_url)
    try:
        applied = store.migrate()
    finally:
        store.close()
    click.echo(
        f"{store.backend}: " + (f"applied {', '.join(applied)}" if applied else "up to date")
    )


@central.group("enterprise")
def enterprise() -> None:
    """Enterprises (the companies that own sites)."""


@enterprise.command("add")
@click.option("--id", "enterprise_id", required=True)
@click.option("--name", required=True)
@click.option("--credit-code", required=True, help="Unified social credit code (18 characters).")
@click.option("--land-mu", required=True, type=click.FloatRange(min=0))
@click.option("--capacity-t", required=True, type=click.IntRange(min=0), help="Tonnes a year.")
def enterprise_add(
    enterprise_id: str, name: str, credit_code: str, land_mu: float, capacity_t: int
) -> None:
    value = Enterprise(
        id=enterprise_id, name=name, credit_code=credit_code, land_mu=land_mu, capacity_t=capacity_t
    )
    with _store(_settings()) as store:
        store.add_enterprise(value, actor=_actor(), at=_now_ms())
    click.echo(f"enterprise {enterprise_id} added")


@central.group("site")
def site() -> None:
    """Sites: coal mines, magnesium smelters, semi-coke plants."""


@site.command("add")
@click.option("--id", "site_id", required=True)
@click.option("--enterprise", required=True)
@click.option(
    "--kind",
    required=True,
    type=click.Choice(["coal_mine", "magnesium_smelter", "semi_coke_plant", "other"]),
)
@click.option("--name", required=True)
@click.option("--lat", type=click.FloatRange(-90, 90))
@click.option("--lon", type=click.FloatRange(-180, 180))
def site_add(
    site_id: str, enterprise: str, kind: str, name: str, lat: float | None, lon: float | None
) -> None:
    value = Site(id=site_id, enterprise=enterprise, kind=kind, name=name, lat=lat, lon=lon)  # type: ignore[arg-type]
    with _store(_settings()) as store:
        store.add_site(value, actor=_actor(), at=_now_ms())
    click.echo(f"site {site_id} added")


@central.group("checkpoint")
def checkpoint() -> None:
    """Road checkpoints (their locations give travel times)."""


@checkpoint.command("add")
@click.option("--id", "checkpoint_id", required=True)
@click.option("--name", required=True)
@click.option("--lat", required=True, type=click.FloatRange(-90, 90))
@click.option("--lon", required=True, type=click.FloatRange(-180, 180))
def checkpoint_add(checkpoint_id: str, name: str, lat: float, lon: float) -> None:
    with _store(_settings()) as store:
        store.add_checkpoint(
            Checkpoint(id=checkpoint_id, name=name, lat=lat, lon=lon), actor=_actor(), at=_now_ms()
        )
    click.echo(f"checkpoint {checkpoint_id} added")


@central.group("vehicle")
def vehicle_group() -> None:
    """Vehicles: axles and kind for the legal limit, registered tare."""


@vehicle_group.command("add")
@click.option("--plate", required=True)
@click.option("--axles", required=True, type=int)
@click.option("--kind", required=True, type=click.Choice(["rigid", "combination"]))
@click.option("--single-drive/--multi-drive", default=False, help="Single drive axle (6+ axles).")
@click.option("--tare-kg", type=int)
@click.option("--trailer", help="The semi-trailer's plate (ending in 挂).")
@click.option("--publish/--no-publish", default=True, help="Send the rebuilt site bundles.")
def vehicle_add(
    plate: str,
    axles: int,
    kind: str,
    single_drive: bool,
    tare_kg: int | None,
    trailer: str | None,
    publish: bool,
) -> None:
    value = vehicle(
        plate=plate, axles=axles, kind=kind, single_drive=single_drive, tare_kg=tare_kg,
        trailer=trailer,
    )  # fmt: skip
    settings = _settings()
    with _store(settings) as store:
        import_vehicles(store, [value], actor=_actor(), now_ms=_now_ms())
        click.echo(f"vehicle {value.plate} saved")
        if publish:
            _publish_bundles(settings, store, _enrolled_sites(store))


@vehicle_group.command("import")
@click.argument("csv_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--publish/--no-publish", default=True, help="Send the rebuilt site bundles.")
def vehicle_import(csv_file: Path, publish: bool) -> None:
    """Import vehicles from CSV (plate,axles,kind,single_drive,tare_kg,trailer); all or none."""
    values = vehicles_from_csv(csv_file.read_text(encoding="utf-8-sig"))
    settings = _settings()
    with _store(settings) as store:
        count = import_vehicles(store, values, actor=_actor(), now_ms=_now_ms())
        click.echo(f"{count} vehicles saved")
        if publish and count:
            _publish_bundles(settings, store, _enrolled_sites(store))


@central.command("enroll")
@click.option("--site", required=True)
@click.option("--device", required=True)
@click.option(
    "--pubkey", required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path)
)
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="Also write the COSE bytes."
)
def enroll(site: str, device: str, pubkey: Path, out: Path | None) -> None:
    """Enroll a device key; prints its certificate (base64 COSE)."""
    settings = _settings()
    with _store(settings) as store:
        certificate = enroll_device(
            store, _keyring(settings), issuer=settings.issuer, site=site, device=device,
            public_key_pem=pubkey.read_bytes(), now_ms=_now_ms(), actor=_actor(),
        )  # fmt: skip
    if out is not None:
        out.write_bytes(certificate.raw)
    click.echo(base64.b64encode(certificate.raw).decode())


@central.command("revoke")
@click.option("--device", required=True)
def revoke(device: str) -> None:
    """Revoke a device now: its records above the last stored seq are quarantined; its TLS
    certificates are revoked in the device CA, if there is one (docs/operations.md)."""
    now_ms = _now_ms()
    with _store(_settings()) as store:
        revoked = store.revoke_device(device, actor=_actor(), at=now_ms)
    click.echo(f"device {device} revoked above seq {revoked.revoked_above_seq}")
    certificates = revoke_device_certificates(device, now_ms=now_ms)
    if certificates is not None:
        click.echo(certificates)


@central.command("keys")
@click.option("--format", "fmt", type=click.Choice(["jwks", "cose"]), default="jwks")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path))
def keys(fmt: str, out: Path | None) -> None:
    """Central's public key set, for checkpoints and verifiers (JWKS or COSE_KeySet)."""
    published = _keyring(_settings()).published
    data = (
        json.dumps(jwks(published), indent=2).encode() + b"\n"
        if fmt == "jwks"
        else encode_cose_key_set(published)
    )
    if out is None:
        if fmt == "cose":
            raise click.UsageError("a COSE_KeySet is binary: give --out FILE")
        click.echo(data.decode(), nl=False)
    else:
        out.write_bytes(data)
        click.echo(f"wrote {out}")


@central.command("ingest")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True)
@click.option("--worker-number", type=click.IntRange(1), hidden=True)
def ingest(workers: int, worker_number: int | None) -> None:
    """Run ingest workers until SIGTERM or Ctrl-C."""
    settings = _settings()
    if workers > 1 and not settings.database_url.startswith(("postgresql://", "postgres://")):
        raise click.UsageError("several workers need PostgreSQL (SQLite allows one writer)")
    if workers > 1 and worker_number is None:
        _supervise(workers)
        return
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with _store(settings) as store:
        worker = IngestWorker(
            store=store,
            keyring=_keyring(settings),
            mqtt_url=settings.mqtt,
            number=worker_number or 1,
            shared=worker_number is not None,
            gap_grace_ms=settings.gap_grace_ms,
        )
        worker.start()
        click.echo(f"{worker.client_id} ingesting from {settings.mqtt.host}:{settings.mqtt.port}")
        try:
            stop.wait()
        finally:
            worker.stop()
        stats = worker.stats
        click.echo(
            f"{worker.client_id} stopped: {stats.inserted} stored, {stats.duplicates} duplicates, "
            f"{stats.quarantined} quarantined"
        )


def _supervise(workers: int) -> None:
    """N worker processes on the shared subscription; stop them all on SIGTERM/Ctrl-C."""
    command = [sys.executable, "-m", "coalgate", "central", "ingest", "--workers", str(workers)]
    children = [
        subprocess.Popen([*command, "--worker-number", str(number)])  # noqa: S603 - our own CLI
        for number in range(1, workers + 1)
    ]
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            if any(child.poll() is not None for child in children):
                click.echo("an ingest worker exited; stopping the others", err=True)
                break
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            child.wait(timeout=30)


# --- tickets --------------------------------------------------------------------------------

_PUBLISH_TIMEOUT_S = 5.0


@central.group("ticket")
def ticket() -> None:
    """E-tickets: issue within quota, revoke, list (site bundles are rebuilt and sent)."""


@ticket.command("issue")
@click.option("--enterprise", required=True, help="The selling enterprise (its quota).")
@click.option("--seller-site", required=True)
@click.option("--buyer", required=True, help="The buying enterprise's id.")
@click.option("--plate", required=True, help="The tractor or truck plate.")
@click.option("--coal", required=True, help="Coal type code.")
@click.option("--max-net-kg", required=True, type=int)
@click.option("--dest-site", required=True, help="An enrolled site (one active device at least).")
@click.option("--valid-hours", type=click.IntRange(min=1), default=48, show_default=True)
@click.option("--transit-hours", type=click.IntRange(min=1), default=48, show_default=True)
@click.option("--publish/--no-publish", default=True, help="Send the rebuilt site bundles.")
def ticket_issue(
    enterprise: str,
    seller_site: str,
    buyer: str,
    plate: str,
    coal: str,
    max_net_kg: int,
    dest_site: str,
    valid_hours: int,
    transit_hours: int,
    publish: bool,
) -> None:
    """Issue one ticket; prints its id, its number and its CT1: QR text."""
    request = TicketRequest(
        enterprise=enterprise, seller_site=seller_site, buyer=buyer, plate=plate, coal=coal,
        max_net_kg=max_net_kg, dest_site=dest_site, valid_s=valid_hours * 3600,
        transit_s=transit_hours * 3600,
    )  # fmt: skip
    settings = _settings()
    with _store(settings) as store:
        issued = ticketing.issue(
            store, _keyring(settings), request, issuer=settings.issuer, now_ms=_now_ms(),
            actor=_actor(),
        )  # fmt: skip
        click.echo(f"cti: {issued.ticket.id}")
        click.echo(f"no: {issued.ticket.no}")
        click.echo(f"qr: {ticket_qr(issued.ticket)}")
        if publish:
            _publish_bundles(settings, store, lifecycle.concerned_sites(issued.stored))


@ticket.command("revoke")
@click.option("--cti", required=True, help="The ticket id (32 hex characters).")
@click.option("--publish/--no-publish", default=True, help="Send the rebuilt site bundles.")
def ticket_revoke(cti: str, publish: bool) -> None:
    """Revoke an issued (or loaded) ticket."""
    value = ticketing.parse_cti(cti)
    settings = _settings()
    with _store(settings) as store:
        revoked = ticketing.revoke(store, value, actor=_actor(), now_ms=_now_ms())
        click.echo(f"ticket {revoked.no} ({revoked.id}) revoked")
        if publish:
            _publish_bundles(settings, store, lifecycle.concerned_sites(revoked))


@ticket.command("list")
@click.option("--state", type=click.Choice(TICKET_STATES))
@click.option("--enterprise", help="Tickets where it is seller or buyer.")
@click.option("--site", help="Tickets where it is seller site or destination.")
def ticket_list(state: str | None, enterprise: str | None, site: str | None) -> None:
    """Tickets in issue order: id, number, state, flags, plate, route, max / source / dest net."""
    with _store(_settings()) as store:
        tickets = store.list_tickets(state=state, enterprise=enterprise, site=site)
    for t in tickets:
        nets = "/".join("-" if n is None else str(n) for n in (t.source_net_kg, t.dest_net_kg))
        click.echo(
            f"{t.id}  {t.no}  {t.state:<7}  {','.join(sorted(t.flags)) or '-'}  {t.plate}  "
            f"{t.seller_site} -> {t.dest_site}  max {t.max_net_kg}  net {nets}"
        )


def _enrolled_sites(store: Store) -> set[str]:
    return {d.site for d in store.list_devices() if d.state == "active"}


class _Tracking:
    """paho's client, keeping each publish's info so the command can wait for delivery."""

    def __init__(self, client: mqtt.Client) -> None:
        self.client = client
        self.infos: list[mqtt.MQTTMessageInfo] = []

    def publish(
        self, topic: str, payload: bytes, qos: int = 0, retain: bool = False
    ) -> mqtt.MQTTMessageInfo:
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        self.infos.append(info)
        return info


def _publish_bundles(settings: Settings, store: Store, sites: set[str] | frozenset[str]) -> None:
    """Rebuild and send the bundles of ``sites`` that have active devices. A broker that cannot
    be reached is one warning line, not a failure: the change is stored, and the next change
    (or the ingest worker) sends a newer full snapshot."""
    targets = sorted(set(sites) & _enrolled_sites(store))
    if not targets:
        return
    url = settings.mqtt
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"central-cli-{os.getpid()}")
    if url.username is not None:
        client.username_pw_set(url.username, url.password)
    if url.tls:
        client.tls_set()
    try:
        client.connect(url.host, url.port, keepalive=30)
    except OSError as exc:
        click.echo(
            f"warning: bundles of {', '.join(targets)} not sent: broker {url.host}:{url.port} "
            f"unreachable ({exc}); they go out with the next change",
            err=True,
        )
        return
    client.loop_start()
    try:
        tracking = _Tracking(client)
        publisher = BundlePublisher(
            store=store, keyring=_keyring(settings), client=tracking, clock=_now_ms
        )
        bundles = publisher.publish_sites(targets)
        for info in tracking.infos:
            info.wait_for_publish(_PUBLISH_TIMEOUT_S)
        sent = ", ".join(f"{b.site} v{b.version}" for b in bundles)
        if all(info.is_published() for info in tracking.infos):
            click.echo(f"bundles sent: {sent}")
        else:
            click.echo(f"warning: bundles {sent} not confirmed by the broker in time", err=True)
    finally:
        client.disconnect()
        client.loop_stop()


# --- API ------------------------------------------------------------------------------------


@central.group("token")
def token() -> None:
    """Bearer tokens for the API (stored hashed; shown once)."""


@token.command("create")
@click.option("--role", required=True, type=click.Choice(TOKEN_ROLES))
@click.option("--enterprise", help="The enterprise an enterprise token acts for.")
@click.option("--device", help="The device id a device token may enroll.")
@click.option("--checkpoint", help="The registered checkpoint a checkpoint token records for.")
def token_create(
    role: str, enterprise: str | None, device: str | None, checkpoint: str | None
) -> None:
    """Create a token and print it once (only its SHA-256 is stored)."""
    if (role == "enterprise") != (enterprise is not None):
        raise click.UsageError("--enterprise goes with --role enterprise, and only with it")
    if (role == "device") != (device is not None):
        raise click.UsageError("--device goes with --role device, and only with it")
    if (role == "checkpoint") != (checkpoint is not None):
        raise click.UsageError("--checkpoint goes with --role checkpoint, and only with it")
    if device is not None:
        check_device_id(device, field="--device")
    with _store(_settings()) as store:
        text, stored = create_token(
            store, role=cast(TokenRole, role), enterprise=enterprise, device=device,
            checkpoint=checkpoint, actor=_actor(), now_ms=_now_ms(),
        )  # fmt: skip
    click.echo(f"token {stored.id} ({role}); keep it now, it is not shown again:", err=True)
    click.echo(text)


@token.command("list")
def token_list() -> None:
    """Tokens by id: role, scope, created, revoked (never the token)."""
    with _store(_settings()) as store:
        tokens = store.list_tokens()
    for t in tokens:
        scope = t.enterprise or t.device or t.checkpoint or "-"
        state = "active" if t.revoked_at is None else f"revoked {t.revoked_at}"
        click.echo(f"{t.id}  {t.role:<10}  {scope}  created {t.created_at}  {state}")


@token.command("revoke")
@click.option("--id", "token_id", required=True, type=click.IntRange(min=1))
def token_revoke(token_id: int) -> None:
    """Revoke a token now: the API refuses it from the next request on."""
    with _store(_settings()) as store:
        store.revoke_token(token_id, actor=_actor(), at=_now_ms())
    click.echo(f"token {token_id} revoked")


@central.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option("--ingest/--no-ingest", default=True, help="Also run one ingest worker.")
def run(host: str, port: int, ingest: bool) -> None:
    """Serve the API (and ingest, unless --no-ingest) until SIGTERM or Ctrl-C; sign and publish
    the transparency log's tree head every COALGATE_STH_INTERVAL_S."""
    settings = _settings()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    # uvicorn catches SIGTERM/SIGINT while it serves and, once shut down, raises the signal
    # again for the handler it found: this one, so the worker and the store still close
    # cleanly (and a signal that comes before uvicorn starts skips serving).
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    with _store(settings) as store:
        keyring = _keyring(settings)
        client = _bundle_client(settings)
        publisher = BundlePublisher(store=store, keyring=keyring, client=client, clock=_now_ms)
        heads = TreeHeadPublisher(
            store=store, keyring=keyring, client=client, clock=_now_ms,
            interval_s=settings.sth_interval_s,
        )  # fmt: skip
        worker: IngestWorker | None = None
        try:
            heads.start()
            if ingest:
                worker = IngestWorker(
                    store=store, keyring=keyring, mqtt_url=settings.mqtt,
                    gap_grace_ms=settings.gap_grace_ms,
                )  # fmt: skip
                worker.start()
                click.echo(f"{worker.client_id} ingesting from {settings.mqtt.host}:"
                           f"{settings.mqtt.port}")  # fmt: skip
            app = create_app(store=store, keyring=keyring, settings=settings, publisher=publisher)
            config = uvicorn.Config(app, host=host, port=port, log_level="info", access_log=False)
            # uvicorn stops accepting, finishes the requests in hand, runs the lifespan's
            # shutdown and returns here.
            if not stopping.is_set():
                uvicorn.Server(config).run()
        finally:
            if worker is not None:
                worker.stop()
            heads.stop()
            client.disconnect()
            client.loop_stop()
    click.echo("central stopped")


def _bundle_client(settings: Settings) -> mqtt.Client:
    """The API's own MQTT connection for bundles: it connects in the background and
    reconnects by itself, so the API serves while the broker is away (a bundle that cannot be
    queued then is logged; the next change sends a newer full snapshot)."""
    url = settings.mqtt
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"central-api-{os.getpid()}")
    if url.username is not None:
        client.username_pw_set(url.username, url.password)
    if url.tls:
        client.tls_set()
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    client.connect_async(url.host, url.port, keepalive=30)
    client.loop_start()
    return client


@central.group("webhooks")
def webhooks_group() -> None:
    """Signed webhooks of the credit and trucks feeds (docs/feeds.md)."""


@webhooks_group.command("run")
@click.option("--interval-s", type=click.FloatRange(0.1, 3600), default=5.0, show_default=True)
def webhooks_run(interval_s: float) -> None:
    """Build new feed items and deliver the webhooks due, until SIGTERM or Ctrl-C."""
    settings = _settings()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    with _store(settings) as store:
        worker = WebhookWorker(
            store=store, settings=settings.feeds, clock=_now_ms, interval_s=interval_s
        )
        asyncio.run(_run_webhooks(worker))
    click.echo("webhooks stopped")


async def _run_webhooks(worker: WebhookWorker) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, worker.stop)
    click.echo("webhooks delivering", err=True)
    await worker.run()
