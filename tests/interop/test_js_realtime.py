"""matrix-js-sdk's own sync loop carries a two-user conversation in real time (the steps and
their checks are in js/realtime.mjs, which exits non-zero on the first failed expectation)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.helpers import HomeserverUnderTest
from tests.interop.js_helpers import JS_DIR

# Each wait inside the script gives up after 20 s; this only stops a script that hangs.
SCRIPT_SECONDS = 120


async def run_script(name: str, *args: str) -> tuple[int, str]:
    """Exit code and combined output of `node js/<name> ARGS...`."""
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(JS_DIR / name),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(proc.communicate(), SCRIPT_SECONDS)
    except TimeoutError:
        proc.kill()
        output, _ = await proc.communicate()
        return -1, output.decode() + f"\n(killed after {SCRIPT_SECONDS} s)"
    assert proc.returncode is not None
    return proc.returncode, output.decode()


def check_summary(output: str) -> None:
    summary = json.loads(output.strip().splitlines()[-1])
    assert summary["history"][0] == "m.room.create"
    assert summary["scrollback_pages"] >= 1
    assert "m.reaction" in summary["history"] and "m.room.redaction" in summary["history"]


async def test_js_sdk_sync_loop_carries_a_live_conversation(
    hs: HomeserverUnderTest, node_modules: Path
) -> None:
    code, output = await run_script("realtime.mjs", hs.base_url)
    assert code == 0, output[-6000:]
    check_summary(output)


async def test_js_sdk_sync_loop_with_client_side_push_rules(
    hs: HomeserverUnderTest, node_modules: Path
) -> None:
    """The same conversation with js-sdk's push-rules fetch answered inside the client (an
    empty rule set), so the real-time checks do not depend on the server's push rules."""
    code, output = await run_script("realtime.mjs", hs.base_url, "--stub-pushrules")
    print(output)  # the steps it passed, shown by `pytest -rP`
    assert code == 0, output[-6000:]
    check_summary(output)
