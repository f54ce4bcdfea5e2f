"""docs/central.md's API examples run: the setup session (its ``sh`` block), then
``coalgate central run``, then the ``console`` block's commands against it, each curl failing
the test on an HTTP error."""

from __future__ import annotations

import re
import signal
import subprocess
from pathlib import Path

from tests.central.test_cli_api import serve, stop
from tests.central.test_cli_central import ROOT, doc_block, env_for


def console_block() -> str:
    text = (ROOT / "docs" / "central.md").read_text()
    (block,) = re.findall(r"```console\n(.*?)```", text, flags=re.DOTALL)
    return "\n".join(line.removeprefix("$ ") for line in block.splitlines()) + "\n"


def test_the_documented_api_examples_run(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    setup = subprocess.run(
        ["bash", "-e", "-u", "-o", "pipefail", "-c", doc_block()], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert setup.returncode == 0, setup.stderr
    # The session's exports (COALGATE_DATA_DIR) hold for the server and the examples too.
    env["COALGATE_DATA_DIR"] = str(tmp_path / "central-data")
    process, base = serve(tmp_path, "--no-ingest", env=env)
    try:
        port = base.rsplit(":", 1)[1]
        script = console_block().replace("8080", port)
        script = script.replace("curl -s ", "curl -s --fail-with-body ").replace(
            "\ncurl", "\necho; curl"
        )
        examples = subprocess.run(
            ["bash", "-e", "-u", "-o", "pipefail", "-c", script], cwd=tmp_path, env=env,
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    finally:
        stop(process, signal.SIGTERM)
    assert examples.returncode == 0, examples.stdout + examples.stderr
    out = examples.stdout
    assert '"kty":"OKP"' in out
    assert '"items":[' in out
    assert '"qr":"CT1:' in out
    assert '"valid":true' in out
    assert '"ticket_state":"revoked"' in out
    assert '"certificate":"' in out
    assert '"sighting":{"id":1,"checkpoint":"yl-cp-shenmu-north","kind":"ticket"' in out
    assert '"kind":"manual","cti":null,"plate":"陕K23456"' in out
    assert '{"items":[{"id":1,"checkpoint":"yl-cp-shenmu-north"' in out
