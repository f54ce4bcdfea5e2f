"""The wire contract between edge, central and verifiers (WIRE.md). Pure: no I/O but key files."""
