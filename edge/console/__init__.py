"""The operator console served by the edge: pages, operator accounts, sessions and live state.

``edge.console.routes.console_router(backend=…, accounts=…, clock=…)`` is mounted by the edge's
HTTP app; ``edge.console.backend.ConsoleBackend`` is what it needs of the edge (the runtime
implements it; ``edge.console.memory.MemoryBackend`` drives real lanes in memory);
``edge.console.accounts`` keeps the operators' accounts (``coalgate edge operator``).
"""
