"""The leak checks themselves: a test that leaves work behind must fail (pytester runs them)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytest_plugins = ["pytester"]

CONFTEST = "from tests.conftest import _no_leaks, _no_task_leaks, pytest_collection_modifyitems\n"


@pytest.mark.parametrize(
    ("body", "leak"),
    [
        (
            "import threading, time\n"
            "def test_thread():\n"
            "    threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n",
            "threads",
        ),
        (
            "import subprocess\ndef test_process():\n    subprocess.Popen(['sleep', '30'])\n",
            "child processes",
        ),
        (
            "import asyncio\n"
            "async def test_task():\n"
            "    asyncio.get_running_loop().create_task(asyncio.sleep(30), name='stray')\n",
            "stray",
        ),
    ],
)
def test_leaks_fail_the_test(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, body: str, leak: str
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_leaky=body)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-o", "asyncio_mode=auto")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([f"*{leak}*"])
