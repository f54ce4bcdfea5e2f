"""A lane that does nothing but write records: the subject of the kill -9 tests.

    python -m tests.edge.journal.appender DB     (from the repository root)

Appends records (of every type) to the journal at DB for ever and prints ``<seq> <record id
hex>`` after each ``append`` returned — i.e. after the record is durable, the moment a lane
would lift the barrier. The test kills it with SIGKILL at random points.
"""

from __future__ import annotations

import sys
from pathlib import Path

from edge.journal.store import Journal
from tests.edge.journal.support import DEVICE, SITE, body_for, device_key


def main() -> None:
    journal = Journal.open(Path(sys.argv[1]), key=device_key(), site=SITE, device=DEVICE)
    number = 0
    while True:
        number += 1
        body = body_for(number)
        entry = journal.append(record_type=body.TYPE, body=body, ts_ms=1_796_083_200_000 + number)
        sys.stdout.write(f"{entry.seq} {entry.record_id.hex()}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
