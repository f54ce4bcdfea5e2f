"""Byte-level encoders of each indicator protocol, written from PROTOCOLS.md §1-3. Pure."""
