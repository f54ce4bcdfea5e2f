"""Scale indicators: sans-IO frame parsers for each serial protocol, and conversion to kg."""
