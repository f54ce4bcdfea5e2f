"""THE transition table of a lane: (state, event) → (new state, actions). Nothing else moves it.

States are WIRE.md's lane states. Events are what ``Lane`` makes of its inputs (a reading
becomes ``partly_on``, ``wholly_on``, ``stable`` …; see ``EVENTS``); the guards live there, so
this table has none. A row for state ``*`` applies in every state that has no row of its own
for that event; a missing row means the event changes nothing in that state. New state ``None``
means "stay". Actions run in the order given; ``decide*`` actions and ``reassess`` post a
follow-up event that is looked up here in turn. The lane's state diagram in docs/gate.md is
generated from this table (``edge.gate.diagram``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal, TypeAlias

State: TypeAlias = Literal[
    "idle",
    "arriving",
    "positioning",
    "settling",
    "deciding",
    "releasing",
    "exiting",
    "held",
    "fault",
]
STATES: Final[tuple[State, ...]] = (
    "idle",
    "arriving",
    "positioning",
    "settling",
    "deciding",
    "releasing",
    "exiting",
    "held",
    "fault",
)
ANY: Final = "*"

EVENTS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "approach": "a beam is interrupted while the deck carries nothing",
        "empty": "no beam interrupted, nothing on the deck",
        "empty_stable": "a stable reading of the empty deck",
        "partly_on": "weight on the deck while a deck-edge beam (front or rear) is interrupted",
        "wholly_on": "weight on the deck and both deck-edge beams clear",
        "stable": "a stable reading while wholly on the deck",
        "position_timeout": "not wholly on the deck within position_timeout_ms",
        "settle_timeout": "no stable reading within settle_timeout_ms",
        "release": "the rules passed",
        "stranded_release": "held only for the ticket its own stranded release used",
        "release_override": "an operator's override was accepted",
        "hold": "a rule failed",
        "override_refused": "an override was asked for a reason no one may waive",
        "exit_broken": "the exit beam became interrupted",
        "exit_cleared": "the exit beam became clear",
        "barrier_raised": "the barrier-up switch closed while the barrier is commanded down",
        "plate_entry": "a read of the entry camera",
        "plate_exit": "a read of the exit camera",
        "operator_input": "an operator typed the plate or chose the ticket",
        "override": "an operator asked to release a held truck",
        "zero_request": "an operator asked to zero the scale",
        "alarm_ack": "an operator acknowledged an alarm",
        "bundle": "a newer site bundle",
        "beams_without_weight": "a deck beam interrupted for beams_no_weight_ms, no weight",
        "tamper_step": "the weight jumped while the truck stood still",
        "calibration_changed": "the indicator's calibration counter changed",
        "fault_raised": "a scale or IO fault (or scale silence) began",
        "fault_cleared": "a scale or IO fault ended",
        "camera_fault": "a camera fault began or ended",
        "io_checked": "an operator ended the IO fault a failed command began",
        "io_not_faulted": "an operator ended an IO fault the lane does not have",
        "fault_pending": "a fault is active and the lane is not yet in fault",
        "release_failed": "the journal could not write the release just emitted",
        "journal_failed": "the journal could not write a record",
        "journal_ok": "the journal writes again",
        "recovered": "the last fault ended, deck empty",
        "recovered_on_deck": "the last fault ended with a truck on the deck",
    }
)

Transition: TypeAlias = tuple[State | None, tuple[str, ...]]

# The escape rows recur for every state in which a truck may stand unreleased on the deck.
_LEFT_BACK: Final[Transition] = ("idle", ("escape", "end_session"))
_BACKED_OFF: Final[Transition] = ("arriving", ("escape", "end_session", "start_session"))
_BROKE_OUT: Final[Transition] = ("exiting", ("escape", "barrier_forced"))

# fmt: off
TABLE: Final[Mapping[tuple[str, str], Transition]] = MappingProxyType({
    # (state,        event)                  new state       actions
    ("idle",        "approach"):            ("arriving",    ("start_session",)),
    ("idle",        "partly_on"):           ("positioning", ("start_session", "position_timer")),
    ("idle",        "wholly_on"):           ("settling",    ("start_session", "settle")),
    ("idle",        "empty_stable"):        (None,          ("track_zero",)),
    ("idle",        "exit_broken"):         (None,          ("barrier_forced",)),
    ("idle",        "zero_request"):        (None,          ("zero_scale",)),
    ("idle",        "fault_pending"):       ("fault",       ("stop",)),

    ("arriving",    "empty"):               ("idle",        ("end_session",)),
    ("arriving",    "partly_on"):           ("positioning", ("position_timer",)),
    ("arriving",    "wholly_on"):           ("settling",    ("settle",)),
    ("arriving",    "exit_broken"):         (None,          ("barrier_forced",)),
    ("arriving",    "fault_pending"):       ("fault",       ("stop",)),

    ("positioning", "wholly_on"):           ("settling",    ("settle",)),
    ("positioning", "position_timeout"):    ("deciding",    ("decide_not_positioned",)),
    ("positioning", "approach"):            _BACKED_OFF,
    ("positioning", "exit_broken"):         _BROKE_OUT,
    ("positioning", "fault_pending"):       ("fault",       ("fault_hold", "stop")),

    ("settling",    "stable"):              ("deciding",    ("decide",)),
    ("settling",    "settle_timeout"):      ("deciding",    ("decide_unstable",)),
    ("settling",    "partly_on"):           ("positioning", ("position_timer",)),
    ("settling",    "approach"):            _BACKED_OFF,
    ("settling",    "empty"):               _LEFT_BACK,
    ("settling",    "exit_broken"):         _BROKE_OUT,
    ("settling",    "fault_pending"):       ("fault",       ("fault_hold", "stop")),

    ("deciding",    "release"):             ("releasing",   ("write_evidence", "write_weighing",
                                                             "go", "say_decision")),
    ("deciding",    "release_override"):    ("releasing",   ("write_evidence", "write_weighing",
                                                             "record_override", "go",
                                                             "say_decision")),
    ("deciding",    "hold"):                ("held",        ("write_evidence", "write_weighing",
                                                             "red", "say_decision")),
    ("deciding",    "override_refused"):    ("held",        ("record_override",
                                                             "say_decision")),
    ("deciding",    "stranded_release"):    ("releasing",   ("resume_release",)),

    ("held",        "partly_on"):           ("positioning", ("position_timer",)),
    ("held",        "wholly_on"):           ("settling",    ("settle",)),
    ("held",        "operator_input"):      ("settling",    ("apply_operator_input", "settle")),
    ("held",        "plate_entry"):         ("settling",    ("collect_plate", "settle")),
    ("held",        "override"):            ("deciding",    ("decide_override",)),
    ("held",        "approach"):            _BACKED_OFF,
    ("held",        "empty"):               _LEFT_BACK,
    ("held",        "exit_broken"):         _BROKE_OUT,
    ("held",        "fault_pending"):       ("fault",       ("stop",)),

    ("releasing",   "exit_broken"):         ("exiting",     ()),
    ("releasing",   "empty"):               ("idle",        ("close", "end_session", "reassess")),
    ("releasing",   "plate_exit"):          (None,          ("exit_plate",)),
    ("releasing",   "release_failed"):      ("fault",       ("rollback_release", "stop")),
    ("releasing",   "operator_input"):      (None,          ()),
    ("releasing",   "recovered_on_deck"):   (None,          ("retry_release",)),

    ("exiting",     "exit_cleared"):        ("idle",        ("close", "end_session", "reassess")),
    ("exiting",     "plate_exit"):          (None,          ("exit_plate",)),
    ("exiting",     "operator_input"):      (None,          ()),

    ("fault",       "partly_on"):           (None,          ("start_session",)),
    ("fault",       "wholly_on"):           (None,          ("start_session",)),
    ("fault",       "approach"):            (None,          ("escape", "end_session")),
    ("fault",       "empty"):               (None,          ("escape", "end_session")),
    ("fault",       "exit_broken"):         (None,          ("escape", "barrier_forced")),
    ("fault",       "recovered"):           ("idle",        ("close", "end_session", "reassess")),
    ("fault",       "recovered_on_deck"):   ("positioning", ("close", "start_session",
                                                             "position_timer", "reassess")),

    (ANY,           "plate_entry"):         (None,          ("collect_plate",)),
    (ANY,           "plate_exit"):          (None,          ("exit_without_session",)),
    (ANY,           "operator_input"):      (None,          ("apply_operator_input",)),
    (ANY,           "override"):            (None,          ("say_nothing_held",)),
    (ANY,           "zero_request"):        (None,          ("say_zero_refused",)),
    (ANY,           "alarm_ack"):           (None,          ("record_alarm_ack",)),
    (ANY,           "bundle"):              (None,          ("load_bundle",)),
    (ANY,           "barrier_raised"):      (None,          ("barrier_forced",)),
    (ANY,           "beams_without_weight"): (None,         ("tamper_beams",)),
    (ANY,           "tamper_step"):         (None,          ("tamper_step",)),
    (ANY,           "calibration_changed"): (None,          ("calibration_changed",)),
    (ANY,           "fault_raised"):        (None,          ("record_fault",)),
    (ANY,           "fault_cleared"):       (None,          ("record_fault",)),
    (ANY,           "camera_fault"):        (None,          ("record_fault",)),
    (ANY,           "io_checked"):          (None,          ("record_io_checked",)),
    (ANY,           "io_not_faulted"):      (None,          ("say_no_io_fault",)),
    (ANY,           "journal_ok"):          (None,          ("record_fault",)),
})
# fmt: on


@dataclass(frozen=True, slots=True, kw_only=True)
class Move:
    """One row taken: ``row`` is the table key (its state may be ``*``)."""

    row: tuple[str, str]
    before: State
    after: State


def find_row(state: str, event: str) -> tuple[str, str] | None:
    """The key of the row for ``event`` in ``state`` (its own, else ``*``), or None: ignored."""
    for key in ((state, event), (ANY, event)):
        if key in TABLE:
            return key
    return None
