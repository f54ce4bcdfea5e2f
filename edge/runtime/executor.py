"""The lane executor (adapter): runs ``Lane.step``'s output lists as ``edge.gate.outputs`` asks.

``OutputExecutor.execute`` walks one list in order:

- a ``WriteRecord`` is signed, chained and committed by ``Journal.append`` on a worker thread
  (the commit fsyncs; the event loop must not wait on a disk) and awaited before anything later
  in the list happens; ``ref_previous`` takes the id of the record written just before;
- the commands (``SetLights``, ``Barrier``, ``Say``, ``ZeroScale``) that follow are handed,
  as one batch per list, to the lane's ``CommandRunner``, which runs them in order on the
  devices — so a barrier that takes seconds to confirm does not stall the lane's inputs;
- a write that fails stops the list: nothing after it is run or handed on, and ``execute``
  reports the failure so the caller feeds ``JournalFault(active=True)`` as the next input.

Fail safe, twice over: a ``Barrier(up=True)`` is only handed on when this very list has durably
written a release (a weighing with decision ``release``, an accepted override event, or a
``release_retry`` event naming the lane's last release) before it — the core's contract,
checked again here — and ``CommandRunner`` drops the rest of a batch
after a command that failed, so a barrier behind a failed light command stays down. An
``IoCommandError`` is reported back (``on_io_fault``) to become ``IoFaultIn(active=True)``.

Shutdown: an append in flight when the task is cancelled is awaited to its end before the
cancellation goes on (the thread cannot be stopped, and the journal must not be closed under it:
appends are transactions, so the record is then wholly there).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from edge.errors import CommandRefusedError, EdgeError, IoCommandError, JournalError, LocalError
from edge.gate.outputs import (
    Barrier,
    Output,
    RecordBody,
    Say,
    SetLights,
    WriteRecord,
    ZeroScale,
    resolve_ref,
)
from edge.journal.store import Journal, JournalEntry
from edge.runtime.display import Display
from wire.bodies import EventBody, WeighingBody
from wire.errors import WireError

#: Commands waiting for the devices, per lane, before new batches are refused (fail safe).
COMMAND_BATCHES: Final = 64

Command = SetLights | Barrier | Say | ZeroScale


@dataclass(frozen=True, slots=True, kw_only=True)
class Written:
    """One record the executor committed: what was asked, the body signed, the entry."""

    write: WriteRecord
    body: RecordBody
    entry: JournalEntry


@dataclass(frozen=True, slots=True, kw_only=True)
class Executed:
    """What ``execute`` did with a list: the records written, the commands handed on (in
    order); ``failed`` is the reason the list stopped at a write (None: it all went)."""

    written: tuple[Written, ...]
    commands: tuple[Command, ...]
    failed: str | None = None


async def append_durably(
    journal: Journal, *, record_type: str, body: RecordBody, ts_ms: int
) -> JournalEntry:
    """``Journal.append`` on a worker thread; a cancellation waits for the commit first."""
    future = asyncio.ensure_future(
        asyncio.to_thread(journal.append, record_type=record_type, body=body, ts_ms=ts_ms)
    )
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        # the commit runs on regardless: see it through so nothing closes the journal under it
        await asyncio.wait([future])
        raise


def is_release(write: WriteRecord, body: RecordBody, *, last_release: bytes | None = None) -> bool:
    """A record that authorises the barrier: a releasing weighing, an accepted override, or a
    ``release_retry`` naming ``last_release`` (the lane's last releasing weighing: the barrier
    is raised again for that release, and only for it)."""
    if isinstance(body, WeighingBody):
        return body.decision == "release"
    if isinstance(body, EventBody) and write.type == "event":
        accepted = body.detail.get("accepted") is True
        if body.kind == "release_retry":
            return accepted and last_release is not None and body.ref == last_release
        return body.kind == "override" and accepted
    return False


class OutputExecutor:
    """Runs one lane's output lists; see the module docstring."""

    def __init__(
        self,
        *,
        lane: str,
        journal: Journal,
        commands: CommandRunner,
        on_written: Callable[[Written], None] = lambda _w: None,
        last_release: bytes | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        """``last_release``: the record id of the lane's last releasing weighing (the journal's,
        at start: ``edge.runtime.recovery``); a ``release_retry`` may name only it."""
        self.lane = lane
        self.journal = journal
        self.commands = commands
        self.on_written = on_written
        self.log = logger or logging.getLogger(__name__)
        self.refused_barriers = 0
        self.last_release = last_release

    async def execute(self, outputs: Sequence[Output], *, now_ms: int) -> Executed:
        written: list[Written] = []
        handed: list[Command] = []
        batch: list[Command] = []
        previous: bytes | None = None
        released = False
        for output in outputs:
            if not isinstance(output, WriteRecord):
                if isinstance(output, Barrier) and output.up and not released:
                    self.refused_barriers += 1
                    self.log.error(
                        "lane %s: barrier-up without a durable release in the same list: "
                        "not raised", self.lane,
                    )  # fmt: skip
                    continue
                batch.append(output)
                continue
            # commands before a write go out first: list order is the contract
            self._hand_on(batch)
            handed += batch
            batch = []
            try:
                body = resolve_ref(output, previous, release_id=self.last_release)
                entry = await append_durably(
                    self.journal, record_type=output.type, body=body, ts_ms=now_ms
                )
            except (JournalError, LocalError, WireError, ValueError) as exc:
                message = exc.message if isinstance(exc, EdgeError | WireError) else str(exc)
                self.log.error(  # noqa: TRY400  # one line: the journal says what failed
                    "lane %s: %s record not written, the list stops here: %s",
                    self.lane, output.type, message,
                )  # fmt: skip
                return Executed(written=tuple(written), commands=tuple(handed), failed=message)
            previous = entry.record_id
            released = released or is_release(output, body, last_release=self.last_release)
            if isinstance(body, WeighingBody) and body.decision == "release":
                self.last_release = entry.record_id
            done = Written(write=output, body=body, entry=entry)
            written.append(done)
            self.on_written(done)
        self._hand_on(batch)
        return Executed(written=tuple(written), commands=(*handed, *batch))

    def _hand_on(self, batch: list[Command]) -> None:
        if batch:
            self.commands.submit(tuple(batch))


class BarrierPort(Protocol):
    """What the command runner needs of the IO driver (``edge.io.driver.IoDriver``)."""

    @property
    def barrier_mode(self) -> object: ...

    async def raise_barrier(self) -> object: ...

    async def lower_barrier(self) -> object: ...

    async def set_lights(self, *, red: bool | None = None, green: bool | None = None) -> object: ...


class ZeroPort(Protocol):
    """What the command runner needs of a scale driver (serial or Modbus)."""

    async def zero(self) -> object: ...


class CommandRunner:
    """Runs command batches on the lane's devices, one batch at a time, in order.

    A failed command ends its batch (what follows it, a barrier above all, is dropped) and is
    reported through ``on_io_fault(reason)``; a zero the scale refuses is only logged (the
    lane's zero check sees the result on the scale).
    """

    def __init__(
        self,
        *,
        lane: str,
        io: BarrierPort,
        scale: ZeroPort,
        display: Display,
        on_io_fault: Callable[[str], None],
        on_barrier: Callable[[bool], None] = lambda _up: None,
        clock: Callable[[], int],
        command_timeout_s: float = 15.0,
        logger: logging.Logger | None = None,
    ) -> None:
        self.lane = lane
        self.io = io
        self.scale = scale
        self.display = display
        self.on_io_fault = on_io_fault
        self.on_barrier = on_barrier
        self.clock = clock
        self.command_timeout_s = command_timeout_s
        self.log = logger or logging.getLogger(__name__)
        self.failures = 0
        self.dropped = 0
        #: Every batch accepted, in order (kept small: the latest ``COMMAND_BATCHES``).
        self.submitted: deque[tuple[Command, ...]] = deque(maxlen=COMMAND_BATCHES)
        self._queue: asyncio.Queue[tuple[int, tuple[Command, ...]]] = asyncio.Queue(
            maxsize=COMMAND_BATCHES
        )
        self._accepted = 0  # batches queued so far: each batch's number
        #: Fail-safe commands of dropped batches, each to run once batch number ``after`` ran
        #: (the last one queued before the drop): list order is the contract, a dropped batch's
        #: barrier-down must not overtake an older barrier-up.
        self._kept: deque[tuple[int, tuple[Command, ...]]] = deque()

    def submit(self, batch: tuple[Command, ...]) -> None:
        """Queue a batch. When the devices are ``COMMAND_BATCHES`` behind, the batch is
        dropped and logged (a barrier is never raised that late) — except its fail-safe
        commands (barrier down, red light on), which are kept and run right after the last
        batch queued before them, in submission order: a dropped batch can never leave a
        barrier up."""
        try:
            self._queue.put_nowait((self._accepted + 1, batch))
            self._accepted += 1
            self.submitted.append(batch)
        except asyncio.QueueFull:
            self.dropped += 1
            safe = tuple(command for command in batch if _fail_safe(command))
            if safe and self._kept and self._kept[-1][0] == self._accepted:
                self._kept[-1] = (self._accepted, _merge_safe(self._kept[-1][1], safe))
            elif safe:
                self._kept.append((self._accepted, safe))
            self.log.error(  # noqa: TRY400  # a full queue has no traceback worth showing
                "lane %s: device commands are %d batches behind; dropped %s (kept %s)",
                self.lane, COMMAND_BATCHES, batch, safe or "nothing",
            )  # fmt: skip

    async def idle(self) -> None:
        """Wait until every batch submitted so far has run (tests, shutdown)."""
        await self._queue.join()

    async def run(self) -> None:
        while True:
            number, batch = await self._queue.get()
            try:
                await self._run_batch(batch)
                await self._run_kept(after=number)
            finally:
                self._queue.task_done()

    async def _run_kept(self, *, after: int) -> None:
        """The fail-safe commands kept from batches dropped after batch ``after`` was queued
        (see ``submit``): they run now, in the order they were submitted."""
        while self._kept and self._kept[0][0] <= after:
            _number, safe = self._kept.popleft()
            await self._run_batch(safe)

    async def _run_batch(self, batch: tuple[Command, ...]) -> None:
        for command in batch:
            try:
                async with asyncio.timeout(self.command_timeout_s):
                    await self._run(command)
            except (IoCommandError, TimeoutError) as exc:
                self.failures += 1
                # an IoCommandError's message starts with the command already
                why = (
                    exc.message
                    if isinstance(exc, IoCommandError)
                    else f"{_name(command)}: no answer in time"
                )
                self.log.error(  # noqa: TRY400  # one line: the error says what failed
                    "lane %s: %s; the rest of the batch is dropped", self.lane, why
                )
                self.on_io_fault(why)
                return
            except Exception:  # a bug of ours must not take the lane down: a fault, held
                self.failures += 1
                self.log.exception("lane %s: %s failed unexpectedly", self.lane, _name(command))
                self.on_io_fault(f"{_name(command)}: unexpected error")
                return

    async def _run(self, command: Command) -> None:
        if isinstance(command, Say):
            await self.display.show(command, lane=self.lane, at_ms=self.clock())
        elif isinstance(command, SetLights):
            await self.io.set_lights(red=command.red, green=command.green)
        elif isinstance(command, Barrier):
            if command.up:
                await self.io.raise_barrier()
                self.log.info("lane %s: barrier up (confirmed by the limit switch)", self.lane)
                self.on_barrier(True)
            elif str(self.io.barrier_mode) == "level":
                await self.io.lower_barrier()
                self.on_barrier(False)
            # pulse mode: the barrier controller lowers the arm by itself
        else:
            try:
                await self.scale.zero()
            except (CommandRefusedError, EdgeError, TimeoutError) as exc:
                why = exc.message if isinstance(exc, EdgeError) else "no answer in time"
                self.log.warning("lane %s: the scale did not zero: %s", self.lane, why)


def _fail_safe(command: Command) -> bool:
    """A command that only ever makes the lane safer: barrier down, red light on."""
    if isinstance(command, Barrier):
        return not command.up
    return isinstance(command, SetLights) and command.red and not command.green


def _merge_safe(kept: tuple[Command, ...], more: tuple[Command, ...]) -> tuple[Command, ...]:
    """At most one of each fail-safe command: running them twice changes nothing."""
    merged = list(kept)
    for command in more:
        if command not in merged:
            merged.append(command)
    return tuple(merged)


def _name(command: Command) -> str:
    if isinstance(command, Barrier):
        return "raise_barrier" if command.up else "lower_barrier"
    if isinstance(command, SetLights):
        return "set_lights"
    return type(command).__name__
