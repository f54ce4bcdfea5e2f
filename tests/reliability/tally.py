"""What a reliability test injected and what it counted, printed in one block.

Every test in this package ends with a ``Tally``: the faults it injected, in order, and the
figures that prove the guarantee (sent, stored, duplicates, lost). ``pytest -s`` shows them;
``-ra`` keeps them with a failure. The figures are also asserted by the test: the printout is
for the operator reading the run, the assertions are the proof.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Tally:
    """``injected`` faults in order and the ``counted`` figures, printed by ``report``."""

    name: str
    injected: list[str] = field(default_factory=list)
    counted: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    def inject(self, what: str) -> None:
        elapsed = time.monotonic() - self.started
        self.injected.append(f"{elapsed:7.2f} s  {what}")
        print(f"[{self.name}] +{elapsed:.2f} s injected: {what}", flush=True)

    def count(self, **figures: int) -> None:
        self.counted.update(figures)

    def report(self) -> str:
        lines = [f"== {self.name}: {time.monotonic() - self.started:.1f} s =="]
        lines += [f"  injected {item}" for item in self.injected]
        lines += [f"  {key:>12}: {value}" for key, value in self.counted.items()]
        text = "\n".join(lines)
        print(text, flush=True)
        return text
