"""Suite-wide fixtures: real services, leak checks, hypothesis budgets.

Services: a test that needs PostgreSQL or Mosquitto asks for the ``postgres_dsn`` or
``mosquitto`` fixture. When the service is missing the test is skipped — unless
``COALGATE_REQUIRE_SERVICES=1`` (set by .ci/run), when it fails: CI must not pass by skipping.

Budgets: hypothesis runs the ``default`` profile (quick enough for the 30-minute suite);
``COALGATE_FUZZ=long`` selects a long profile for fuzz and soak runs on demand, and
``COALGATE_FUZZ_EXAMPLES=N`` sets the example count directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "long",
    max_examples=int(os.environ.get("COALGATE_FUZZ_EXAMPLES", "5000")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
if "COALGATE_FUZZ_EXAMPLES" in os.environ and os.environ.get("COALGATE_FUZZ") != "long":
    settings.register_profile(
        "default",
        max_examples=int(os.environ["COALGATE_FUZZ_EXAMPLES"]),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
settings.load_profile("long" if os.environ.get("COALGATE_FUZZ") == "long" else "default")

REQUIRE_SERVICES = os.environ.get("COALGATE_REQUIRE_SERVICES") == "1"
POSTGRES_DSN = os.environ.get("COALGATE_TEST_POSTGRES", "postgresql://root@127.0.0.1:5432/postgres")


def service_missing(why: str) -> None:
    """Skip, or fail when CI requires every service (COALGATE_REQUIRE_SERVICES=1)."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required service missing: {why}", pytrace=False)
    pytest.skip(why)


# --- leak checks ---------------------------------------------------------------------------


def _children() -> set[int]:
    pids: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        try:
            text = (task / "children").read_text()
        except OSError:
            continue
        pids.update(int(pid) for pid in text.split())
    return pids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.fixture(autouse=True)
def _no_leaks() -> Iterator[None]:
    """Fail a test that leaves threads or child processes behind (STYLE.md)."""
    threads_before = set(threading.enumerate())
    children_before = _children()
    yield
    deadline = time.monotonic() + 5.0
    while True:
        threads = [t for t in threading.enumerate() if t not in threads_before and t.is_alive()]
        children = [p for p in _children() - children_before if _alive(p)]
        if not threads and not children:
            return
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    for pid in children:  # so one leaky test does not disturb the ones after it
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    pytest.fail(f"test left behind threads {threads} and child processes {children}", pytrace=False)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Async tests also get the task leak check (a sync fixture cannot see their loop)."""
    for item in items:
        function = getattr(item, "function", None)
        if function is not None and inspect.iscoroutinefunction(function):
            item.fixturenames.append("_no_task_leaks")  # type: ignore[attr-defined]


@pytest_asyncio.fixture
async def _no_task_leaks() -> AsyncIterator[None]:
    """Fail an async test that leaves tasks running on its loop (STYLE.md)."""
    before = asyncio.all_tasks()
    yield
    await asyncio.sleep(0)  # let tasks that were told to finish do so
    current = asyncio.current_task()
    leaked = [t for t in asyncio.all_tasks() - before if t is not current and not t.done()]
    for task in leaked:
        task.cancel()
    if leaked:
        pytest.fail(f"test left tasks running: {[t.get_name() for t in leaked]}", pytrace=False)


# --- services ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Mosquitto:
    """A private Mosquitto broker on a free port, with a config the test controls."""

    def __init__(self, directory: Path, *, extra_config: str = "") -> None:
        self.directory = directory
        self.port = free_port()
        self.config = directory / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence false\n"
            f"log_dest file {directory / 'mosquitto.log'}\n" + extra_config
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.process = subprocess.Popen(
            [binary, "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"mosquitto exited with {self.process.returncode}") from None
                time.sleep(0.05)
            else:
                return
        raise RuntimeError("mosquitto did not start listening within 10 s")

    def stop(self, *, kill: bool = False) -> None:
        if self.process is None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A private broker for this test; stopped and its files removed afterwards."""
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        service_missing("mosquitto is not installed")
    broker = Mosquitto(tmp_path)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def postgres_dsn() -> Iterator[str]:
    """A fresh database on the running PostgreSQL server, dropped afterwards."""
    psycopg = pytest.importorskip("psycopg")
    name = f"coalgate_test_{os.getpid()}_{int(time.monotonic_ns() % 10**9)}"
    try:
        admin = psycopg.connect(POSTGRES_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        service_missing(f"PostgreSQL not reachable at {POSTGRES_DSN}: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield POSTGRES_DSN.rsplit("/", 1)[0] + f"/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


CHROMIUM = os.environ.get("COALGATE_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture
def browser() -> Iterator[object]:
    """Headless Chromium (Debian's, driven by playwright), closed afterwards. Typed ``object``
    here so this module needs no playwright import; tests annotate it as playwright's
    ``Browser``."""
    try:
        from playwright.sync_api import sync_playwright  # noqa: PLC0415 - optional dependency
    except ImportError:
        service_missing("the playwright package is not installed")
    if not Path(CHROMIUM).exists():
        service_missing(f"chromium is not installed at {CHROMIUM}")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield launched
        finally:
            launched.close()
