"""Config loading: YAML file, environment overrides, and one clear ConfigError line per problem."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml

from homeserver.config import (
    ENV_OVERRIDES,
    Config,
    ConfigError,
    PasswordHashing,
    RateLimit,
    RateLimits,
    Registration,
    config_as_dict,
    load_config,
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config.example.yaml"


def write(tmp_path: Path, text: str | bytes, name: str = "homeserver.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def config_error(path: Path | None = None, env: dict[str, str] | None = None) -> str:
    """The message of the ConfigError that loading raises; it must be exactly one line."""
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=env or {})
    message = str(caught.value)
    assert message and "\n" not in message, repr(message)
    assert "Traceback" not in message
    return message


# Loading


def test_defaults_without_file_or_environment() -> None:
    config = load_config(None, env={})
    assert config == Config()
    assert config.server_name == "localhost"
    assert config.port == 8008
    assert config.sqlalchemy_url == "sqlite+aiosqlite:///data/homeserver.db"
    assert config.base_url == "http://localhost:8008/"


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "# nothing but a comment\n"), env={}) == Config()


def test_yaml_file_sets_options_and_nested_sections(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
server_name: example.org
port: 9000
public_baseurl: https://matrix.example.org
database_url: postgresql://u:p@db/hs
log_level: debug
registration:
  require_token: true
rate_limits:
  login: {per_second: 2, burst: 7}
password_hashing:
  min_length: 12
""",
    )
    config = load_config(path, env={})
    assert config.server_name == "example.org"
    assert config.port == 9000
    assert config.base_url == "https://matrix.example.org/"
    assert config.sqlalchemy_url == "postgresql+asyncpg://u:p@db/hs"
    assert config.registration == Registration(enabled=True, require_token=True, allow_guests=False)
    assert config.rate_limits.login == RateLimit(per_second=2.0, burst=7)
    assert isinstance(config.rate_limits.login.per_second, float)  # an int is fine for a float
    assert config.rate_limits.register == RateLimits().register  # untouched siblings keep defaults
    assert config.password_hashing == PasswordHashing(min_length=12)


ENV_CASES: list[tuple[str, str, str, Any]] = [
    ("PORT", "9100", "port", 9100),
    ("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test", "database_url", None),
    ("JWT_SECRET", "s3cret-from-env", "jwt_secret", None),
    ("SERVER_NAME", "env.example.org:8448", "server_name", None),
    ("PUBLIC_BASEURL", "https://env.example.org/", "public_baseurl", None),
    ("DATA_DIR", "/var/lib/homeserver", "data_dir", None),
    ("REDIS_URL", "redis://127.0.0.1:6379/0", "redis_url", None),
]


def test_every_documented_environment_variable_is_tested() -> None:
    assert {var for var, *_ in ENV_CASES} == set(ENV_OVERRIDES)


@pytest.mark.parametrize(("var", "value", "option", "expected"), ENV_CASES)
def test_environment_overrides_the_file(
    tmp_path: Path, var: str, value: str, option: str, expected: Any
) -> None:
    from_file: dict[str, Any] = {
        "port": 8500,
        "database_url": "sqlite:///file.db",
        "jwt_secret": "from-file",
        "server_name": "file.example.org",
        "public_baseurl": "https://file.example.org/",
        "data_dir": "/srv/file",
        "redis_url": "redis://file:6379",
    }
    path = write(tmp_path, yaml.safe_dump(from_file))
    config = load_config(path, env={var: value})
    assert getattr(config, option) == (value if expected is None else expected)
    for other, file_value in from_file.items():  # nothing else moved
        if other != option:
            assert getattr(config, other) == file_value


def test_environment_without_a_file() -> None:
    config = load_config(None, env={"SERVER_NAME": "example.com", "PORT": "8080", "DATA_DIR": "/tmp/x"})
    assert (config.server_name, config.port, config.data_dir) == ("example.com", 8080, "/tmp/x")
    assert config.sqlalchemy_url == "sqlite+aiosqlite:////tmp/x/homeserver.db"


def test_empty_environment_variable_is_ignored(tmp_path: Path) -> None:
    path = write(tmp_path, "server_name: file.example.org\n")
    assert load_config(path, env={"SERVER_NAME": "", "PORT": ""}).server_name == "file.example.org"


def test_unrelated_environment_variables_are_ignored() -> None:
    assert load_config(None, env={"port": "1", "HOME": "/root", "LOG_LEVEL": "nonsense"}) == Config()


def test_round_trip_through_yaml(tmp_path: Path) -> None:
    original = dataclasses.replace(Config(), server_name="example.net", rate_limits=RateLimits(enabled=False))
    path = write(tmp_path, yaml.safe_dump(config_as_dict(original)))
    assert load_config(path, env={}) == original


# Errors: one line each, naming the problem


def test_unknown_top_level_option(tmp_path: Path) -> None:
    message = config_error(write(tmp_path, "server_name: example.org\nlisten_port: 80\n"))
    assert "unknown" in message and "listen_port" in message


def test_unknown_nested_option_is_named_with_its_section(tmp_path: Path) -> None:
    message = config_error(write(tmp_path, "rate_limits:\n  login:\n    per_second: 1\n    bursts: 3\n"))
    assert "rate_limits.login.bursts" in message


@pytest.mark.parametrize(
    ("text", "option"),
    [
        ("port: eighty\n", "port"),
        ("port: '8008'\n", "port"),
        ("port: true\n", "port"),  # a bool is not an int
        ("port: 8008.5\n", "port"),
        ("server_name: 42\n", "server_name"),
        ("server_name: null\n", "server_name"),
        ("serve_web_client: 'yes please'\n", "serve_web_client"),
        ("registration: true\n", "registration"),
        ("registration:\n  enabled: 1\n", "registration.enabled"),
        ("rate_limits:\n  login: 5\n", "rate_limits.login"),
        ("rate_limits:\n  login: {per_second: fast, burst: 3}\n", "rate_limits.login.per_second"),
        ("password_hashing:\n  memlimit: [1, 2]\n", "password_hashing.memlimit"),
    ],
)
def test_wrong_type_names_the_option(tmp_path: Path, text: str, option: str) -> None:
    message = config_error(write(tmp_path, text))
    assert f"'{option}'" in message


def test_incomplete_nested_section(tmp_path: Path) -> None:
    message = config_error(write(tmp_path, "rate_limits:\n  login:\n    burst: 3\n"))
    assert "rate_limits.login" in message


@pytest.mark.parametrize(
    "text",
    [
        "server_name: [unclosed\n",
        "server_name: example.org\n  port: 80\n",
        "a: b: c\n",
        "key: 'unterminated\n",
        "!!python/object:os.system {}\n",
    ],
)
def test_bad_yaml(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    message = config_error(path)
    assert str(path) in message and "YAML" in message


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    message = config_error(write(tmp_path, "server_name: example.org\nport: 8008\nbad: [\n"))
    assert "line" in message


def test_unknown_option_with_a_newline_in_its_name_is_still_one_line(tmp_path: Path) -> None:
    assert "unknown" in config_error(write(tmp_path, '"port\\nnumber": 80\n'))


@pytest.mark.parametrize("text", ["port: 1" + "0" * 5000 + "\n", "server_name: 2020-13-45\n"])
def test_yaml_values_python_cannot_build(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    assert str(path) in config_error(path)


def test_file_not_valid_utf8(tmp_path: Path) -> None:
    path = write(tmp_path, b"server_name: \xff\xfeexample\n")
    message = config_error(path)
    assert str(path) in message


@pytest.mark.parametrize("text", ["- a list\n- of things\n", "just a string\n", "42\n"])
def test_file_must_be_a_mapping(tmp_path: Path, text: str) -> None:
    assert "mapping" in config_error(write(tmp_path, text))


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    message = config_error(path)
    assert str(path) in message


def test_directory_as_file(tmp_path: Path) -> None:
    assert str(tmp_path) in config_error(tmp_path)


@pytest.mark.parametrize(
    "name", ["bad name", "exa_mple.org", "example.org:", "example.org:99999", "example.org:0", "[::1", "a/b"]
)
def test_bad_server_name(name: str) -> None:
    message = config_error(env={"SERVER_NAME": name})
    assert "server_name" in message and repr(name) in message


@pytest.mark.parametrize("name", ["bad name", "", "example.org:70000"])
def test_bad_server_name_in_file(tmp_path: Path, name: str) -> None:
    message = config_error(write(tmp_path, yaml.safe_dump({"server_name": name})))
    assert "server_name" in message


@pytest.mark.parametrize("name", ["example.org", "localhost:8448", "127.0.0.1", "[::1]:8448", "a.b-c.d"])
def test_good_server_names(name: str) -> None:
    assert load_config(None, env={"SERVER_NAME": name}).server_name == name


@pytest.mark.parametrize("port", ["http", "80.5", "8008x"])
def test_port_from_environment_must_be_an_integer(port: str) -> None:
    message = config_error(env={"PORT": port})
    assert "PORT" in message and repr(port) in message


@pytest.mark.parametrize("port", ["0", "-1", "65536"])
def test_port_out_of_range(port: str) -> None:
    assert "port" in config_error(env={"PORT": port})


@pytest.mark.parametrize("url", ["ftp://example.org", "example.org", "https://"])
def test_bad_public_baseurl(url: str) -> None:
    assert "public_baseurl" in config_error(env={"PUBLIC_BASEURL": url})


@pytest.mark.parametrize("url", ["mysql://db/hs", "redis://x", "nonsense"])
def test_unsupported_database_url(url: str) -> None:
    assert "database_url" in config_error(env={"DATABASE_URL": url})


def test_bad_log_level(tmp_path: Path) -> None:
    assert "log_level" in config_error(write(tmp_path, "log_level: LOUD\n"))


def test_tiny_body_limit(tmp_path: Path) -> None:
    assert "max_request_body_bytes" in config_error(write(tmp_path, "max_request_body_bytes: 10\n"))


@pytest.mark.parametrize(
    "limit",
    [
        "{per_second: 0, burst: 3}",
        "{per_second: -1, burst: 3}",
        "{per_second: 1, burst: 0}",
        "{per_second: .nan, burst: 3}",
        "{per_second: .inf, burst: 3}",
        "{per_second: 1" + "0" * 400 + ", burst: 3}",  # an int too large for a float
    ],
)
def test_bad_rate_limit(tmp_path: Path, limit: str) -> None:
    assert "rate_limits.login" in config_error(write(tmp_path, f"rate_limits:\n  login: {limit}\n"))


# config.example.yaml documents every option


def option_paths(cls: type[Any], prefix: str = "") -> list[str]:
    """Every option of a config dataclass, recursively, as dotted paths."""
    hints = typing.get_type_hints(cls)
    paths: list[str] = []
    for f in dataclasses.fields(cls):
        path = prefix + f.name
        paths.append(path)
        if dataclasses.is_dataclass(hints[f.name]):
            paths.extend(option_paths(hints[f.name], path + "."))
    return paths


def test_option_paths_cover_nested_sections() -> None:
    paths = option_paths(Config)
    assert "server_name" in paths and "rate_limits.login.burst" in paths
    assert "registration.require_token" in paths and "password_hashing.memlimit" in paths


def test_example_config_documents_every_option() -> None:
    assert EXAMPLE.exists(), "config.example.yaml is missing from the repository root"
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    missing = []
    for path in option_paths(Config):
        node: Any = data
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                missing.append(path)
                break
            node = node[part]
    assert missing == [], f"config.example.yaml does not mention: {missing}"


def test_example_config_loads() -> None:
    config = load_config(EXAMPLE, env={})
    assert isinstance(config, Config)
    assert config.server_name


def test_default_room_version_is_checked_and_a_bare_number_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("default_room_version: 10\n")
    assert load_config(path, env={}).default_room_version == "10"
    for bad in ("5", "13", "abc", "true"):
        path.write_text(f"default_room_version: {bad}\n")
        with pytest.raises(ConfigError):
            load_config(path, env={})
