"""Registry actions that need more than one store call: enrollment, revocation, CSV import.

Adapters (CLI, API) parse their input into these calls; each call validates what it is given
with the wire's own rules (ids, plates, keys) before the store sees it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from central.errors import RegistryError
from central.keyring import Keyring
from central.store.base import Store
from central.store.model import Device, Vehicle
from wire.certificates import Certificate, issue_certificate
from wire.errors import WireError
from wire.ids import check_device_id
from wire.keys import PublicKey
from wire.plates import check_vehicle_plate, normalize_plate


def enroll(
    store: Store,
    keyring: Keyring,
    *,
    issuer: str,
    site: str,
    device: str,
    public_key_pem: bytes,
    now_ms: int,
    actor: str,
) -> Certificate:
    """Register ``device``'s key at ``site`` and return its certificate (WIRE.md
    "Enrollment"). Enrolling the same key again renews the certificate."""
    try:
        check_device_id(device, field="device")
        key = PublicKey.from_pem(public_key_pem, kid=device, source="public key")
    except WireError as exc:
        raise RegistryError(exc.message) from exc
    store.get_site(site)  # NotFoundError before anything is signed
    certificate = issue_certificate(
        keyring.signing, iss=issuer, device_key=key, site=site, iat=now_ms // 1000
    )
    store.enroll_device(
        Device(
            id=device,
            site=site,
            public_key=key.raw,
            certificate=certificate.raw,
            state="active",
            enrolled_at=now_ms,
        ),
        actor=actor,
        at=now_ms,
    )
    return certificate


VEHICLE_COLUMNS = ("plate", "axles", "kind", "single_drive", "tare_kg", "trailer")
_TRUE = {"1", "true", "yes", "y"}
_FALSE = {"0", "false", "no", "n", ""}


def vehicle(
    *,
    plate: str,
    axles: int,
    kind: str,
    single_drive: bool,
    tare_kg: int | None,
    trailer: str | None,
) -> Vehicle:
    """A vehicle from administrator input: plates normalised, then checked like the wire does."""
    try:
        normal = normalize_plate(plate)
        check_vehicle_plate(normal, field="plate")
        trailer_plate = normalize_plate(trailer) if trailer else None
        if trailer_plate is not None:
            check_vehicle_plate(trailer_plate, field="trailer", trailer=True)
    except WireError as exc:
        raise RegistryError(exc.message) from exc
    if kind not in ("rigid", "combination"):
        raise RegistryError(f"kind must be rigid or combination, not {kind!r}")
    if not 2 <= axles <= 12:
        raise RegistryError(f"axles must be 2 to 12, not {axles}")
    if tare_kg is not None and not 0 < tare_kg < 100_000:
        raise RegistryError(f"tare_kg must be 1 to 99999 kg, not {tare_kg}")
    return Vehicle(
        plate=normal,
        axles=axles,
        kind=kind,  # type: ignore[arg-type]
        single_drive=single_drive,
        tare_kg=tare_kg,
        trailer=trailer_plate,
    )


def vehicles_from_csv(text: str) -> list[Vehicle]:
    """Parse a vehicle CSV (header: plate,axles,kind,single_drive,tare_kg,trailer); an error
    names the line, and nothing is imported unless every line is good."""
    reader = csv.DictReader(io.StringIO(text))
    missing = set(VEHICLE_COLUMNS[:4]) - set(reader.fieldnames or ())
    if missing:
        raise RegistryError(f"the CSV header lacks {', '.join(sorted(missing))}")
    result: list[Vehicle] = []
    for row in reader:
        line = reader.line_num
        try:
            result.append(_row(row))
        except (RegistryError, ValueError) as exc:
            raise RegistryError(f"line {line}: {exc}") from exc
    return result


def _row(row: dict[str, str]) -> Vehicle:
    drive = (row.get("single_drive") or "").strip().lower()
    if drive not in _TRUE | _FALSE:
        raise RegistryError(f"single_drive must be yes or no, not {drive!r}")
    tare = (row.get("tare_kg") or "").strip()
    return vehicle(
        plate=row["plate"].strip(),
        axles=int(row["axles"]),
        kind=row["kind"].strip(),
        single_drive=drive in _TRUE,
        tare_kg=int(tare) if tare else None,
        trailer=(row.get("trailer") or "").strip() or None,
    )


def import_vehicles(store: Store, vehicles: Sequence[Vehicle], *, actor: str, now_ms: int) -> int:
    return store.upsert_vehicles(vehicles, actor=actor, at=now_ms)
