"""Running the matrix-js-sdk scripts in tests/interop/js/ (their node_modules come from the
`node_modules` fixture in tests/interop/conftest.py)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

JS_DIR = Path(__file__).parent / "js"


async def node_json(script: str, *args: str) -> Any:
    """Run `node js/<script> ARGS...`, require it to succeed, and return the JSON object it
    prints on its last line of output."""
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(JS_DIR / script),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await proc.communicate()
    assert proc.returncode == 0, stderr.decode()[-3000:]
    return json.loads(stdout.decode().strip().splitlines()[-1])
