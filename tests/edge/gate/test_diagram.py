"""docs/gate.md shows the diagram and table generated from the code, and names every code."""

from __future__ import annotations

from pathlib import Path

from edge.gate import alarms, diagram
from edge.gate.table import EVENTS, STATES, TABLE
from wire.bodies import LANE_STATES, REASON_CODES

DOC = Path(__file__).resolve().parents[3] / "docs" / "gate.md"


def test_diagram_in_docs_is_generated_from_the_table() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert diagram.embedded(text, diagram.DIAGRAM_BEGIN, diagram.DIAGRAM_END) == diagram.mermaid()


def test_table_in_docs_is_generated_from_the_table() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert diagram.embedded(text, diagram.TABLE_BEGIN, diagram.TABLE_END) == (
        diagram.markdown_table()
    )


def test_docs_explain_every_reason_code_and_event_kind() -> None:
    text = DOC.read_text(encoding="utf-8")
    for code in REASON_CODES:
        assert f"`{code}`" in text, code
    for kind in alarms.KINDS:
        assert f"`{kind}`" in text, kind


def test_states_are_wire_lane_states_and_rows_are_well_formed() -> None:
    assert set(STATES) == LANE_STATES
    for (state, event), (target, _) in TABLE.items():
        assert state in (*STATES, "*")
        assert event in EVENTS
        assert target is None or target in STATES


def test_every_state_appears_in_the_diagram() -> None:
    drawn = diagram.mermaid()
    for state in STATES:
        assert f" {state} " in drawn or f" {state}:" in drawn or f"> {state}" in drawn


def test_embedded_is_empty_without_markers() -> None:
    assert diagram.embedded("no markers", diagram.DIAGRAM_BEGIN, diagram.DIAGRAM_END) == ""


def test_the_example_in_the_docs_runs() -> None:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("```python\n") + len("```python\n")
    code = text[start : text.index("```", start)]
    exec(compile(code, str(DOC), "exec"), {})  # the docs own example, as written
