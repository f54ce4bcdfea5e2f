"""Central's settings, read once in ``main`` from the environment and passed down.

| variable | default |
|---|---|
| ``COALGATE_DATA_DIR`` | ``./data`` (central's keys, and the SQLite database by default) |
| ``COALGATE_DATABASE_URL`` | ``sqlite:///<data dir>/central.db``; or ``postgresql://…`` |
| ``COALGATE_MQTT_URL`` | ``mqtt://127.0.0.1:1883`` (``mqtts://`` for TLS) |
| ``COALGATE_ISSUER`` | ``coalgate-central`` (the ``iss`` of tickets and certificates) |
| ``COALGATE_GAP_GRACE_S`` | ``600`` (WIRE.md: a missing seq alarms after 10 min) |
| ``COALGATE_STH_INTERVAL_S`` | ``60`` (how often a tree head is signed and sent) |

The feeds' settings (coal prices, grade quantiles, speeds…) are in :mod:`central.feeds.settings`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from central.errors import ConfigError
from central.feeds.settings import FeedSettings
from wire.ids import is_valid_id


@dataclass(frozen=True, slots=True, kw_only=True)
class MqttUrl:
    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> MqttUrl:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ConfigError(f"MQTT URL {url!r} must look like mqtt://host:port or mqtts://…")
        try:
            port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
        except ValueError:
            raise ConfigError(f"MQTT URL {url!r} has an invalid port") from None
        return cls(
            host=parts.hostname,
            port=port,
            tls=parts.scheme == "mqtts",
            username=parts.username,
            password=parts.password,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    data_dir: Path
    database_url: str
    mqtt: MqttUrl
    issuer: str
    gap_grace_ms: int
    sth_interval_s: int = 60
    feeds: FeedSettings = field(default_factory=FeedSettings)

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        data_dir = Path(env.get("COALGATE_DATA_DIR", "data")).resolve()
        database_url = env.get("COALGATE_DATABASE_URL") or f"sqlite:///{data_dir / 'central.db'}"
        if not database_url.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ConfigError(
                f"COALGATE_DATABASE_URL {database_url!r} must be sqlite:///path or postgresql://…"
            )
        issuer = env.get("COALGATE_ISSUER", "coalgate-central")
        if not is_valid_id(issuer):
            raise ConfigError(f"COALGATE_ISSUER {issuer!r} must be an id ([a-z0-9][a-z0-9-]*)")
        grace = env.get("COALGATE_GAP_GRACE_S", "600")
        if not grace.isdigit():
            raise ConfigError(f"COALGATE_GAP_GRACE_S {grace!r} must be whole seconds")
        interval = env.get("COALGATE_STH_INTERVAL_S", "60")
        if not interval.isdigit() or int(interval) < 1:
            raise ConfigError(f"COALGATE_STH_INTERVAL_S {interval!r} must be whole seconds, ≥ 1")
        return cls(
            data_dir=data_dir,
            database_url=database_url,
            mqtt=MqttUrl.parse(env.get("COALGATE_MQTT_URL", "mqtt://127.0.0.1:1883")),
            issuer=issuer,
            gap_grace_ms=int(grace) * 1000,
            sth_interval_s=int(interval),
            feeds=FeedSettings.from_env(env),
        )
