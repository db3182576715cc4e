"""`python -m homeserver ...` run as a real subprocess: errors are one line on stderr with a
non-zero exit and no traceback; `run` serves and stops on SIGTERM; the admin commands leave
a database that a server started afterwards on the same data directory uses."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from homeserver.appkeys import USERS
from homeserver.config import ENV_OVERRIDES, Config, load_config
from tests.conftest import PG_URL
from tests.helpers import HomeserverUnderTest
from tests.homeserver.storage_helpers import fresh_pg_schema

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "a long enough password"
COMMAND_TIMEOUT_S = 60  # a bound against hanging, not an expectation of speed
FAST_HASHING = {"opslimit": 1, "memlimit": 8192, "min_length": 8}


@dataclasses.dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str

    def one_error_line(self) -> str:
        """A failed command: non-zero exit, nothing but one line on stderr, no traceback."""
        assert self.returncode != 0, self
        assert "Traceback" not in self.stderr, self.stderr
        lines = self.stderr.splitlines()
        assert len(lines) == 1, self.stderr
        return lines[0]


@dataclasses.dataclass
class Cli:
    """Runs the command line in a scratch directory with a clean environment."""

    cwd: Path
    env: dict[str, str]

    async def start(self, *args: str, **env: str) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "homeserver",
            *args,
            cwd=self.cwd,
            env={**self.env, **env},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )

    async def __call__(self, *args: str, **env: str) -> Result:
        proc = await self.start(*args, **env)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), COMMAND_TIMEOUT_S)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        assert proc.returncode is not None
        return Result(proc.returncode, out.decode(), err.decode())


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    work = tmp_path / "cwd"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ENV_OVERRIDES}
    # The packages come from this checkout, whatever the virtualenv's install points at.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["DATA_DIR"] = str(tmp_path / "data")
    return Cli(work, env)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(path: Path, **options: Any) -> Path:
    path.write_text(yaml.safe_dump(options), encoding="utf-8")
    return path


@pytest.fixture(params=["sqlite", "postgres"])
async def backend_options(request: pytest.FixtureRequest) -> AsyncIterator[dict[str, Any]]:
    """Config options for a fresh, empty database of each kind."""
    if request.param == "sqlite":
        yield {}
        return
    async with fresh_pg_schema(PG_URL, "hs_cli") as schema:
        yield {"database_url": PG_URL, "database_schema": schema}


async def started(config: Config) -> HomeserverUnderTest:
    server = HomeserverUnderTest(config)
    await server.start()
    return server


# Bad configuration: one line, non-zero exit, no traceback


@pytest.mark.parametrize("command", [["run"], ["create-user", "alice"], ["create-registration-token"]])
async def test_unknown_config_option(cli: Cli, command: list[str]) -> None:
    config = write_config(cli.cwd / "bad.yaml", server_name="example.org", listen_port=80)
    line = (await cli(*command, "--config", str(config))).one_error_line()
    assert "listen_port" in line


async def test_wrong_type_in_config(cli: Cli) -> None:
    config = write_config(cli.cwd / "bad.yaml", port="eighty")
    line = (await cli("run", "--config", str(config))).one_error_line()
    assert "'port'" in line and "eighty" in line


async def test_bad_yaml(cli: Cli) -> None:
    config = cli.cwd / "bad.yaml"
    config.write_text("server_name: [oops\n", encoding="utf-8")
    line = (await cli("run", "--config", str(config))).one_error_line()
    assert "YAML" in line


async def test_missing_config_file(cli: Cli) -> None:
    line = (await cli("run", "--config", str(cli.cwd / "nope.yaml"))).one_error_line()
    assert "nope.yaml" in line


async def test_bad_server_name_from_environment(cli: Cli) -> None:
    line = (await cli("run", SERVER_NAME="not a name")).one_error_line()
    assert "server_name" in line and "not a name" in line


async def test_bad_port_from_environment(cli: Cli) -> None:
    line = (await cli("run", PORT="http")).one_error_line()
    assert "PORT" in line


@pytest.mark.parametrize("command", [["run"], ["create-user", "alice"]])
async def test_unreachable_database(cli: Cli, command: list[str]) -> None:
    password_file = cli.cwd / "pw"
    password_file.write_text(PASSWORD)
    extra = ["--password-file", str(password_file)] if command[0] == "create-user" else []
    result = await cli(*command, *extra, DATABASE_URL="postgresql://postgres:hunter2@127.0.0.1:1/x")
    line = result.one_error_line()
    assert "database" in line and "127.0.0.1:1" in line
    assert "hunter2" not in line  # the password in the URL is not repeated


async def test_port_in_use(cli: Cli) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = await cli("run", PORT=str(port))
    # Start-up logging (migrations) may come first; the failure is the last line, no traceback.
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith("error:") and str(port) in last


# run


@pytest.fixture
def port() -> Iterator[int]:
    yield free_port()


async def wait_until_healthy(proc: asyncio.subprocess.Process, http: aiohttp.ClientSession, url: str) -> None:
    """Poll /health until it answers; fail early if the process dies. Bounded, not timed."""
    for _ in range(600):
        if proc.returncode is not None:
            stderr = (await proc.stderr.read()).decode() if proc.stderr else ""
            pytest.fail(f"the server exited with {proc.returncode}: {stderr}")
        try:
            async with http.get(url + "/health") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.05)
    pytest.fail("the server never answered /health")


async def test_run_serves_then_stops_on_sigterm(cli: Cli, port: int) -> None:
    proc = await cli.start("run", PORT=str(port), SERVER_NAME="cli.example.org")
    try:
        async with aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{port}"
            await wait_until_healthy(proc, http, base)
            async with http.get(base + "/health") as resp:
                assert (resp.status, await resp.text()) == (200, "OK")
            async with http.get(base + "/_matrix/client/versions") as resp:
                assert resp.status == 200
                assert "v1.1" in (await resp.json())["versions"]
            async with http.get(base + "/.well-known/matrix/client") as resp:
                assert (await resp.json())["m.homeserver"]["base_url"] == f"http://cli.example.org:{port}"

        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), COMMAND_TIMEOUT_S)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    assert "Traceback" not in err.decode()
    assert (Path(cli.env["DATA_DIR"]) / "homeserver.db").exists()  # SQLite in DATA_DIR by default
    assert (Path(cli.env["DATA_DIR"]) / "jwt_secret").exists()  # generated once, kept there


# generate-config


async def test_generate_config_output_loads(cli: Cli) -> None:
    result = await cli("generate-config", "--server-name", "gen.example.org")
    assert result.returncode == 0, result.stderr
    path = cli.cwd / "generated.yaml"
    path.write_text(result.stdout, encoding="utf-8")
    config = load_config(path, env={})
    assert config.server_name == "gen.example.org"
    assert len(config.jwt_secret) >= 32  # a fresh secret, not a built-in default
    other = await cli("generate-config")
    assert yaml.safe_load(other.stdout)["jwt_secret"] != config.jwt_secret


async def test_generate_config_to_file_refuses_to_overwrite(cli: Cli) -> None:
    path = cli.cwd / "homeserver.yaml"
    first = await cli("generate-config", "--output", str(path))
    assert first.returncode == 0, first.stderr
    assert first.stdout == ""
    assert load_config(path, env={}).jwt_secret
    assert path.stat().st_mode & 0o077 == 0  # it holds a secret: private to its owner
    before = path.read_bytes()

    line = (await cli("generate-config", "--output", str(path))).one_error_line()

    assert str(path) in line
    assert path.read_bytes() == before


# create-user


async def test_create_user_who_can_then_log_in(cli: Cli, backend_options: dict[str, Any]) -> None:
    config_path = write_config(
        cli.cwd / "homeserver.yaml",
        server_name="cli.example.org",
        password_hashing=FAST_HASHING,
        rate_limits={"enabled": False},
        **backend_options,
    )
    password_file = cli.cwd / "password"
    password_file.write_text(PASSWORD + "\n", encoding="utf-8")  # a trailing newline is not part of it

    def create_user(*args: str) -> Any:
        return cli("create-user", *args, "--password-file", str(password_file), "--config", str(config_path))

    admin = await create_user("alice", "--admin")  # alone: it creates the database
    assert admin.returncode == 0, admin.stderr
    assert admin.stdout.strip() == "created @alice:cli.example.org"
    plain, again = await asyncio.gather(create_user("bob"), create_user("alice"))
    assert plain.returncode == 0, plain.stderr
    assert "taken" in again.one_error_line()

    server = await started(load_config(config_path, env={"DATA_DIR": cli.env["DATA_DIR"]}))
    try:
        alice = await server.login("alice", PASSWORD)
        assert alice.user_id == "@alice:cli.example.org"
        assert (await alice.get("/account/whoami"))["user_id"] == "@alice:cli.example.org"
        await server.login("bob", PASSWORD)
        err = await server.client().post(
            "/login",
            {"type": "m.login.password", "user": "bob", "password": PASSWORD + "\n"},
            expect=403,
        )
        assert err["errcode"] == "M_FORBIDDEN"
        users = server.app[USERS]
        stored_alice = await users.get("@alice:cli.example.org")
        stored_bob = await users.get("@bob:cli.example.org")
        assert stored_alice is not None and stored_alice.is_admin
        assert stored_bob is not None and not stored_bob.is_admin
        assert stored_alice.password_hash is not None and PASSWORD not in stored_alice.password_hash
    finally:
        await server.stop()


async def test_create_user_refusals(cli: Cli) -> None:
    good, short = cli.cwd / "good", cli.cwd / "short"
    good.write_text(PASSWORD, encoding="utf-8")
    short.write_text("short", encoding="utf-8")
    first = await cli("create-user", "Bad:Name", "--password-file", str(good))  # alone: creates the database
    assert "User ID" in first.one_error_line()
    second = await cli("create-user", "carol", "--password-file", str(short))
    assert "at least" in second.one_error_line()


async def test_create_user_unreadable_password_file(cli: Cli) -> None:
    line = (await cli("create-user", "dave", "--password-file", str(cli.cwd / "missing"))).one_error_line()
    assert "missing" in line


# create-registration-token


async def register_with_token(server: HomeserverUnderTest, username: str, token: str, expect: int) -> Any:
    anon = server.client()
    body: dict[str, Any] = {"username": username, "password": PASSWORD}
    challenge = await anon.post("/register", body, expect=401)
    assert challenge["flows"] == [{"stages": ["m.login.registration_token"]}]
    body["auth"] = {"type": "m.login.registration_token", "token": token, "session": challenge["session"]}
    return await anon.post("/register", body, expect=expect)


async def test_create_registration_token_then_register_with_it(cli: Cli) -> None:
    # SQLite only: the store is tested on both databases, create-user's CLI test covers PostgreSQL.
    config_path = write_config(
        cli.cwd / "homeserver.yaml",
        password_hashing=FAST_HASHING,
        rate_limits={"enabled": False},
        registration={"require_token": True},
    )

    def create_token(*args: str) -> Any:
        return cli("create-registration-token", *args, "--config", str(config_path))

    named = await create_token(
        "--token", "one-use_token~1.0", "--uses", "1"
    )  # alone: it creates the database
    assert named.returncode == 0, named.stderr
    assert named.stdout.strip() == "one-use_token~1.0"
    generated, expired, duplicate = await asyncio.gather(
        create_token(),
        create_token("--token", "old", "--expires-in-days", "-1"),
        create_token("--token", "one-use_token~1.0"),
    )
    assert generated.returncode == 0, generated.stderr
    random_token = generated.stdout.strip()
    assert re.fullmatch(r"[A-Za-z0-9._~-]{8,64}", random_token), random_token
    assert expired.returncode == 0, expired.stderr
    assert "already exists" in duplicate.one_error_line()

    server = await started(load_config(config_path, env={"DATA_DIR": cli.env["DATA_DIR"]}))
    try:
        validity = "/_matrix/client/v1/register/m.login.registration_token/validity"
        anon = server.client()
        assert (await anon.get(validity, params={"token": "one-use_token~1.0"}))["valid"] is True
        assert (await anon.get(validity, params={"token": "old"}))["valid"] is False

        done = await register_with_token(server, "erin", "one-use_token~1.0", 200)
        assert done["user_id"].startswith("@erin:")
        assert (await anon.get(validity, params={"token": "one-use_token~1.0"}))["valid"] is False
        used_up = await register_with_token(server, "frank", "one-use_token~1.0", 401)
        assert used_up["errcode"] == "M_FORBIDDEN"
        await register_with_token(server, "frank", random_token, 200)
        await register_with_token(server, "grace", random_token, 200)  # no --uses: unlimited
        assert (await register_with_token(server, "heidi", "old", 401))["errcode"] == "M_FORBIDDEN"
    finally:
        await server.stop()


async def test_create_registration_token_outside_the_grammar(cli: Cli) -> None:
    assert "characters" in (await cli("create-registration-token", "--token", "üñí")).one_error_line()


@pytest.mark.parametrize(
    "args", [["--token", "has space"], ["--token", "x" * 65], ["--uses", "0"], ["--uses", "-3"]]
)
async def test_create_registration_token_refusals(cli: Cli, args: list[str]) -> None:
    (await cli("create-registration-token", *args)).one_error_line()
    assert not (Path(cli.env["DATA_DIR"]) / "homeserver.db").exists()  # refused before opening anything


def test_started_server_freezes_its_start_up_objects_and_collects_young_ones_less_often() -> None:
    from homeserver.__main__ import GC_THRESHOLDS, _tune_gc

    thresholds = gc.get_threshold()
    try:
        _tune_gc()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == GC_THRESHOLDS and GC_THRESHOLDS[0] > thresholds[0]
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
