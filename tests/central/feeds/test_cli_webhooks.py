"""``coalgate central webhooks run`` as an operator runs it: it finds the new credit events of
a real day of records, POSTs them signed to a subscribed receiver (a real HTTP server), and
stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from central.store.sqlite import SqliteStore
from central.webhooks import signing
from tests.central.feeds.test_docs_feeds import load_a_day
from tests.central.test_cli_central import env_for
from tests.test_cli_wire import COALGATE

SECRET = "whsec_cli-test-0123456789"


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[str, bytes]], threading.Event]]:
    received: list[tuple[str, bytes]] = []
    arrived = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.headers[signing.SIGNATURE_HEADER], body))
            self.send_response(204)
            self.end_headers()
            arrived.set()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="cli-webhook-receiver")
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received, arrived
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_webhooks_run_delivers_and_stops_on_sigterm(
    tmp_path: Path, receiver: tuple[str, list[tuple[str, bytes]], threading.Event]
) -> None:
    url, received, arrived = receiver
    (tmp_path / "data").mkdir()
    database = tmp_path / "data" / "central.db"
    load_a_day(database)
    store = SqliteStore(database)
    try:
        token = store.add_token(digest=b"\x0a" * 32, role="platform", actor="test", at=0)
        store.add_webhook(
            token=token.id,
            enterprise=None,
            feed="credit",
            url=url,
            secret=SECRET,
            actor="test",
            at=0,
        )
    finally:
        store.close()
    process = subprocess.Popen(
        [COALGATE, "central", "webhooks", "run", "--interval-s", "0.2"],
        cwd=tmp_path,
        env=env_for(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        delivered = arrived.wait(timeout=60)
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert delivered, err
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert "webhooks stopped" in out
    header, body = received[0]
    sent_at = int(header.split(",")[0].removeprefix("t="))
    assert signing.verify(SECRET, body, header, now_ms=sent_at, tolerance_ms=0)
    item = json.loads(body)["item"]
    assert (item["kind"], item["subject"]) == ("escape", "yl-coal-co-a")
    reopened = SqliteStore(database)
    try:
        assert reopened.webhook_backlog() == 0
    finally:
        reopened.close()
