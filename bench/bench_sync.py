#!/usr/bin/env python3
"""Sync load: L listeners and S senders in ONE room, against the homeserver (a subprocess on a
fresh SQLite or PostgreSQL database) and/or the in-memory ceiling server
(shared/bench/ceiling_server.py), one after the other in the same run.

Listeners follow the room by long-poll /sync (`since`, `timeout=30000`, a filter limiting the
timeline) or by the WebSocket sync (DESIGN.md, "WebSocket sync"). Senders PUT messages either as
fast as acknowledgements allow (each sender sends its next message once the previous returned)
or at a fixed total rate (open loop: a message leaves at its scheduled time whatever is still in
flight). Each message carries a unique sequence number and its send wall-clock time; every
listener records each arrival. A trial is: warm-up (messages not counted), measurement, then a
drain until every listener saw every acknowledged measured message or the grace time ran out.
Reported: sends/s, deliveries/s, missing (expected deliveries never seen; a `limited: true`
timeline is a gap a real client would back-paginate, so what it skipped counts as missing and
the number of limited responses is reported), duplicates, latency p50/p95/p99 (arrival minus
send time), and the CPU used by the server and by this generator over the measurement.

Scenarios (presets; every flag can still be given):
  --scenario a   long-poll, 50 listeners, 8 senders as fast as acks allow
  --scenario b   WebSocket, 200 listeners, 100 messages/s in total (add --search for the
                 highest fixed rate with nothing missing)
  --scenario c   initial sync: one user in 20 rooms of 50 messages, /sync without `since`,
                 timeline limit 10, median and p95 over 200 sequential requests
  --scenario d   idle WebSockets: open N authenticated sockets, report the server's RSS growth
                 per socket (/proc/<pid>/status VmRSS before and after)

    .venv/bin/python bench/bench_sync.py --scenario a --target both [--db sqlite|postgres] [--runs 3]

BENCH_PROFILE=/tmp/sync.txt attaches py-spy to the homeserver for the first measured trial
(raw collapsed stacks, or a flame graph if the name ends in .svg) and prints the hottest
functions (BENCH_PROFILE_GIL=1: only samples holding the GIL; BENCH_PROFILE_RATE: samples per
second, default 100). Not part of the tests."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import multiprocessing as mp
import multiprocessing.connection as mpc
import os
import re
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from array import array
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
import uvloop
from bench_send import free_port, psql, server_launch  # the same server set-up as the send bench

ROOT = Path(__file__).resolve().parents[1]
C = "/_matrix/client/v3"
WS_PATH = "/_matrix/client/unstable/org.homeserver.ws/sync"
TICK = os.sysconf("SC_CLK_TCK")
MAX_IN_FLIGHT = 2000  # fixed-rate sends waiting for their ack; past it a scheduled send is skipped
PRESETS: dict[str, dict[str, Any]] = {
    "a": {"mode": "longpoll", "listeners": 50, "senders": 8, "rate": 0.0},
    "b": {"mode": "ws", "listeners": 200, "senders": 8, "rate": 100.0},
}


class Unsupported(Exception):
    """The server under test lacks an endpoint the scenario needs."""


# --- servers -----------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    base: str
    schema: str | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid


def start_homeserver(db: str, data_dir: str) -> Server:
    command, env, port, schema = server_launch(db, data_dir)
    proc = subprocess.Popen(command, cwd=ROOT, env=env)
    return Server(f"homeserver ({db})", proc, f"http://127.0.0.1:{port}", schema)


def start_ceiling(path: Path) -> Server:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(path), "--port", str(port), "--uvloop"])
    return Server("ceiling", proc, f"http://127.0.0.1:{port}")


def stop_server(server: Server) -> None:
    server.proc.send_signal(signal.SIGTERM)
    try:
        server.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()
    if server.schema:
        psql(f'DROP SCHEMA "{server.schema}" CASCADE')


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (from /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def load_text() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# --- client helpers ----------------------------------------------------------------------------


def new_session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=60),
    )


async def wait_healthy(base: str) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            try:
                async with http.get(base + "/_matrix/client/versions") as r:
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
        data = await r.json(loads=orjson.loads)
        if r.status >= 400 and r.status != 401:
            raise RuntimeError(f"{method} {url}: {r.status} {data}")
        return data


async def register(http: aiohttp.ClientSession, base: str, name: str) -> str:
    url = base + C + "/register"
    body: dict[str, Any] = {"username": name, "password": "benchpassword"}
    first = await call(http, "POST", url, body=body)
    if "access_token" not in first:
        body["auth"] = {"type": "m.login.dummy", "session": first["session"]}
        first = await call(http, "POST", url, body=body)
    return str(first["access_token"])


async def login(http: aiohttp.ClientSession, base: str, name: str) -> str:
    body = {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": name},
        "password": "benchpassword",
    }
    return str((await call(http, "POST", base + C + "/login", body=body))["access_token"])


async def bounded(concurrency: int, coros: list[Any]) -> list[Any]:
    sem = asyncio.Semaphore(concurrency)

    async def one(coro: Any) -> Any:
        async with sem:
            return await coro

    return list(await asyncio.gather(*(one(c) for c in coros)))


async def make_room(http: aiohttp.ClientSession, base: str, tokens: list[str]) -> str:
    room = str(
        (await call(http, "POST", base + C + "/createRoom", tokens[0], {"preset": "public_chat"}))["room_id"]
    )
    await bounded(8, [call(http, "POST", f"{base}{C}/join/{room}", t, {}) for t in tokens[1:]])
    return room


def percentile(ordered: list[float] | array[float], p: float) -> float:
    if not ordered:
        return float("nan")
    return float(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))])


def timeline_filter(limit: int) -> str:
    return orjson.dumps({"room": {"timeline": {"limit": limit}}}).decode()


# --- listeners ---------------------------------------------------------------------------------


class Listener:
    """One client following the room; records each measured message once."""

    def __init__(self, group: ListenerGroup, token: str, room_index: int) -> None:
        self.group = group
        self.room_index = room_index  # messages with bench_seq % len(rooms) == room_index
        self.room = group.rooms[room_index]
        self.headers = {"Authorization": f"Bearer {token}"}
        self.ready = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.reconnects = 0
        self.errors = 0
        self.reset()

    def reset(self) -> None:
        self.seen: set[int] = set()
        self.lat_us = array("d")
        self.dups = 0
        self.limited = 0
        self.responses = 0
        self.last = 0.0
        self.complete = False

    def take(self, data: dict[str, Any], arrived: float) -> None:
        trial = self.group.trial
        if not trial:
            return
        self.responses += 1
        room = data.get("rooms", {}).get("join", {}).get(self.room)
        if room is None:
            return
        timeline = room.get("timeline") or {}
        if timeline.get("limited"):
            self.limited += 1
        now_us = arrived * 1e6
        for ev in timeline.get("events", ()):
            content = ev.get("content") or {}
            if content.get("bench_m") != trial:
                continue
            seq = content["bench_seq"]
            if seq in self.seen:
                self.dups += 1
                continue
            self.seen.add(seq)
            self.lat_us.append(now_us - content["bench_ts"])
            self.last = arrived

    async def longpoll(self) -> None:
        g = self.group
        first = f"{g.base}{C}/sync?filter={quote(g.filter)}"
        since: str | None = None
        while True:
            url = first if since is None else f"{first}&timeout=30000&since={quote(since)}"
            try:
                async with g.http.get(url, headers=self.headers) as r:
                    body = await r.read()
                    status = r.status
            except aiohttp.ClientError:
                self.errors += 1
                await asyncio.sleep(0.1)
                continue
            arrived = time.time()
            if status != 200:
                self.errors += 1
                if since is None and status in (401, 403, 404):
                    raise Unsupported(f"/sync answered {status}: {body[:200]!r}")
                await asyncio.sleep(0.1)
                continue
            data = orjson.loads(body)
            if since is not None:
                self.take(data, arrived)
            since = data["next_batch"]
            self.ready.set()

    async def websocket(self) -> None:
        g = self.group
        since: str | None = None
        while True:
            url = f"{g.base}{WS_PATH}?filter={quote(g.filter)}"
            if since is not None:
                url += f"&since={quote(since)}"
            try:
                ws = await g.http.ws_connect(url, headers=self.headers, max_msg_size=0, autoping=True)
            except aiohttp.WSServerHandshakeError as e:
                if since is None:
                    raise Unsupported(f"WebSocket sync answered {e.status}") from None
                self.errors += 1
                await asyncio.sleep(0.1)
                continue
            except aiohttp.ClientError:
                self.errors += 1
                await asyncio.sleep(0.1)
                continue
            async with ws:
                async for msg in ws:
                    if msg.type is not aiohttp.WSMsgType.TEXT:
                        continue
                    arrived = time.time()
                    data = orjson.loads(msg.data)
                    if data.get("type") != "sync":
                        continue
                    if since is not None:
                        self.take(data, arrived)
                    since = data["next_batch"]
                    self.ready.set()
            if g.stopping:
                return
            self.reconnects += 1

    def done(self, expected: set[int]) -> bool:
        if not self.complete and len(self.seen) >= len(expected) and expected <= self.seen:
            self.complete = True
        return self.complete


@dataclass
class GroupConfig:
    base: str
    rooms: list[str]  # all the rooms of the load, message `seq` going to rooms[seq % len]
    tokens: list[str]
    room_of: list[int]  # the index of the room each token's listener follows
    mode: str  # "longpoll" | "ws"
    limit: int


class ListenerGroup:
    """The listeners of one process."""

    def __init__(self, cfg: GroupConfig) -> None:
        self.base = cfg.base
        self.rooms = cfg.rooms
        self.mode = cfg.mode
        self.filter = timeline_filter(cfg.limit)
        self.trial = 0
        self.stopping = False
        self.http = new_session()
        self.listeners = [Listener(self, t, r) for t, r in zip(cfg.tokens, cfg.room_of, strict=True)]

    async def start(self) -> int:
        for li in self.listeners:
            li.task = asyncio.create_task(li.longpoll() if self.mode == "longpoll" else li.websocket())
        waits = [asyncio.create_task(li.ready.wait()) for li in self.listeners]
        pending = {*waits, *(li.task for li in self.listeners if li.task)}
        deadline = time.monotonic() + 300
        while not all(w.done() for w in waits):
            done, pending = await asyncio.wait(
                pending, timeout=deadline - time.monotonic(), return_when=asyncio.FIRST_COMPLETED
            )
            if not done:
                raise RuntimeError("listeners did not start within 300 s")
            for task in done:
                if task not in waits and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        return len(self.listeners)

    def begin(self, trial: int) -> None:
        for li in self.listeners:
            li.reset()
        self.trial = trial

    async def drain(self, trial: int, expected_list: list[int], grace: float) -> dict[str, Any]:
        by_room: list[set[int]] = [set() for _ in self.rooms]
        for seq in expected_list:
            by_room[seq % len(self.rooms)].add(seq)
        started = time.monotonic()
        while time.monotonic() - started < grace:
            if all(li.done(by_room[li.room_index]) for li in self.listeners):
                break
            await asyncio.sleep(0.05)
        self.trial = 0
        delivered = sum(len(li.seen & by_room[li.room_index]) for li in self.listeners)
        lat = array("d")
        for li in self.listeners:
            lat.extend(li.lat_us)
        return {
            "delivered": delivered,
            "expected": sum(len(by_room[li.room_index]) for li in self.listeners),
            "dups": sum(li.dups for li in self.listeners),
            "limited": sum(li.limited for li in self.listeners),
            "responses": sum(li.responses for li in self.listeners),
            "complete": sum(1 for li in self.listeners if li.done(by_room[li.room_index])),
            "last": max((li.last for li in self.listeners), default=0.0),
            "lat_us": lat,
            "reconnects": sum(li.reconnects for li in self.listeners),
            "errors": sum(li.errors for li in self.listeners),
        }

    async def stop(self) -> None:
        self.stopping = True
        for li in self.listeners:
            if li.task:
                li.task.cancel()
        await asyncio.gather(*(li.task for li in self.listeners if li.task), return_exceptions=True)
        await self.http.close()


def group_process(conn: mpc.Connection, cfg: GroupConfig) -> None:
    uvloop.run(_serve_group(conn, cfg))


async def _serve_group(conn: mpc.Connection, cfg: GroupConfig) -> None:
    loop = asyncio.get_running_loop()
    group = ListenerGroup(cfg)
    try:
        conn.send(("ok", await group.start()))
    except Exception as e:  # reported to the parent
        conn.send(("error", e))
        await group.stop()
        return
    while True:
        cmd, *args = await loop.run_in_executor(None, conn.recv)
        if cmd == "begin":
            group.begin(args[0])
        elif cmd == "drain":
            conn.send(("ok", await group.drain(*args)))
        else:
            await group.stop()
            conn.send(("ok", None))
            return


class RemoteGroup:
    """A ListenerGroup in a child process, driven over a pipe."""

    def __init__(self, cfg: GroupConfig) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=group_process, args=(child, cfg), daemon=True)
        self.proc.start()

    async def _reply(self) -> Any:
        status, value = await asyncio.get_running_loop().run_in_executor(None, self.conn.recv)
        if status == "error":
            raise value
        return value

    async def start(self) -> int:
        return int(await self._reply())

    def begin(self, trial: int) -> None:
        self.conn.send(("begin", trial))

    async def drain(self, trial: int, expected: list[int], grace: float) -> dict[str, Any]:
        self.conn.send(("drain", trial, expected, grace))
        return dict(await self._reply())

    async def stop(self) -> None:
        if self.proc.is_alive():
            self.conn.send(("stop",))
            with contextlib.suppress(EOFError):
                await self._reply()
        self.proc.join(10)


# --- senders -----------------------------------------------------------------------------------


class Senders:
    def __init__(self, http: aiohttp.ClientSession, base: str, rooms: list[str], tokens: list[str]) -> None:
        self.http = http
        self.urls = [f"{base}{C}/rooms/{quote(room)}/send/m.room.message/" for room in rooms]
        self.headers = [{"Authorization": f"Bearer {t}", "Content-Type": "application/json"} for t in tokens]
        self.seq = itertools.count(1)
        self.trial = 0
        self.stopping = False
        self.acked: list[int] = []
        self.ack_lat_ms = array("d")
        self.errors = 0
        self.skipped = 0
        self.in_flight: set[asyncio.Task[None]] = set()

    def reset(self) -> None:
        self.trial = 0
        self.stopping = False
        self.acked = []
        self.ack_lat_ms = array("d")
        self.errors = 0
        self.skipped = 0

    async def put(self, i: int) -> None:
        seq = next(self.seq)
        trial = self.trial
        sent = time.time()
        body = orjson.dumps(
            {
                "msgtype": "m.text",
                "body": f"bench message {seq}",
                "bench_seq": seq,
                "bench_ts": int(sent * 1e6),
                "bench_m": trial,
            }
        )
        try:
            url = self.urls[seq % len(self.urls)]
            async with self.http.put(f"{url}t{seq}", data=body, headers=self.headers[i]) as r:
                await r.read()
                ok = r.status == 200
        except aiohttp.ClientError:
            ok = False
        if not ok:
            self.errors += 1
            return
        if trial:
            self.acked.append(seq)
            self.ack_lat_ms.append((time.time() - sent) * 1000)

    async def run(self, rate: float) -> None:
        """Send until `stopping`: as fast as acks allow (rate 0) or `rate` messages/s in total."""
        if not rate:

            async def loop(i: int) -> None:
                while not self.stopping:
                    await self.put(i)

            await asyncio.gather(*(loop(i) for i in range(len(self.headers))))
            return
        clock = asyncio.get_running_loop()
        start = clock.time()
        for k in itertools.count():
            if self.stopping:
                break
            delay = start + k / rate - clock.time()
            if delay > 0:
                await asyncio.sleep(delay)
                if self.stopping:
                    break
            if len(self.in_flight) >= MAX_IN_FLIGHT:
                self.skipped += 1
                continue
            task = asyncio.create_task(self.put(k % len(self.headers)))
            self.in_flight.add(task)
            task.add_done_callback(self.in_flight.discard)
        await asyncio.gather(*self.in_flight)


# --- load scenarios (a, b) ---------------------------------------------------------------------


class Profiler:
    """py-spy attached to the server for one measurement (BENCH_PROFILE=path)."""

    def __init__(self, path: str | None, pid: int) -> None:
        self.path = path
        self.pid = pid
        self.proc: subprocess.Popen[bytes] | None = None
        self.seconds = 0

    def start(self, seconds: float) -> None:
        if not self.path or self.proc is not None:
            return
        self.seconds = round(seconds)
        fmt = "flamegraph" if self.path.endswith(".svg") else "raw"
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        command = [py_spy, "record", "--pid", str(self.pid), "--duration", str(self.seconds)]
        rate = os.environ.get("BENCH_PROFILE_RATE", "100")
        command += ["--rate", rate, "--threads", "--nonblocking", "--format", fmt, "-o", self.path]
        if os.environ.get("BENCH_PROFILE_GIL"):  # only samples that hold the GIL
            command.append("--gil")
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL)

    def finish(self) -> None:
        if self.proc is None or self.path is None:
            return
        self.proc.wait()
        if not self.path.endswith(".svg"):
            summarize_profile(self.path, self.seconds, int(os.environ.get("BENCH_PROFILE_RATE", "100")))
        self.path = None


def summarize_profile(path: str, seconds: float, rate: int = 100, top: int = 15) -> None:
    """Samples per thread, then for the event loop thread (MainThread) the lines at the top of
    the stack (self) and the project's functions on the stack (inclusive)."""
    busy: Counter[str] = Counter()
    own: dict[str, Counter[str]] = {}
    inclusive: Counter[str] = Counter()
    for line in Path(path).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack.startswith("thread ("):
            continue
        n = int(count)
        thread, *frames = stack.split(";")
        name = re.sub(r"\d+", "N", thread.split(": ", 1)[-1])
        busy[name] += n
        if frames:
            own.setdefault(name, Counter())[frames[-1]] += n
        if name == "MainThread":
            for frame in {re.sub(r":\d+\)$", ")", f) for f in frames}:
                if "(homeserver/" in frame or "(clientapi/" in frame:
                    inclusive[frame] += n
    wall = seconds * rate / 100  # samples that make 1% of wall time
    print(f"profile {path} ({seconds:g} s at {rate} Hz)")
    print("  samples per thread, % of wall time (a thread waiting for a CPU counts as busy):")
    print("    " + ", ".join(f"{name} {n / wall:.0f}%" for name, n in busy.most_common()))
    for name, counter in own.items():
        print(f"  {name}, top of stack, % of its samples:")
        for frame, n in counter.most_common(top if name == "MainThread" else 3):
            print(f"    {100 * n / busy[name]:5.1f}%  {frame}")
    print("  MainThread, project functions on the stack, % of its samples:")
    for frame, n in inclusive.most_common(2 * top):
        print(f"    {100 * n / busy['MainThread']:5.1f}%  {frame}")


async def trial(
    server: Server,
    args: argparse.Namespace,
    groups: list[ListenerGroup | RemoteGroup],
    senders: Senders,
    number: int,
    rate: float,
    profiler: Profiler,
) -> dict[str, Any]:
    senders.reset()
    send_task = asyncio.create_task(senders.run(rate))
    await asyncio.sleep(args.warmup)
    for g in groups:
        g.begin(number)
    await asyncio.sleep(0.05)  # let the pipes deliver "begin" before the first measured message
    my_pids = [os.getpid()] + [g.proc.pid or 0 for g in groups if isinstance(g, RemoteGroup)]
    load_before = load_text()
    cpu_server, cpu_gen = cpu_seconds(server.pid), sum(cpu_seconds(p) for p in my_pids)
    profiler.start(args.duration)
    t0 = time.time()
    senders.trial = number
    await asyncio.sleep(args.duration)
    senders.stopping = True
    t1 = time.time()
    cpu_server = cpu_seconds(server.pid) - cpu_server
    cpu_gen = sum(cpu_seconds(p) for p in my_pids) - cpu_gen
    load_after = load_text()
    await send_task
    parts = await asyncio.gather(*(g.drain(number, senders.acked, args.grace) for g in groups))
    profiler.finish()
    lat = array("d")
    for p in parts:
        lat.extend(p["lat_us"])
    ordered = sorted(lat)
    acks = sorted(senders.ack_lat_ms)
    delivered = sum(p["delivered"] for p in parts)
    expected = sum(p["expected"] for p in parts)
    last = max([t1] + [p["last"] for p in parts])
    return {
        "server": server.name,
        "mode": args.mode,
        "listeners": args.listeners,
        "senders": args.senders,
        "rate": rate,
        "rooms": args.load_rooms,
        "trial": number,
        "sends": len(senders.acked),
        "sends_per_s": len(senders.acked) / (t1 - t0),
        "send_errors": senders.errors,
        "skipped": senders.skipped,
        "ack_p50_ms": percentile(acks, 50),
        "ack_p99_ms": percentile(acks, 99),
        "delivered": delivered,
        "expected": expected,
        "deliveries_per_s": delivered / (last - t0),
        "missing": expected - delivered,
        "dups": sum(p["dups"] for p in parts),
        "limited": sum(p["limited"] for p in parts),
        "responses_per_s": sum(p["responses"] for p in parts) / (last - t0),
        "complete_listeners": sum(p["complete"] for p in parts),
        "reconnects": sum(p["reconnects"] for p in parts),
        "listener_errors": sum(p["errors"] for p in parts),
        "p50_ms": percentile(ordered, 50) / 1000,
        "p95_ms": percentile(ordered, 95) / 1000,
        "p99_ms": percentile(ordered, 99) / 1000,
        "max_ms": (ordered[-1] / 1000) if ordered else float("nan"),
        "server_cpu_pct": 100 * cpu_server / (t1 - t0),
        "generator_cpu_pct": 100 * cpu_gen / (t1 - t0),
        "load": f"{load_before} -> {load_after}",
        "drain_s": last - t1,
    }


def show(r: dict[str, Any]) -> None:
    rate = f"{r['rate']:g}/s" if r["rate"] else "max"
    print(
        f"[{r['server']}] {r['mode']} L={r['listeners']} S={r['senders']} rate={rate} rooms={r['rooms']} "
        f"trial {r['trial']}: "
        f"sends {r['sends']:,} ({r['sends_per_s']:,.0f}/s, ack p50 {r['ack_p50_ms']:.1f} "
        f"p99 {r['ack_p99_ms']:.1f} ms, {r['send_errors']} errors, {r['skipped']} skipped) | "
        f"deliveries {r['delivered']:,}/{r['expected']:,} ({r['deliveries_per_s']:,.0f}/s) "
        f"missing {r['missing']:,} dups {r['dups']} limited {r['limited']} "
        f"in {r['responses_per_s']:,.0f} responses/s "
        f"complete {r['complete_listeners']}/{r['listeners']} reconnects {r['reconnects']} | "
        f"latency p50 {r['p50_ms']:.1f} p95 {r['p95_ms']:.1f} p99 {r['p99_ms']:.1f} "
        f"max {r['max_ms']:.1f} ms | drain {r['drain_s']:.1f} s | CPU server {r['server_cpu_pct']:.0f}% "
        f"generator {r['generator_cpu_pct']:.0f}% | load {r['load']}",
        flush=True,
    )


def sustained(r: dict[str, Any]) -> bool:
    return bool(
        r["missing"] == 0 and r["dups"] == 0 and r["skipped"] == 0 and r["sends_per_s"] >= 0.95 * r["rate"]
    )


async def load_scenario(server: Server, args: argparse.Namespace) -> list[dict[str, Any]]:
    await wait_healthy(server.base)
    results: list[dict[str, Any]] = []
    async with new_session() as http:
        tokens = await bounded(
            8, [register(http, server.base, f"u{i}") for i in range(args.senders + args.listeners)]
        )
        send, listen = tokens[: args.senders], tokens[args.senders :]
        count = args.load_rooms
        rooms = [await make_room(http, server.base, send + listen[r::count]) for r in range(count)]
        room_of = [j % count for j in range(len(listen))]
        groups: list[ListenerGroup | RemoteGroup] = []
        for p in range(args.procs):
            cfg = GroupConfig(
                server.base, rooms, listen[p :: args.procs], room_of[p :: args.procs], args.mode, args.limit
            )
            groups.append(ListenerGroup(cfg) if args.procs == 1 else RemoteGroup(cfg))
        try:
            try:
                await asyncio.gather(*(g.start() for g in groups))
            except Unsupported as e:
                print(f"[{server.name}] skipped: {e}", flush=True)
                return results
            senders = Senders(http, server.base, rooms, send)
            profiler = Profiler(
                os.environ.get("BENCH_PROFILE") if server.name != "ceiling" else None, server.pid
            )
            number = itertools.count(1)

            async def one(rate: float) -> dict[str, Any]:
                r = await trial(server, args, groups, senders, next(number), rate, profiler)
                show(r)
                results.append(r)
                await asyncio.sleep(args.settle)
                return r

            if not args.search:
                for _ in range(args.runs):
                    await one(args.rate)
            else:
                await search(one, args)
        finally:
            await asyncio.gather(*(g.stop() for g in groups), return_exceptions=True)
    return results


async def search(one: Any, args: argparse.Namespace) -> None:
    """Raise the fixed rate by `--search-factor` until a trial misses something, then bisect."""
    best: float | None = None
    fail: float | None = None
    rate = args.rate
    while fail is None and rate <= args.search_max:
        if sustained(await one(rate)):
            best, rate = rate, round(rate * args.search_factor)
        else:
            fail = rate
    while best is None and fail is not None and fail > 10:
        rate = round(fail / 2)
        if sustained(await one(rate)):
            best = rate
        else:
            fail = rate
    for _ in range(args.search_steps):
        if best is None or fail is None or fail - best <= max(10, 0.1 * best):
            break
        mid = round((best + fail) / 2)
        if sustained(await one(mid)):
            best = mid
        else:
            fail = mid
    print(f"highest fixed rate with nothing missing: {best} messages/s (first failing: {fail})", flush=True)


# --- initial sync (c) --------------------------------------------------------------------------


async def initial_sync_scenario(server: Server, args: argparse.Namespace) -> list[dict[str, Any]]:
    await wait_healthy(server.base)
    base = server.base
    async with new_session() as http:
        token = await register(http, base, "reader")
        rooms = [
            (await call(http, "POST", base + C + "/createRoom", token, {"preset": "private_chat"}))["room_id"]
            for _ in range(args.rooms)
        ]

        async def fill(room: str) -> None:
            for n in range(args.room_messages):  # transaction IDs are unique per access token
                url = f"{base}{C}/rooms/{quote(room)}/send/m.room.message/i{secrets.token_hex(8)}"
                await call(http, "PUT", url, token, {"msgtype": "m.text", "body": f"message {n} in {room}"})

        await asyncio.gather(*(fill(r) for r in rooms))
        url = f"{base}{C}/sync?filter={quote(timeline_filter(args.initial_limit))}"
        headers = {"Authorization": f"Bearer {token}"}
        times: list[float] = []
        size = 0
        load_before = load_text()
        cpu = cpu_seconds(server.pid)
        started = time.time()
        for n in range(args.requests + 10):
            t = time.perf_counter()
            async with http.get(url, headers=headers) as r:
                body = await r.read()
                assert r.status == 200, body[:300]
            elapsed = (time.perf_counter() - t) * 1000
            if n >= 10:  # the first ten warm caches
                times.append(elapsed)
            size = len(body)
        wall = time.time() - started
        data = orjson.loads(body)
        joined = data["rooms"]["join"]
        counts = Counter(len(v["timeline"]["events"]) for v in joined.values())
        times.sort()
        result = {
            "server": server.name,
            "scenario": "c",
            "rooms": len(joined),
            "timeline_sizes": {str(k): v for k, v in counts.items()},
            "bytes": size,
            "requests": len(times),
            "median_ms": percentile(times, 50),
            "p95_ms": percentile(times, 95),
            "min_ms": times[0],
            "server_cpu_pct": 100 * (cpu_seconds(server.pid) - cpu) / wall,
            "load": f"{load_before} -> {load_text()}",
        }
        print(
            f"[{server.name}] initial sync, {len(joined)} rooms x {args.room_messages} messages, timeline "
            f"limit {args.initial_limit} (timelines {dict(counts)}), {size:,} bytes: {len(times)} requests "
            f"median {result['median_ms']:.2f} ms p95 {result['p95_ms']:.2f} ms min {result['min_ms']:.2f} ms"
            f" | server CPU {result['server_cpu_pct']:.0f}% | load {result['load']}",
            flush=True,
        )
        return [result]


# --- idle WebSockets (d) -----------------------------------------------------------------------


async def idle_ws_scenario(server: Server, args: argparse.Namespace) -> list[dict[str, Any]]:
    await wait_healthy(server.base)
    base = server.base
    limit = raise_fd_limit()
    if args.sockets + 100 > limit:
        raise SystemExit(f"{args.sockets} sockets need more file descriptors than ulimit -n {limit}")
    async with new_session() as http:
        names = [f"idle{i}" for i in range(args.idle_users)]
        first = await bounded(8, [register(http, base, n) for n in names])
        # one room, so that the stream is not empty (the ceiling server's WebSocket would spin
        # re-sending its initial frame at position 0)
        await call(http, "POST", base + C + "/createRoom", first[0], {"preset": "private_chat"})
        # one device (login) per socket, as real clients would have
        tokens = await bounded(16, [login(http, base, names[i % len(names)]) for i in range(args.sockets)])
        await asyncio.sleep(2)
        before = rss_kib(server.pid)
        client_before = rss_kib(os.getpid())
        url = f"{base}{WS_PATH}?filter={quote(timeline_filter(10))}"
        sockets: list[aiohttp.ClientWebSocketResponse] = []
        readers: list[asyncio.Task[None]] = []
        first_frames = 0
        closed_early = 0

        async def read(ws: aiohttp.ClientWebSocketResponse) -> None:
            nonlocal closed_early
            async for _ in ws:
                pass
            closed_early += 1

        async def open_one(token: str) -> None:
            nonlocal first_frames
            ws = await http.ws_connect(url, headers={"Authorization": f"Bearer {token}"}, max_msg_size=0)
            msg = await ws.receive(timeout=60)
            if msg.type is aiohttp.WSMsgType.TEXT and orjson.loads(msg.data).get("type") == "sync":
                first_frames += 1
            sockets.append(ws)
            readers.append(asyncio.create_task(read(ws)))

        started = time.perf_counter()
        try:
            await open_one(tokens[0])
        except aiohttp.WSServerHandshakeError as e:
            print(f"[{server.name}] skipped: WebSocket sync answered {e.status}", flush=True)
            return []
        await bounded(200, [open_one(t) for t in tokens[1:]])
        opened = time.perf_counter() - started
        await asyncio.sleep(args.idle_wait)
        after = rss_kib(server.pid)
        client_after = rss_kib(os.getpid())
        alive = sum(1 for ws in sockets if not ws.closed)
        for ws in sockets:
            await ws.close()
        await asyncio.gather(*readers, return_exceptions=True)
        await asyncio.sleep(2)
        after_close = rss_kib(server.pid)
    result = {
        "server": server.name,
        "scenario": "d",
        "sockets": len(sockets),
        "first_frames": first_frames,
        "alive_after_wait": alive,
        "open_s": opened,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "rss_after_close_kib": after_close,
        "kib_per_socket": (after - before) / max(1, len(sockets)),
        "client_kib_per_socket": (client_after - client_before) / max(1, len(sockets)),
        "load": load_text(),
    }
    print(
        f"[{server.name}] idle WebSockets: {len(sockets):,} opened in {opened:.1f} s ({first_frames:,} got "
        f"their first sync frame, {alive:,} still open after {args.idle_wait:g} s) | server RSS "
        f"{before / 1024:.1f} -> {after / 1024:.1f} MiB = {result['kib_per_socket']:.1f} KiB per socket "
        f"({after_close / 1024:.1f} MiB after closing them) | generator {result['client_kib_per_socket']:.1f}"
        f" KiB per socket | load {result['load']}",
        flush=True,
    )
    return [result]


# --- main --------------------------------------------------------------------------------------


def median_summary(results: list[dict[str, Any]]) -> None:
    """Median over the trials of each server, side by side (load scenarios only)."""
    keys = [
        ("sends_per_s", "sends/s", "{:,.0f}"),
        ("deliveries_per_s", "deliveries/s", "{:,.0f}"),
        ("missing", "missing", "{:,.0f}"),
        ("dups", "duplicates", "{:,.0f}"),
        ("limited", "limited responses", "{:,.0f}"),
        ("responses_per_s", "sync responses/s", "{:,.0f}"),
        ("p50_ms", "latency p50 ms", "{:.1f}"),
        ("p95_ms", "latency p95 ms", "{:.1f}"),
        ("p99_ms", "latency p99 ms", "{:.1f}"),
        ("server_cpu_pct", "server CPU %", "{:.0f}"),
        ("generator_cpu_pct", "generator CPU %", "{:.0f}"),
    ]
    by_server: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        if "sends_per_s" in r:
            by_server.setdefault(r["server"], []).append(r)
    if not by_server:
        return
    names = list(by_server)
    print("\nmedian of trials | " + " | ".join(f"{n} ({len(by_server[n])})" for n in names))
    for key, label, fmt in keys:
        cells = []
        for n in names:
            values = sorted(r[key] for r in by_server[n])
            cells.append(fmt.format(values[len(values) // 2]))
        print(f"{label} | " + " | ".join(cells))


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenario", choices=["a", "b", "c", "d"], default="a")
    p.add_argument("--target", choices=["homeserver", "ceiling", "both"], default="both")
    p.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--ceiling", default=None, help="path of ceiling_server.py (default: ../shared/bench/)")
    p.add_argument("--mode", choices=["longpoll", "ws"], default=None)
    p.add_argument("--listeners", type=int, default=None)
    p.add_argument("--senders", type=int, default=None)
    p.add_argument("--rate", type=float, default=None, help="messages/s in total; 0 = as fast as acks allow")
    p.add_argument("--limit", type=int, default=100, help="timeline limit in the listeners' filter")
    p.add_argument("--procs", type=int, default=1, help="processes to spread the listeners over")
    p.add_argument("--warmup", type=float, default=5.0)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--grace", type=float, default=30.0, help="longest drain after the measurement")
    p.add_argument("--settle", type=float, default=2.0, help="pause between trials")
    p.add_argument("--runs", type=int, default=3, help="trials on the same server (median reported)")
    p.add_argument("--search", action="store_true", help="find the highest fixed rate with nothing missing")
    p.add_argument("--search-factor", type=float, default=1.5)
    p.add_argument("--search-max", type=float, default=20000)
    p.add_argument("--search-steps", type=int, default=3)
    p.add_argument("--rooms", type=int, default=20)
    p.add_argument(
        "--load-rooms",
        type=int,
        default=1,
        help="a) and b): rooms to spread the load over (listener j in room j %% N, message k to room k %% N)",
    )
    p.add_argument("--room-messages", type=int, default=50)
    p.add_argument("--initial-limit", type=int, default=10)
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--sockets", type=int, default=10000)
    p.add_argument("--idle-users", type=int, default=100)
    p.add_argument("--idle-wait", type=float, default=5.0, help="seconds the sockets stay idle")
    p.add_argument("--json", default=None, help="append each result as a JSON line to this file")
    args = p.parse_args()
    for key, value in PRESETS.get(args.scenario, PRESETS["a"]).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def main() -> None:
    args = parse_args()
    raise_fd_limit()
    ceiling = Path(args.ceiling) if args.ceiling else ROOT.parent / "shared" / "bench" / "ceiling_server.py"
    if not ceiling.exists():
        ceiling = Path("/work/shared/bench/ceiling_server.py")
    targets = ["ceiling", "homeserver"] if args.target == "both" else [args.target]
    scenario = {"a": load_scenario, "b": load_scenario, "c": initial_sync_scenario, "d": idle_ws_scenario}
    print(f"scenario {args.scenario}; load {load_text()}; {os.cpu_count()} CPUs", flush=True)
    results: list[dict[str, Any]] = []
    for target in targets:
        with tempfile.TemporaryDirectory() as data_dir:
            server = start_ceiling(ceiling) if target == "ceiling" else start_homeserver(args.db, data_dir)
            try:
                results += uvloop.run(scenario[args.scenario](server, args))
            finally:
                stop_server(server)
    median_summary(results)
    if args.json:
        with open(args.json, "ab") as f:
            for r in results:
                f.write(orjson.dumps({"scenario": args.scenario, **r}) + b"\n")


if __name__ == "__main__":
    main()
