"""The lane's state diagram (Mermaid) and its full table (Markdown), generated from THE table.

docs/gate.md embeds both between markers; a test compares them with what this module makes,
so the documentation cannot drift from the code. ``python -m edge.gate.diagram`` prints them.
"""

from __future__ import annotations

from edge.gate.table import ANY, STATES, TABLE

DIAGRAM_BEGIN = "<!-- generated: state diagram -->"
DIAGRAM_END = "<!-- end: state diagram -->"
TABLE_BEGIN = "<!-- generated: transition table -->"
TABLE_END = "<!-- end: transition table -->"


def mermaid() -> str:
    """A ``stateDiagram-v2`` with one arrow per pair of states, labelled with its events."""
    arrows: dict[tuple[str, str], list[str]] = {}
    for (state, event), (target, _) in TABLE.items():
        if state == ANY or target is None or target == state:
            continue
        arrows.setdefault((state, target), []).append(event)
    lines = ["```mermaid", "stateDiagram-v2", "    [*] --> idle"]
    order: dict[str, int] = {name: index for index, name in enumerate(STATES)}
    for (source, sink), events in sorted(
        arrows.items(), key=lambda item: (order[item[0][0]], order[item[0][1]])
    ):
        lines.append(f"    {source} --> {sink}: {', '.join(events)}")
    lines.append("```")
    return "\n".join(lines)


def markdown_table() -> str:
    """Every row: state, event, new state (``—`` for stay), actions."""
    lines = ["| state | event | new state | actions |", "|---|---|---|---|"]
    for (state, event), (target, actions) in TABLE.items():
        shown = "\\*" if state == ANY else state
        lines.append(f"| {shown} | `{event}` | {target or '—'} | {', '.join(actions) or '—'} |")
    return "\n".join(lines)


def embedded(text: str, begin: str, end: str) -> str:
    """The text between ``begin`` and ``end`` in ``text`` (stripped), or '' if absent."""
    start = text.find(begin)
    stop = text.find(end)
    if start < 0 or stop < start:
        return ""
    return text[start + len(begin) : stop].strip()


if __name__ == "__main__":
    print(mermaid())  # noqa: T201 - the command's output
    print()  # noqa: T201
    print(markdown_table())  # noqa: T201
