"""``coalgate edge operator``: the console's accounts from a terminal, run as a real process."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

from edge.console.accounts import Accounts

PASSWORD = "platform scale 7"


def operator(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "coalgate", "edge", "operator", *args],
        input=stdin, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_add_list_passwd_disable_enable(tmp_path: Path) -> None:
    data = tmp_path / "data"
    added = operator(
        "add", "zhang.wei", "--name", "张伟", "--data-dir", str(data), "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    path = data / "operators.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert PASSWORD not in path.read_text(encoding="utf-8")
    accounts = Accounts(path)
    assert accounts.verify("zhang.wei", PASSWORD) is not None
    listed = operator("list", "--data-dir", str(data), "--json")
    assert json.loads(listed.stdout) == [
        {"id": "zhang.wei", "name": "张伟", "created_ms": accounts.list()[0].created_ms,
         "disabled": False}
    ]  # fmt: skip
    assert "hash" not in listed.stdout
    assert "scrypt" not in listed.stdout
    changed = operator(
        "passwd", "zhang.wei", "--data-dir", str(data), "--password-stdin", stdin="new pass 123\n"
    )
    assert changed.returncode == 0, changed.stderr
    assert accounts.verify("zhang.wei", PASSWORD) is None
    assert accounts.verify("zhang.wei", "new pass 123") is not None
    assert operator("disable", "zhang.wei", "--data-dir", str(data)).returncode == 0
    assert accounts.verify("zhang.wei", "new pass 123") is None
    assert "disabled" in operator("list", "--data-dir", str(data)).stdout
    assert operator("enable", "zhang.wei", "--data-dir", str(data)).returncode == 0
    assert accounts.verify("zhang.wei", "new pass 123") is not None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_mistakes_get_one_clear_line(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    short = operator("add", "li", "--data-dir", data, "--password-stdin", stdin="short\n")
    assert short.returncode == 1
    assert short.stderr.strip() == "Error: account: a password has 8 to 256 characters"
    assert (
        operator("add", "li", "--data-dir", data, "--password-stdin", stdin=PASSWORD).returncode
        == 0
    )
    again = operator("add", "li", "--data-dir", data, "--password-stdin", stdin=PASSWORD)
    assert again.stderr.strip() == "Error: account: operator 'li' exists"
    unknown = operator("passwd", "wu", "--data-dir", data, "--password-stdin", stdin=PASSWORD)
    assert unknown.stderr.strip() == "Error: account: no operator 'wu'"
    neither = operator("list")
    assert neither.returncode == 2
    assert "give either --data-dir or --config" in neither.stderr
    missing = operator("list", "--config", str(tmp_path / "nowhere.toml"))
    assert missing.returncode == 1
    assert len(missing.stderr.strip().splitlines()) == 1
    assert "Traceback" not in missing.stderr + short.stderr + again.stderr
