"""The weight transmitter and the relay/IO module as pymodbus ``SimDevice`` datastores. Thin.

pymodbus checks addresses against the blocks defined here (anything undefined is exception 02)
and calls ``action`` on every access; the action fills the registers from the live model just
before a read and turns writes into commands, so the datastore never holds a stale weight.
"""

from __future__ import annotations

from collections.abc import Callable

from pymodbus.constants import ExcCodes
from pymodbus.simulator import DataType, SimData, SimDevice

from firmware_sim.io_module import CHANNELS
from firmware_sim.modbus_map import Area, RegisterMap

_BIT_FUNCTIONS = (1, 2, 5, 15)


def transmitter_device(
    *,
    regmap: RegisterMap,
    unit_id: int,
    image: Callable[[], dict[int, int]],
    command: Callable[[int], ExcCodes | None],
) -> SimDevice:
    """A transmitter: ``image()`` gives the value registers now, ``command(code)`` runs one."""
    values = sorted(regmap.read_addresses())
    value_area = [SimData(a, values=0, datatype=DataType.REGISTERS) for a in values]
    command_area = [SimData(regmap.command, values=0, datatype=DataType.REGISTERS)]
    invalid = [SimData(0, datatype=DataType.INVALID)]
    bits = [SimData(0, values=False, datatype=DataType.BITS)]
    if regmap.area is Area.HOLDING:
        holding = sorted([*value_area, *command_area], key=lambda d: d.address)
        inputs = invalid
    else:
        holding, inputs = command_area, value_area
    value_fc = 3 if regmap.area is Area.HOLDING else 4

    async def action(  # noqa: PLR0917 - the signature pymodbus calls (SimAction)
        func_code: int,
        start: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if func_code in _BIT_FUNCTIONS:
            return ExcCodes.ILLEGAL_ADDRESS  # a transmitter has no coils or inputs
        if set_values is None:
            if func_code == value_fc:
                for reg, word in image().items():
                    registers[reg - start] = word
            return None
        if address != regmap.command or count != 1:
            return ExcCodes.ILLEGAL_ADDRESS  # only the command register takes writes
        return command(int(set_values[0]))

    return SimDevice(id=unit_id, simdata=(bits, bits, holding, inputs), action=action)


def io_device(
    *,
    unit_id: int,
    inputs: Callable[[], tuple[bool, ...]],
    coils: Callable[[], tuple[bool, ...]],
    write_coils: Callable[[int, list[bool]], None],
) -> SimDevice:
    """A 16-relay, 16-input module; it has no registers."""
    coil_block = [SimData(0, count=CHANNELS, values=False, datatype=DataType.BITS)]
    input_block = [SimData(0, count=CHANNELS, values=False, datatype=DataType.BITS)]
    invalid = [SimData(0, datatype=DataType.INVALID)]

    async def action(  # noqa: PLR0917 - the signature pymodbus calls (SimAction)
        func_code: int,
        start: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        _ = start, count
        if func_code == 2:
            registers[0] = _word(inputs())
        elif func_code == 1:
            registers[0] = _word(coils())
        elif func_code in (5, 15):
            if set_values is not None:  # None: pymodbus reading back what was written
                write_coils(address, [bool(v) for v in set_values])
        else:
            return ExcCodes.ILLEGAL_ADDRESS  # an IO module has no registers
        return None

    return SimDevice(id=unit_id, simdata=(coil_block, input_block, invalid, invalid), action=action)


def _word(bits: tuple[bool, ...]) -> int:
    """Bits 0-15 as one register, bit 0 first (pymodbus's bit block layout)."""
    return sum(1 << i for i, on in enumerate(bits[:CHANNELS]) if on)
