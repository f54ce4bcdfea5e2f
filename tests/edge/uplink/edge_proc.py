"""An edge agent's uplink as its own process, so a test can kill it with SIGKILL.

    python -m tests.edge.uplink.edge_proc DB URL MQTT_VERSION     (from the repository root)

Opens the journal at DB, runs the uplink until killed, and prints ``connected`` once it is.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from edge.journal.store import Journal
from edge.uplink.client import Uplink
from tests.edge.journal.support import DEVICE, SITE, device_key
from tests.wire.central_factories import CENTRAL_KEYS


async def main(path: Path, url: str, version: str) -> None:
    with Journal.open(path, key=device_key(), site=SITE, device=DEVICE) as journal:
        uplink = Uplink(
            journal=journal,
            url=url,
            central_keys=CENTRAL_KEYS,
            mqtt_version=version,
            software_version="proc-1.0",
            resend_after_s=0.5,
            backoff_initial_s=0.05,
            backoff_max_s=0.5,
        )
        async with asyncio.TaskGroup() as group:
            group.create_task(uplink.run(), name="uplink")
            while (await uplink.events.get()).kind != "connected":
                pass
            sys.stdout.write("connected\n")
            sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], sys.argv[3]))
