"""``load_site_config``: a site file read, checked and typed, or one line that says what is
wrong — the file, the TOML line where known, the dotted key and the problem::

    site.toml:14: lane[1].scale.capacity_kg: must be a multiple of division_kg 20 (got 60010)

Lanes are counted from 1 in file order (``lane[1]`` is the first ``[[lane]]``). The shape of
each value is ``edge.config.model``'s; here are the checks across values and files: key and
TLS files readable (the device key private to its owner), lane ids and camera names unique,
and no port claimed by two devices that cannot share it (a serial port has one device; a
Modbus line carries several only with distinct unit ids and the same serial settings).
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, get_args

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from edge.config.locate import KeyLines
from edge.config.model import LaneSettings, ModbusScale, SerialScale, SiteConfig
from edge.errors import SiteConfigError
from edge.modbus.line import LineAddress, Transport
from wire.errors import WireError
from wire.keyfiles import read_key_set, read_signing_key

_SHOWN_MAX: Final = 40
_TOML_AT: Final = re.compile(r"^(.*) \(at line (\d+), column (\d+)\)$", re.DOTALL)
_TAGS: Final = frozenset({"serial", "modbus"})
#: pydantic's words for TOML's shapes.
_PLAIN: Final = {
    "model_type": "must be a table",
    "model_attributes_type": "must be a table",
    "dict_type": "must be a table",
    "tuple_type": "must be an array of tables ([[lane]])",
}


def load_site_config(path: str | os.PathLike[str]) -> SiteConfig:
    """The site file at ``path``, or ``SiteConfigError`` (``str()`` is the one line to show)."""
    shown = os.fspath(path)
    file = Path(shown)
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise SiteConfigError("no such file", path=shown, option="") from None
    except IsADirectoryError:
        raise SiteConfigError("is a directory, not a site file", path=shown, option="") from None
    except OSError as exc:
        raise SiteConfigError(f"cannot read: {exc.strerror}", path=shown, option="") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SiteConfigError(
            "not UTF-8 text (TOML files are UTF-8)", path=shown, option="", line=line
        ) from None
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _syntax_error(str(exc), shown) from None
    except RecursionError:
        raise SiteConfigError("TOML nested too deeply", path=shown, option="") from None
    lines = KeyLines(text)
    try:
        config = SiteConfig.model_validate(table, context={"base": file.parent})
    except ValidationError as exc:
        raise _first_error(exc, shown, lines) from None
    for problem in _problems(config):
        raise SiteConfigError(
            problem.message,
            path=shown,
            option=_dotted(problem.key),
            line=lines.line_of(problem.key),
        )
    return config


def _syntax_error(message: str, shown: str) -> SiteConfigError:
    match = _TOML_AT.match(message)
    if match is None:
        return SiteConfigError(f"TOML syntax: {message}", path=shown, option="")
    what, line, column = match.group(1), int(match.group(2)), match.group(3)
    return SiteConfigError(
        f"TOML syntax (column {column}): {what}", path=shown, option="", line=line
    )


# --- pydantic's errors as one line -----------------------------------------------------------


def _first_error(exc: ValidationError, shown: str, lines: KeyLines) -> SiteConfigError:
    located = [(_key(error), error) for error in exc.errors(include_url=False)]
    # The first problem in file order is the one a person fixes first; unplaced ones go last.
    # A missing key comes after every other problem: a misspelt key (an unknown one) is
    # usually why it is missing, and "did you mean" says more than "required".
    key, error = min(
        located,
        key=lambda item: (item[1]["type"] == "missing", _order(lines.line_of(item[0]))),
    )
    return SiteConfigError(
        _message(error, key), path=shown, option=_dotted(key), line=lines.line_of(key)
    )


def _order(line: int | None) -> tuple[bool, int]:
    return (line is None, line or 0)


def _key(error: ErrorDetails) -> tuple[str | int, ...]:
    loc = list(error["loc"])
    out: list[str | int] = []
    for position, part in enumerate(loc):
        # the scale union adds its tag ("serial"/"modbus") after "scale": not a key of the file
        if (
            position > 0
            and loc[position - 1] == "scale"
            and part in _TAGS
            and position + 1 < len(loc)
        ):
            continue
        out.append(part)
    subkey = (error.get("ctx") or {}).get("subkey")
    if isinstance(subkey, str) and subkey:
        out.extend(subkey.split("."))
    return tuple(out)


def _dotted(key: Sequence[str | int]) -> str:
    text = ""
    for part in key:
        if isinstance(part, int):
            text += f"[{part + 1}]"
        else:
            text += f".{part}" if text else part
    return text


def _message(error: ErrorDetails, key: Sequence[str | int]) -> str:
    kind = error["type"]
    if kind == "missing":
        return "required, but missing"
    if kind == "extra_forbidden":
        return _unknown_key(key)
    message = _PLAIN.get(kind) or str(error["msg"])
    message = message.removeprefix("Value error, ")
    message = message.replace("Input should be", "must be").replace("input should be", "must be")
    if message[:1].isupper() and not message[1:2].isupper():
        message = message[0].lower() + message[1:]
    value = error.get("input")
    shown = _show(value)
    if shown not in message and not isinstance(value, dict | list | tuple | BaseModel):
        message += f" (got {shown})"
    return _URL_PASSWORD.sub(r"\1***@", message)


#: A password in a URL (``scheme://user:password@host``): never echoed in an error.
_URL_PASSWORD: Final = re.compile(r"(://[^/\s:@'\"]*:)[^/\s@'\"]*@")


def _unknown_key(key: Sequence[str | int]) -> str:
    name = str(key[-1]) if key else ""
    close = difflib.get_close_matches(name, sorted(_keys_at(key[:-1])), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else " (a typo?)"
    return f"unknown key{hint}"


def _keys_at(table: Sequence[str | int]) -> set[str]:
    """The keys the table at ``table`` may hold (a union's tables pooled)."""
    models: list[type[BaseModel]] = [SiteConfig]
    for part in table:
        if isinstance(part, int):
            continue
        inner: list[type[BaseModel]] = []
        for model in models:
            for name, field in model.model_fields.items():
                if part in (name, field.alias):
                    inner.extend(_models_in(field.annotation))
        models = inner
    return {field.alias or name for model in models for name, field in model.model_fields.items()}


def _models_in(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in get_args(annotation) for model in _models_in(arg)]


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_MAX else text[: _SHOWN_MAX - 1] + "…"


# --- checks across values and files -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Problem:
    key: tuple[str | int, ...]
    message: str


def _problems(config: SiteConfig) -> Iterator[_Problem]:
    yield from _file_problems(config)
    yield from _lane_problems(config.lanes)
    yield from _port_problems(config.lanes)


def _file_problems(config: SiteConfig) -> Iterator[_Problem]:
    site = config.site
    key_path = ("site", "device_key")
    if (problem := _unreadable(site.device_key)) is not None:
        yield _Problem(key_path, problem)
        return
    try:
        read_signing_key(site.device_key, kid=site.device)
    except (OSError, WireError) as exc:
        yield _Problem(key_path, _why(exc, site.device_key))
        return
    if (problem := _open_to_others(site.device_key)) is not None:
        yield _Problem(key_path, problem)
        return
    try:
        keys = read_key_set([site.central_keys])
    except (OSError, WireError) as exc:
        yield _Problem(("site", "central_keys"), _why(exc, site.central_keys))
        return
    if not len(keys):
        yield _Problem(("site", "central_keys"), f"{site.central_keys} holds no keys")
        return
    if site.data_dir.exists() and not site.data_dir.is_dir():
        yield _Problem(("site", "data_dir"), f"{site.data_dir} is not a directory")
    elif site.data_dir.exists() and not os.access(site.data_dir, os.W_OK | os.X_OK):
        yield _Problem(("site", "data_dir"), f"{site.data_dir} is not writable")
    broker = config.broker
    tls_files = {
        "ca_file": broker.ca_file,
        "cert_file": broker.cert_file,
        "key_file": broker.key_file,
    }
    for name, value in tls_files.items():
        if broker.tls and value is None:
            yield _Problem(("broker", name), "required for mqtts:// (CA, client certificate, key)")
            return
        if not broker.tls and value is not None:
            yield _Problem(
                ("broker", name), "TLS files are for mqtts:// only; this broker URL is mqtt://"
            )
            return
        if value is not None and (problem := _unreadable(value)) is not None:
            yield _Problem(("broker", name), problem)
            return
    if broker.key_file is not None and (problem := _open_to_others(broker.key_file)) is not None:
        yield _Problem(("broker", "key_file"), problem)


def _open_to_others(path: Path) -> str | None:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return (
            f"{path} is open to others (mode {stat.S_IMODE(mode):04o}); "
            "a private key must be readable by its owner only: chmod 600"
        )
    return None


def _unreadable(path: Path) -> str | None:
    try:
        with path.open("rb") as file:
            file.read(1)
    except FileNotFoundError:
        return f"{path}: no such file"
    except IsADirectoryError:
        return f"{path}: is a directory, not a file"
    except OSError as exc:
        return f"{path}: cannot read ({exc.strerror})"
    return None


def _why(exc: OSError | WireError, path: Path) -> str:
    if isinstance(exc, OSError):
        return f"{path}: cannot read ({exc.strerror})"
    return exc.message  # wire's key-file messages start with the path


def _lane_problems(lanes: Sequence[LaneSettings]) -> Iterator[_Problem]:
    ids: dict[str, int] = {}
    cameras: dict[str, str] = {}
    for index, lane in enumerate(lanes):
        if lane.id in ids:
            yield _Problem(
                ("lane", index, "id"),
                f"lane {lane.id!r} is defined twice (also lane[{ids[lane.id] + 1}])",
            )
            return
        ids[lane.id] = index
        for side, name in (("entry", lane.entry_camera), ("exit", lane.exit_camera)):
            owner = f"lane[{index + 1}]'s {side} camera"
            if name in cameras:
                yield _Problem(
                    ("lane", index, "cameras", side),
                    f"camera {name!r} is already {cameras[name]}; each camera names one lane "
                    "and side",
                )
                return
            cameras[name] = owner


@dataclass(frozen=True, slots=True)
class _Device:
    key: tuple[str | int, ...]  # the device's table: ("lane", 0, "io")
    port: str  # what it occupies: a tty's real path, or tcp host:port
    unit_id: int | None  # None: a serial indicator, which owns its port
    settings: str = ""  # serial settings of an RTU line


def _devices(lanes: Sequence[LaneSettings]) -> Iterator[_Device]:
    for index, lane in enumerate(lanes):
        scale = lane.scale
        if isinstance(scale, SerialScale):
            yield _Device(("lane", index, "scale"), _serial_port(scale.url), None)
        elif isinstance(scale, ModbusScale):
            yield _modbus_device(("lane", index, "scale"), scale.address, scale.unit_id)
        yield _modbus_device(("lane", index, "io"), lane.io.address, lane.io.unit_id)


def _serial_port(url: str) -> str:
    if url.startswith("socket://"):
        return "tcp " + url.removeprefix("socket://").rstrip("/")
    if "://" in url:
        return url
    return os.path.realpath(url)  # two links to one pty are one port


def _modbus_device(key: tuple[str | int, ...], address: LineAddress, unit_id: int) -> _Device:
    if address.transport is Transport.RTU:
        settings = f"{address.baudrate} {address.bytesize}{address.parity}{address.stopbits}"
        return _Device(key, os.path.realpath(address.path), unit_id, settings)
    return _Device(key, f"tcp {address.host}:{address.port}", unit_id, address.transport.value)


def _port_problems(lanes: Sequence[LaneSettings]) -> Iterator[_Problem]:
    seen: list[_Device] = []
    for device in _devices(lanes):
        for other in seen:
            if other.port != device.port:
                continue
            where = _dotted(other.key)
            shown = device.port.removeprefix("tcp ")
            if device.unit_id is None or other.unit_id is None:
                yield _Problem(
                    (*device.key, "url"),
                    f"{shown} is already used by {where}; a serial indicator needs a port "
                    "of its own",
                )
                return
            if device.settings != other.settings:
                yield _Problem(
                    (*device.key, "url"),
                    f"{shown} is already used by {where} with other settings "
                    f"({other.settings} here {device.settings})",
                )
                return
            if device.unit_id == other.unit_id:
                yield _Problem(
                    (*device.key, "unit_id"),
                    f"unit {device.unit_id} on {shown} is already {where}; devices sharing a "
                    "line need different unit ids",
                )
                return
        seen.append(device)
