"""``coalgate demo``: a whole simulated region from one command (see ``run.py``).

- ``broker.py``: the embedded broker (Mosquitto when on PATH, else amqtt);
- ``region.py``: the region's plan and its registration at central;
- ``traffic.py``: the lane simulators' scenarios and the edges' site files;
- ``summary.py``: the live and final summary, read from central's API;
- ``procs.py``: every child process, started and stopped in one place;
- ``run.py``: the orchestration.
"""

from __future__ import annotations

from coalgate.demo.errors import DemoError
from coalgate.demo.run import DemoOptions, run_demo

__all__ = ["DemoError", "DemoOptions", "run_demo"]
