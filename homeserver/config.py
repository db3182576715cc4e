"""Configuration: frozen dataclasses loaded from an optional YAML file, then environment
overrides. Every problem is reported as one `ConfigError` line naming the option."""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from homeserver.ids import is_valid_server_name
from homeserver.room_versions import CREATABLE_VERSIONS


class ConfigError(Exception):
    """A configuration problem, described in one line."""


@dataclass(frozen=True)
class RateLimit:
    """A token bucket: `burst` requests at once, refilled at `per_second`."""

    per_second: float
    burst: int


@dataclass(frozen=True)
class RateLimits:
    enabled: bool = True
    register: RateLimit = RateLimit(per_second=0.17, burst=3)
    login: RateLimit = RateLimit(per_second=0.17, burst=3)
    failed_login: RateLimit = RateLimit(per_second=0.17, burst=3)
    register_available: RateLimit = RateLimit(per_second=1.0, burst=10)
    message: RateLimit = RateLimit(per_second=10.0, burst=50)
    report: RateLimit = RateLimit(per_second=0.1, burst=10)
    media_upload: RateLimit = RateLimit(per_second=0.5, burst=20)
    room_hierarchy: RateLimit = RateLimit(per_second=5.0, burst=10)  # per user, as Synapse


@dataclass(frozen=True)
class Registration:
    enabled: bool = True
    require_token: bool = False
    allow_guests: bool = False


@dataclass(frozen=True)
class PasswordHashing:
    # argon2id parameters (libsodium's "interactive" defaults: 2 passes, 64 MiB)
    opslimit: int = 2
    memlimit: int = 64 * 1024 * 1024
    min_length: int = 8


@dataclass(frozen=True)
class UrlPreview:
    """GET /media/preview_url: off by default. Private, loopback and link-local addresses are
    never fetched unless a network in `ip_allowlist` (CIDR strings) holds them."""

    enabled: bool = False
    ip_allowlist: tuple[str, ...] = ()
    max_page_bytes: int = 4 * 1024 * 1024
    timeout_s: float = 10.0


@dataclass(frozen=True)
class Media:
    max_upload_size: int = 50 * 1024 * 1024
    # Decompression-bomb guard: images with more pixels are never decoded for thumbnails.
    max_thumbnail_pixels: int = 32_000_000
    thumbnail_timeout_s: float = 30.0
    # Legacy unauthenticated /_matrix/media/v3/download|thumbnail: when frozen, they serve only
    # media uploaded before `legacy_frozen_after_ms` (0: none) and answer 404 for the rest.
    legacy_frozen: bool = True
    legacy_frozen_after_ms: int = 0
    # POST /media/v1/create: an unused media ID expires after this; at most this many per user.
    unused_expiry_ms: int = 24 * 60 * 60 * 1000
    max_pending_uploads: int = 10
    url_preview: UrlPreview = field(default_factory=UrlPreview)


@dataclass(frozen=True)
class Config:
    server_name: str = "localhost"
    public_baseurl: str = ""
    bind_address: str = "127.0.0.1"
    port: int = 8008
    data_dir: str = "./data"
    database_url: str = ""
    database_schema: str = ""
    jwt_secret: str = ""
    redis_url: str = ""
    max_request_body_bytes: int = 1024 * 1024
    access_token_lifetime_ms: int = 5 * 60 * 1000
    serve_web_client: bool = True
    log_level: str = "INFO"
    default_room_version: str = "12"
    # Push gateways on loopback/private addresses or over plain http (tests, local set-ups).
    push_allow_local_gateways: bool = False
    # Read notifications (GET /notifications) are deleted this many days after they arrived.
    push_actions_retention_days: int = 30
    registration: Registration = field(default_factory=Registration)
    rate_limits: RateLimits = field(default_factory=RateLimits)
    password_hashing: PasswordHashing = field(default_factory=PasswordHashing)
    media: Media = field(default_factory=Media)

    @property
    def base_url(self) -> str:
        """The public base URL, always ending with '/'."""
        url = self.public_baseurl or f"http://{self.server_name.split(':')[0]}:{self.port}/"
        return url if url.endswith("/") else url + "/"

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def sqlalchemy_url(self) -> str:
        url = self.database_url
        if not url:
            return f"sqlite+aiosqlite:///{self.data_path / 'homeserver.db'}"
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+asyncpg://" + url[len(prefix) :]
        if url.startswith("sqlite:///"):
            return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
        return url


ENV_OVERRIDES: dict[str, str] = {
    "PORT": "port",
    "DATABASE_URL": "database_url",
    "JWT_SECRET": "jwt_secret",
    "SERVER_NAME": "server_name",
    "PUBLIC_BASEURL": "public_baseurl",
    "DATA_DIR": "data_dir",
    "REDIS_URL": "redis_url",
}


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    if path is not None:
        raw = _read_yaml(Path(path))
    for var, key in ENV_OVERRIDES.items():
        if env.get(var):
            raw[key] = int(_env_int(var, env[var])) if key == "port" else env[var]
    version = raw.get("default_room_version")
    if isinstance(version, int) and not isinstance(version, bool):  # `10` in YAML is a number
        raw["default_room_version"] = str(version)
    config = _build(Config, raw, "")
    _check(config)
    return config


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"config file {path} is not UTF-8 text (byte {e.start})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"config file {path} is not valid YAML{where}") from None
    except ValueError as e:  # a value YAML parses but Python cannot build: 2020-13-45, a huge int
        raise ConfigError(f"config file {path} is not valid YAML: {str(e).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must be a mapping of options")
    return data


def _env_int(var: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"environment variable {var} must be an integer, got {value!r}") from None


T = typing.TypeVar("T")


def _build(cls: type[T], raw: Mapping[str, Any], prefix: str) -> T:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key in raw:
        if key not in names:
            raise ConfigError(f"unknown config option {prefix + str(key)!r}")
    values = {key: _coerce(hints[key], value, f"{prefix}{key}") for key, value in raw.items()}
    try:
        return cls(**values)
    except TypeError as e:  # a nested section missing a required option
        raise ConfigError(f"incomplete config section '{prefix.rstrip('.')}': {e}") from None


def _coerce(hint: Any, value: Any, name: str) -> Any:
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(f"config option '{name}' must be a mapping")
        return _build(hint, value, name + ".")  # type: ignore[arg-type]
    origin = typing.get_origin(hint)
    if origin is tuple:  # a YAML list of one type
        if not isinstance(value, list):
            raise ConfigError(f"config option '{name}' must be a list")
        return tuple(_coerce(typing.get_args(hint)[0], v, f"{name}[{i}]") for i, v in enumerate(value))
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        hint = next(a for a in args if a is not type(None))
    if hint is bool:
        ok = isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif hint is float:
        value, ok = _finite_float(value)
    else:
        ok = isinstance(value, hint)
    if not ok:
        raise ConfigError(f"config option '{name}' must be of type {hint.__name__}, got {value!r}")
    return value


def _finite_float(value: Any) -> tuple[Any, bool]:
    """A number as a finite float (an int will do; a bool, NaN or infinity will not)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value, False
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        return value, False
    return (number, True) if math.isfinite(number) else (value, False)


def _check(config: Config) -> None:
    if not is_valid_server_name(config.server_name):
        raise ConfigError(f"server_name {config.server_name!r} is not a valid Matrix server name")
    if not 0 < config.port < 65536:
        raise ConfigError(f"port {config.port} is out of range")
    if config.public_baseurl:
        parts = urlsplit(config.public_baseurl)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"public_baseurl {config.public_baseurl!r} must be an http(s) URL")
    url = config.sqlalchemy_url
    if not (url.startswith("sqlite+aiosqlite://") or url.startswith("postgresql+asyncpg://")):
        raise ConfigError("database_url must start with postgresql:// or sqlite:///")
    if config.max_request_body_bytes < 1024:
        raise ConfigError("max_request_body_bytes must be at least 1024")
    if config.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ConfigError(f"log_level {config.log_level!r} is not a logging level")
    if config.default_room_version not in CREATABLE_VERSIONS:
        raise ConfigError(
            f"default_room_version {config.default_room_version!r} is not one new rooms can have "
            f"({', '.join(sorted(CREATABLE_VERSIONS, key=int))})"
        )
    _check_media(config.media)
    if not 1 <= config.push_actions_retention_days <= 36500:
        raise ConfigError("push_actions_retention_days must be between 1 and 36500")
    for name in (f.name for f in dataclasses.fields(RateLimits) if f.name != "enabled"):
        limit: RateLimit = getattr(config.rate_limits, name)
        if limit.per_second <= 0 or limit.burst < 1:
            raise ConfigError(f"rate_limits.{name} needs per_second > 0 and burst >= 1")


def _check_media(media: Media) -> None:
    for name in ("max_upload_size", "max_thumbnail_pixels", "unused_expiry_ms", "max_pending_uploads"):
        if getattr(media, name) < 1:
            raise ConfigError(f"media.{name} must be at least 1")
    if media.url_preview.max_page_bytes < 1024:
        raise ConfigError("media.url_preview.max_page_bytes must be at least 1024")
    if media.thumbnail_timeout_s <= 0 or media.url_preview.timeout_s <= 0:
        raise ConfigError("media.thumbnail_timeout_s and media.url_preview.timeout_s must be positive")
    for network in media.url_preview.ip_allowlist:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ConfigError(f"media.url_preview.ip_allowlist: {network!r} is not an IP network") from None


def config_as_dict(config: Config) -> dict[str, Any]:
    return dataclasses.asdict(config)
