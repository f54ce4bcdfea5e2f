"""The edge at run time: the agent that joins drivers, gate core, journal, uplink and the local
HTTP server (``coalgate edge run``), and enrollment (``coalgate edge enroll``)."""
