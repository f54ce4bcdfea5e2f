"""The edge's signed journal: every record signed, chained and on disk before anyone acts on it.

``Journal`` (SQLite, WAL, ``synchronous=FULL``) is also the outbox the uplink drains and the
cache of the latest verified site bundle, so a lane keeps working offline for days.
"""
