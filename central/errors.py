"""Errors raised by ``central``.

CentralError                  base of everything raised here
├── ConfigError               settings that cannot work (bad URL, missing data dir)
├── StoreError                the database failed or refused (wraps the driver's error)
│   ├── StoreUnavailableError cannot reach the database now; worth retrying later
│   ├── RevokedDuringBatchError  a device in an ingest batch was revoked meanwhile
│   └── MigrationError        a migration failed or the schema is newer than this code
├── RegistryError             an administrative request that cannot be carried out
│   ├── NotFoundError         the enterprise, site, device… does not exist
│   └── ConflictError         it exists already, or contradicts what is stored
├── IngestError               the MQTT side failed (broker unreachable, subscribe refused)
├── TicketError               a ticket request or change that breaks the ticketing rules
│   ├── QuotaExceededError    the enterprise's remaining quota is smaller than max_net_kg
│   └── TicketStateError      the change is not possible in the ticket's state
├── PublishError              a site bundle could not be handed to the MQTT client
└── CertificateError          the device CA refused (no CA, unknown device, key mismatch…)
"""

from __future__ import annotations


class CentralError(Exception):
    """Base of every error raised by ``central``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(CentralError):
    """Settings that cannot work."""


class StoreError(CentralError):
    """The database failed or refused an operation."""


class StoreUnavailableError(StoreError):
    """The database cannot be reached now (worth retrying)."""


class RevokedDuringBatchError(StoreError):
    """An ingest batch holds records of a device revoked after the batch was checked; nothing
    was written. Check the batch again with fresh device views."""

    def __init__(self, message: str, *, devices: list[str]) -> None:
        super().__init__(message)
        self.devices = devices


class MigrationError(StoreError):
    """A migration failed, or the database schema is newer than this code."""


class RegistryError(CentralError):
    """An administrative request that cannot be carried out."""


class NotFoundError(RegistryError):
    def __init__(self, message: str, *, kind: str, key: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.key = key


class ConflictError(RegistryError):
    def __init__(self, message: str, *, kind: str, key: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.key = key


class IngestError(CentralError):
    """The MQTT side failed."""


class TicketError(CentralError):
    """A ticket request or change that breaks the ticketing rules (the message says which)."""


class QuotaExceededError(TicketError):
    def __init__(
        self, message: str, *, enterprise: str, period: str, limit_kg: int, used_kg: int
    ) -> None:
        super().__init__(message)
        self.enterprise = enterprise
        self.period = period
        self.limit_kg = limit_kg
        self.used_kg = used_kg


class TicketStateError(TicketError):
    def __init__(self, message: str, *, cti: str, state: str) -> None:
        super().__init__(message)
        self.cti = cti
        self.state = state


class PublishError(CentralError):
    """A site bundle could not be queued for publishing (paho's return code is kept)."""

    def __init__(self, message: str, *, topic: str, rc: int) -> None:
        super().__init__(message)
        self.topic = topic
        self.rc = rc


class CertificateError(CentralError):
    """The device CA (``central.ca``) cannot do what was asked: no CA directory, a CA that
    exists already, a device that is not enrolled or whose key differs, an unreadable key."""
