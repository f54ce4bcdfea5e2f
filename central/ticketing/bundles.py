"""Site bundles (WIRE.md "Site bundle"): build one from the store, publish it retained.

:func:`bundle_entries` is pure (store values in, wire values out); :func:`build_site_bundle`
adds the store read (which bumps the version) and central's signature; :class:`BundlePublisher`
is the thin MQTT adapter: one retained QoS 1 message per active device of the site on
``cg/v1/{site}/{device}/down/bundle``, through a paho client the caller connected.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Protocol

from central.errors import PublishError
from central.keyring import Keyring
from central.store.base import Store
from central.store.model import BundleContents
from wire.bundles import Bundle, BundleTicket, Vehicle, build_bundle
from wire.tickets import decode_ticket
from wire.topics import bundle_topic

MQTT_ERR_SUCCESS = 0  # paho.mqtt.client.MQTT_ERR_SUCCESS, without importing paho here


def bundle_entries(
    contents: BundleContents,
) -> tuple[list[BundleTicket], list[bytes], dict[str, Vehicle]]:
    """The wire values of a bundle: open tickets with state, ``loaded_at`` and source net,
    revoked ctis, vehicles by plate."""
    tickets = [
        BundleTicket(
            ticket=decode_ticket(stored.raw),  # our own bytes, verified when they were signed
            state="loaded" if stored.state == "loaded" else "issued",
            loaded_at=stored.loaded_at if stored.state == "loaded" else None,
            source_net_kg=stored.source_net_kg if stored.state == "loaded" else None,
        )
        for stored in contents.tickets
    ]
    vehicles = {
        v.plate: Vehicle(
            axles=v.axles,
            kind=v.kind,
            single_drive=v.single_drive,
            tare_kg=v.tare_kg,
            trailer=v.trailer,
        )
        for v in contents.vehicles
    }
    return tickets, list(contents.revoked), vehicles


def build_site_bundle(store: Store, keyring: Keyring, site: str, *, now_ms: int) -> Bundle:
    """The next bundle of ``site``, signed, with a version above every earlier one."""
    contents = store.bundle_contents(site, now_ms=now_ms)
    tickets, revoked, vehicles = bundle_entries(contents)
    return build_bundle(
        keyring.signing,
        site=site,
        version=contents.version,
        ts=now_ms,
        tickets=tickets,
        revoked=revoked,
        vehicles=vehicles,
    )


class _Info(Protocol):
    @property
    def rc(self) -> int: ...


class MqttPublisher(Protocol):
    """What the publisher needs of a connected paho client."""

    def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> _Info: ...


class BundlePublisher:
    """Rebuild and publish the bundles of the sites a change concerns."""

    def __init__(
        self,
        *,
        store: Store,
        keyring: Keyring,
        client: MqttPublisher,
        clock: Callable[[], int],
        logger: logging.Logger | None = None,
    ) -> None:
        self._store = store
        self._keyring = keyring
        self._client = client
        self._clock = clock
        self._log = logger or logging.getLogger(__name__)

    def publish_site(self, site: str) -> Bundle:
        """Build ``site``'s next bundle and queue it, retained, on each of its active devices'
        topics; ``PublishError`` if paho refuses one (the next change publishes a newer
        snapshot anyway)."""
        bundle = build_site_bundle(self._store, self._keyring, site, now_ms=self._clock())
        for device in self._store.list_devices(site=site):
            if device.state != "active":
                continue
            topic = bundle_topic(site, device.id)
            info = self._client.publish(topic, bundle.raw, qos=1, retain=True)
            if info.rc != MQTT_ERR_SUCCESS:
                raise PublishError(
                    f"bundle {bundle.version} for {site} not queued on {topic} (rc {info.rc})",
                    topic=topic,
                    rc=info.rc,
                )
        self._log.info("published bundle %d of %s", bundle.version, site)
        return bundle

    def publish_sites(self, sites: Iterable[str]) -> list[Bundle]:
        return [self.publish_site(site) for site in sorted(set(sites))]
