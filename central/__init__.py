"""The regulator's service: ingest, store, tickets, feeds, API and dashboard."""
