"""The gate's relay/IO module: barrier, lights and horn on coils; photo-eyes and the barrier's
limit switch on discrete inputs (PROTOCOLS.md §4)."""
