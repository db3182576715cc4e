#!/usr/bin/env python3
"""Send throughput: 8 concurrent clients sending messages into one room, as fast as acks allow,
against a homeserver started as a separate process (SQLite or PostgreSQL). Also measures
/messages?limit=50 requests per second.

    .venv/bin/python bench/bench_send.py [--db sqlite|postgres] [--senders 8] [--messages 250]

Prints events/s for the send phase and req/s for the /messages phase. Not part of the tests."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_launch(db: str, data_dir: str) -> tuple[list[str], dict[str, str], int, str | None]:
    """How to run `python -m homeserver run` for a benchmark on a free port, on a fresh SQLite
    database in `data_dir` or a fresh PostgreSQL schema: (command, environment, port, schema)."""
    port = free_port()
    env = {**os.environ, "DATA_DIR": data_dir, "PORT": str(port)}
    schema = None
    if db == "postgres":
        schema = f"bench_{secrets.token_hex(4)}"
        psql(f'CREATE SCHEMA "{schema}"')
        env["DATABASE_URL"] = PG_URL
    config = Path(data_dir) / "bench.yaml"
    config.write_text(
        "rate_limits:\n  enabled: false\nlog_level: WARNING\n"
        "password_hashing:\n  opslimit: 1\n  memlimit: 8192\n"
        + (f"database_schema: {schema}\n" if schema else "")
    )
    return [sys.executable, "-m", "homeserver", "run", "--config", str(config)], env, port, schema


def start_server(db: str, data_dir: str) -> tuple[subprocess.Popen[bytes], str, str | None]:
    """Start the homeserver; returns (process, base URL, PG schema)."""
    command, env, port, schema = server_launch(db, data_dir)
    if os.environ.get("BENCH_PROFILE"):  # e.g. BENCH_PROFILE=/tmp/send.svg: py-spy flame graph of the server
        command = ["py-spy", "record", "-o", os.environ["BENCH_PROFILE"], "--", *command]
    return subprocess.Popen(command, cwd=ROOT, env=env), f"http://127.0.0.1:{port}", schema


def psql(sql: str) -> None:
    subprocess.run(["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-c", sql], check=True)


async def wait_healthy(base: str) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(400):
            try:
                async with http.get(base + "/health") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError("server did not start")


async def call(
    http: aiohttp.ClientSession, method: str, url: str, token: str | None = None, body: Any = None
) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.request(method, url, json=body, headers=headers) as r:
        data = await r.json()
        if r.status >= 400 and r.status != 401:
            raise RuntimeError(f"{method} {url}: {r.status} {data}")
        return data


async def register(http: aiohttp.ClientSession, base: str, name: str) -> str:
    url = base + "/_matrix/client/v3/register"
    body: dict[str, Any] = {"username": name, "password": "benchpassword"}
    first = await call(http, "POST", url, body=body)
    body["auth"] = {"type": "m.login.dummy", "session": first["session"]}
    done = await call(http, "POST", url, body=body)
    return str(done["access_token"])


async def run(db: str, base: str, senders: int, messages: int) -> None:
    await wait_healthy(base)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        tokens = [await register(http, base, f"u{i}") for i in range(senders)]
        c = base + "/_matrix/client/v3"
        room = (await call(http, "POST", c + "/createRoom", tokens[0], {"preset": "public_chat"}))["room_id"]
        for t in tokens[1:]:
            await call(http, "POST", f"{c}/join/{room}", t, {})

        async def sender(i: int) -> None:
            for n in range(messages):
                await call(
                    http,
                    "PUT",
                    f"{c}/rooms/{room}/send/m.room.message/b{n}",
                    tokens[i],
                    {"msgtype": "m.text", "body": f"message {n} from sender {i}"},
                )

        start = time.perf_counter()
        await asyncio.gather(*(sender(i) for i in range(senders)))
        elapsed = time.perf_counter() - start
        total = senders * messages
        print(
            f"[{db}] send: {total} events from {senders} clients in {elapsed:.2f}s = "
            f"{total / elapsed:,.0f} events/s"
        )

        async def reader(i: int, count: int) -> None:
            for _ in range(count):
                await call(http, "GET", f"{c}/rooms/{room}/messages?dir=b&limit=50", tokens[i])

        reads = 100
        start = time.perf_counter()
        await asyncio.gather(*(reader(i, reads) for i in range(senders)))
        elapsed = time.perf_counter() - start
        print(
            f"[{db}] /messages limit=50: {senders * reads} requests in {elapsed:.2f}s = "
            f"{senders * reads / elapsed:,.0f} req/s"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--messages", type=int, default=250)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        proc, base, schema = start_server(args.db, data_dir)
        try:
            asyncio.run(run(args.db, base, args.senders, args.messages))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
            if schema:
                psql(f'DROP SCHEMA "{schema}" CASCADE')


if __name__ == "__main__":
    main()
