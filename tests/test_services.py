"""The service fixtures reach real servers; CI runs these with COALGATE_REQUIRE_SERVICES=1."""

from __future__ import annotations

import threading

import pytest

from tests.conftest import Mosquitto


@pytest.mark.mosquitto
def test_private_broker_delivers_and_stops(mosquitto: Mosquitto) -> None:
    paho = pytest.importorskip("paho.mqtt.client")
    received: list[bytes] = []
    subscribed = threading.Event()
    arrived = threading.Event()

    def on_subscribe(*_args: object) -> None:
        subscribed.set()

    def on_message(_client: object, _userdata: object, message: object) -> None:
        received.append(message.payload)  # type: ignore[attr-defined]
        arrived.set()

    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="fixture-check")
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    try:
        client.subscribe("cg/v1/test/#", qos=1)
        assert subscribed.wait(5)
        info = client.publish("cg/v1/test/x", b"\x00\xffhello", qos=1)
        info.wait_for_publish(5)
        assert arrived.wait(5)
    finally:
        client.disconnect()
        client.loop_stop()
    assert received == [b"\x00\xffhello"]
    mosquitto.stop()
    assert mosquitto.process is None


@pytest.mark.postgres
def test_private_database_is_usable_and_dropped(postgres_dsn: str) -> None:
    psycopg = pytest.importorskip("psycopg")
    with psycopg.connect(postgres_dsn) as conn:
        conn.execute("CREATE TABLE t (device text, seq bigint, PRIMARY KEY (device, seq))")
        conn.execute("INSERT INTO t VALUES ('d', 1) ON CONFLICT DO NOTHING")
        conn.execute("INSERT INTO t VALUES ('d', 1) ON CONFLICT DO NOTHING")
        row = conn.execute("SELECT count(*) FROM t").fetchone()
    assert row == (1,)
