"""The uplink: the journal's signed records to central over MQTT, acks and site bundles back.

``Uplink`` (``edge.uplink.client``) is the adapter; ``edge.uplink.window`` decides purely what
to publish and when to resend; ``edge.uplink.broker`` reads the broker URL and TLS files.
"""
