"""Ingest: MQTT records in, verified and stored, signed acks out (WIRE.md "MQTT")."""
