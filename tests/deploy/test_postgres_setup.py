"""deploy/postgres/create-database.sql as an operator runs it, then ``coalgate central
migrate`` as the role it made."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_DSN, service_missing
from tests.test_cli_wire import COALGATE

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "postgres" / "create-database.sql"


@pytest.mark.postgres
def test_create_database_then_migrate(tmp_path: Path) -> None:
    psycopg = pytest.importorskip("psycopg")
    if shutil.which("psql") is None:
        service_missing("psql is not installed")
    try:
        psycopg.connect(POSTGRES_DSN, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        service_missing(f"PostgreSQL not reachable at {POSTGRES_DSN}: {exc}")
    name = f"cg_deploy_{os.getpid()}_{time.monotonic_ns() % 10**9}"
    try:
        subprocess.run(
            ["psql", POSTGRES_DSN, "-v", "ON_ERROR_STOP=1", "-v", f"role={name}",
             "-v", "password=deploy-test", "-v", f"db={name}", "-f", str(SCRIPT)],
            check=True, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        host = POSTGRES_DSN.split("@", 1)[1].split("/", 1)[0]
        env = {
            "COALGATE_DATA_DIR": str(tmp_path / "data"),
            "COALGATE_DATABASE_URL": f"postgresql://{name}:deploy-test@{host}/{name}",
            "PATH": "/usr/bin:/bin",
        }
        result = subprocess.run(
            [COALGATE, "central", "migrate"], env=env, capture_output=True, text=True,
            timeout=120, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "applied 0001_registry" in result.stdout
    finally:
        with psycopg.connect(POSTGRES_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'DROP ROLE IF EXISTS "{name}"')
