"""Coverage-guided fuzz targets (atheris) over every decoder that takes bytes from outside.

The same decoders and the same property as tests/reliability/test_fuzz.py: each target feeds
the fuzzer's bytes to one decoder, which must return a value or raise its documented error
type; anything else is a crash, and atheris stops with the input that caused it. Signed
inputs must never verify unless they are the genuine bytes (an ``AssertionError`` here).

    pip install atheris                     # not a project dependency; Python 3.11 wheels exist
    python fuzz/targets.py --list
    python fuzz/targets.py ingest -atheris_runs=200000
    python fuzz/targets.py ticket-qr -max_total_time=600 /var/tmp/corpus-ticket-qr

Arguments after the target's name go to libFuzzer (``-atheris_runs=N``, ``-max_total_time=S``,
``-max_len=N``, a corpus directory). The first corpus directory (a scratch one when none is
given) is seeded with genuine messages, so the fuzzer starts from valid inputs and mutates
them. Without atheris installed, ``python fuzz/targets.py
<target> FILE…`` runs the target once over each file (to replay a crash), and the suite's
tests/reliability/test_fuzz.py runs every target over its seeds.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

Target = Callable[[bytes], None]


def _build() -> tuple[dict[str, Target], dict[str, list[bytes]]]:  # noqa: PLR0915 - one table
    """Import the decoders (under atheris' instrumentation when it runs) and build the targets
    with their seed inputs. Keys are fixed test keys, never real ones."""
    from central.ingest.check import Accepted, DeviceView, check_record_message  # noqa: PLC0415
    from central.ingest.worker import parse_status  # noqa: PLC0415
    from edge.camera.reads import default_cameras, parse_push  # noqa: PLC0415
    from edge.config import load_site_config  # noqa: PLC0415
    from edge.errors import (  # noqa: PLC0415
        CameraPushError,
        ConversionError,
        SiteConfigError,
    )
    from edge.modbus.regmap import PRESETS, decode  # noqa: PLC0415
    from edge.scale.convert import Converter  # noqa: PLC0415
    from edge.scale.modbus_driver import reading_from_sample  # noqa: PLC0415
    from edge.scale.mt_sics import SicsParser  # noqa: PLC0415
    from edge.scale.readings import Reading  # noqa: PLC0415
    from edge.scale.toledo import ToledoParser  # noqa: PLC0415
    from edge.scale.xk3190 import A9Parser, A12Parser, EqParser  # noqa: PLC0415
    from wire import qr  # noqa: PLC0415
    from wire.acks import build_ack, verify_ack  # noqa: PLC0415
    from wire.bodies import StatusBody  # noqa: PLC0415
    from wire.bundles import build_bundle, verify_bundle  # noqa: PLC0415
    from wire.certificates import issue_certificate, verify_certificate  # noqa: PLC0415
    from wire.errors import WireError  # noqa: PLC0415
    from wire.keys import KeySet, SigningKey  # noqa: PLC0415
    from wire.receipts import encode_receipt, verify_receipt  # noqa: PLC0415
    from wire.records import ZERO_HASH, sign_record  # noqa: PLC0415
    from wire.tickets import issue_ticket, ticket_from_qr, ticket_qr, verify_ticket  # noqa: PLC0415
    from wire.topics import record_topic  # noqa: PLC0415
    from wire.treehead import sign_tree_head, verify_tree_head  # noqa: PLC0415

    site, device = "yl-mine-a", "yl-mine-a-gate-1"
    device_key = SigningKey.from_seed(b"\x07" * 32, kid=device)
    central_key = SigningKey.from_seed(b"\x01" * 32, kid="central-20261129")
    central_keys = KeySet([central_key.public])
    devices = {
        device: DeviceView.of(
            device=device, site=site, public_key=device_key.public.raw, revoked_above_seq=None
        )
    }
    topic = record_topic(site, device)
    status = StatusBody(
        uptime_s=300, lanes={"lane-1": "idle"}, backlog=0, bundle_version=4, version="0.1.0"
    )
    record = sign_record(
        device_key, site=site, device=device, seq=1, prev=ZERO_HASH, ts=1_796_083_200_000,
        body=status,
    )  # fmt: skip
    ticket = issue_ticket(
        central_key, iss="yulin-energy-bureau", iat=1_796_083_200, cti=b"\x5f" * 16,
        seller_site=site, seller="sx-coal-a", buyer="mg-metal-b", plate="陕K12345",
        coal="5500kcal-lump", max_net_kg=40_000, dest_site="mg-smelter-b", no="YL0001",
    )  # fmt: skip
    certificate = issue_certificate(
        central_key, iss="yulin-energy-bureau", device_key=device_key.public, site=site,
        iat=1_796_000_000,
    )  # fmt: skip
    ack = build_ack(central_key, device=device, seq=1, ts=1_796_083_200_000)
    bundle = build_bundle(
        central_key, site=site, version=3, ts=1_796_083_200_000, tickets=[], revoked=[],
        vehicles={},
    )  # fmt: skip
    head = sign_tree_head(central_key, size=1, root=b"\x5a" * 32, ts=1_796_083_200_000)
    receipt_text = encode_receipt(ticket=ticket.raw, record=record.raw, certificate=certificate.raw)
    cameras = default_cameras(["lane1"])

    def text(data: bytes) -> str:
        return data.decode("utf-8", "replace")

    def ingest(data: bytes) -> None:
        decision = check_record_message(topic, data, devices=devices, received_at=1)
        if isinstance(decision, Accepted):
            assert data == record.raw, "a record that is not the genuine one was accepted"

    def signed(genuine: bytes, verify: Callable[[bytes], object]) -> Target:
        def target(data: bytes) -> None:
            try:
                verify(data)
            except WireError:
                return
            assert data == genuine, "bytes that are not the genuine object verified"

        return target

    def ticket_text(data: bytes) -> None:
        try:
            raw = ticket_from_qr(text(data))
            verify_ticket(raw, central_keys, now_s=None)
        except WireError:
            return
        assert raw == ticket.raw, "a ticket QR that is not the genuine ticket verified"

    def receipt(data: bytes) -> None:
        with contextlib.suppress(WireError):
            verify_receipt(text(data), central_keys)

    def base45(data: bytes) -> None:
        with contextlib.suppress(WireError):
            qr.b45decode(text(data))

    def status_message(data: bytes) -> None:
        with contextlib.suppress(ValueError):
            parse_status(f"cg/v1/{site}/{device}/up/status", data, received_at=1)

    def scale(make: Callable[[], Any]) -> Target:
        def target(data: bytes) -> None:
            parser = make()
            converter = Converter(division_kg=20)
            for event in parser.feed(data) + parser.flush():
                if isinstance(event, Reading):
                    with contextlib.suppress(ConversionError):
                        converter.convert(event)

        return target

    class Words(dict[int, int]):
        """Registers read on demand from the fuzzer's bytes (16-bit, big-endian)."""

        def __init__(self, data: bytes) -> None:
            super().__init__()
            self._data = iter(data)

        def __missing__(self, address: int) -> int:
            value = next(self._data, 0) << 8 | next(self._data, 0)
            self[address] = value
            return value

    maps = list(PRESETS.values())

    def modbus(data: bytes) -> None:
        if not data:
            return
        regmap = maps[data[0] % len(maps)]
        sample = decode(regmap, Words(data[1:]))
        with contextlib.suppress(ConversionError):
            Converter(division_kg=20).convert(reading_from_sample(sample))

    def camera(data: bytes) -> None:
        with contextlib.suppress(CameraPushError):
            parse_push(data, cameras=cameras)

    def site_file(data: bytes) -> None:
        with _scratch() as directory:
            path = directory / "site.toml"
            path.write_bytes(data)
            with contextlib.suppress(SiteConfigError):
                load_site_config(path)

    targets: dict[str, Target] = {
        "ingest": ingest,
        "record": signed(record.raw, lambda d: check_signed_record(d, devices, topic)),
        "ack": signed(ack.raw, lambda d: verify_ack(d, central_keys)),
        "bundle": signed(
            bundle.raw, lambda d: verify_bundle(d, central_keys, site=site, held_version=2)
        ),
        "ticket": signed(ticket.raw, lambda d: verify_ticket(d, central_keys, now_s=None)),
        "certificate": signed(
            certificate.raw, lambda d: verify_certificate(d, central_keys, now_s=None)
        ),
        "tree-head": signed(head.raw, lambda d: verify_tree_head(d, central_keys)),
        "ticket-qr": ticket_text,
        "receipt-qr": receipt,
        "base45": base45,
        "status": status_message,
        "scale-mt-sics": scale(SicsParser),
        "scale-toledo": scale(ToledoParser),
        "scale-xk3190-a9": scale(A9Parser),
        "scale-xk3190-a12": scale(A12Parser),
        "scale-xk3190-eq": scale(EqParser),
        "modbus": modbus,
        "camera": camera,
        "site-config": site_file,
    }
    seeds: dict[str, list[bytes]] = {name: [b""] for name in targets}
    seeds["ingest"] += [record.raw]
    seeds["record"] += [record.raw]
    seeds["ack"] += [ack.raw]
    seeds["bundle"] += [bundle.raw]
    seeds["ticket"] += [ticket.raw]
    seeds["certificate"] += [certificate.raw]
    seeds["tree-head"] += [head.raw]
    seeds["ticket-qr"] += [ticket_qr(ticket).encode()]
    seeds["receipt-qr"] += [receipt_text.encode()]
    seeds["base45"] += [qr.b45encode(b"coalgate").encode()]
    seeds["status"] += [b'{"state": "online", "since": 1, "version": "0.1.0"}']
    seeds["scale-mt-sics"] += [b"S S      1234.5 kg\r\n", b"S D      -20 kg\r\n"]
    seeds["scale-toledo"] += [b"\x02 10 " + b"0" * 12 + b"\r"]
    seeds["scale-xk3190-a9"] += [b"\x02+0123400\x03"]
    seeds["scale-xk3190-a12"] += [b"\x02+001234001B\x03"]
    seeds["scale-xk3190-eq"] += [b"=0.43210-"]
    seeds["modbus"] += [b"\x00" + bytes(range(40)), b"\x01" + b"\xff" * 40]
    seeds["camera"] += [
        '{"plate": "陕K12345", "confidence": 93, "camera": "lane1-entry", "ts": 1}'.encode()
    ]
    seeds["site-config"] += [b'[site]\nid = "yl-mine-a"\n']
    return targets, seeds


def check_signed_record(data: bytes, devices: Any, topic: str) -> object:
    """Verify a record the way ingest does; a refusal is the documented ``WireError``."""
    from central.ingest.check import Accepted, check_record_message  # noqa: PLC0415
    from wire.errors import RemoteError  # noqa: PLC0415

    decision = check_record_message(topic, data, devices=devices, received_at=1)
    if not isinstance(decision, Accepted):
        raise RemoteError(decision.item.reason)
    return decision.record


@contextlib.contextmanager
def _scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="coalgate-fuzz-") as directory:
        yield Path(directory)


def targets() -> dict[str, Target]:
    """Every target by name (imports the decoders uninstrumented: for tests and replays)."""
    return _build()[0]


def seeds() -> dict[str, list[bytes]]:
    """Seed inputs of every target: the empty input and genuine messages."""
    return _build()[1]


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[1] in ("-h", "--help", "--list"):
        shown = __doc__ if argv[1:2] != ["--list"] else "\n".join(sorted(targets()))
        sys.stdout.write(shown.strip() + "\n")
        return 0
    name, rest = argv[1], argv[2:]
    try:
        import atheris  # type: ignore[import-not-found,import-untyped,unused-ignore]  # noqa: PLC0415
    except ImportError:
        atheris = None
    if atheris is None:
        chosen = targets().get(name)
        if chosen is None or not rest or any(arg.startswith("-") for arg in rest):
            sys.stderr.write(
                f"atheris is not installed (pip install atheris); without it, "
                f"{argv[0]} TARGET FILE… replays inputs. Targets: {', '.join(sorted(targets()))}\n"
            )
            return 2
        for path in rest:
            chosen(Path(path).read_bytes())
            sys.stdout.write(f"{path}: ok\n")
        return 0
    with atheris.instrument_imports(include=["wire", "edge", "central"]):
        built, seed_inputs = _build()
    if name not in built:
        sys.stderr.write(f"unknown target {name!r}; targets: {', '.join(sorted(built))}\n")
        return 2
    corpora = [arg for arg in rest if not arg.startswith("-")]
    if not corpora:  # libFuzzer grows the first corpus directory: a scratch one by default
        corpora = [tempfile.mkdtemp(prefix=f"coalgate-fuzz-{name}-")]
        rest = [*rest, corpora[0]]
        sys.stderr.write(f"corpus: {corpora[0]} (seeded; remove it when done)\n")
    for index, seed in enumerate(seed_inputs[name]):
        seed_file = Path(corpora[0]) / f"seed-{index}"
        if not seed_file.exists():
            seed_file.write_bytes(seed)
    atheris.Setup([argv[0], *rest], built[name])
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
