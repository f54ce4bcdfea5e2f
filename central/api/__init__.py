"""Central's HTTP API (FastAPI): :func:`central.api.app.create_app` builds it."""
