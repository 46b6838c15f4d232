"""hallwatch's settings: one frozen object, built here from the environment.

Only ``infra`` reads environment variables; everything else receives a
``Settings`` (or the pieces of it it needs).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import unquote, urlparse

from domain.policy import DEFAULT_POLICY, Policy


class SettingsError(ValueError):
    """A setting has a value hallwatch cannot use; the message names it."""


@dataclass(frozen=True)
class Settings:
    """Everything hallwatch needs to know to start."""

    data_dir: Path = Path(".hallwatch")
    database_url: str | None = None
    calendar_overrides: Path | None = None
    secret_key: bytes | None = None
    secret_key_file: Path | None = None
    signing_key_file: Path | None = None
    anchor_path: Path | None = None
    verify_key_file: Path | None = None
    hall: str = "hallwatch"
    batch_size: int = 500
    policy: Policy = field(default_factory=Policy)
    kafka_bootstrap: str | None = None
    kafka_port: int = 9092
    s3_port: int = 9095
    topic_prefix: str = "hallwatch"
    topic_partitions: int = 6
    clickhouse_url: str | None = None
    alert_tick_seconds: float = 0.5
    log_level: str | None = None  # None: INFO for long-running commands, else WARNING
    log_format: str = "text"  # or "json": one object per line
    clock: str | None = None  # <simulated>@<real>[x<speed>]: infra/clock.py
    users_path: Path | None = None
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = 8501

    @property
    def clickhouse_path(self) -> Path:
        """The embedded chdb database (used when no ClickHouse server URL is set)."""
        return self.data_dir / "clickhouse"

    @property
    def clickhouse_target(self) -> str | Path:
        return self.clickhouse_url or self.clickhouse_path

    @property
    def events_topic(self) -> str:
        return f"{self.topic_prefix}.events"

    @property
    def intake_topic(self) -> str:
        return f"{self.topic_prefix}.intake"

    @property
    def dead_letter_topic(self) -> str:
        return f"{self.topic_prefix}.intake.rejected"

    @property
    def users_file(self) -> Path:
        """The dashboard's users (bcrypt hashes, roles, units): ``hallwatch users``."""
        return self.users_path or self.data_dir / "users.yaml"

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "events.sqlite3"

    @property
    def rejects_dir(self) -> Path:
        return self.data_dir / "rejected"

    @property
    def backend(self) -> str:
        return "postgres" if self.database_url else "sqlite"

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[arg-type]

    @property
    def anchor_file(self) -> Path:
        """Where checkpoints are appended (inspectors keep a copy): docs/tamper-evidence.md."""
        return self.anchor_path or self.data_dir / "anchors.jsonl"

    @property
    def public_key_file(self) -> Path:
        """The checkpoints' verification key: a pinned copy, or the one beside the anchors."""
        return self.verify_key_file or self.anchor_file.with_suffix(".pub")

    def key(self) -> bytes:
        """The secret for keyed hashes and the hash chain: ``HALLWATCH_SECRET_KEY``, else
        ``HALLWATCH_SECRET_KEY_FILE``, else (demo only) created once in the data folder."""
        if self.secret_key:
            return self.secret_key
        if self.secret_key_file is not None:
            return read_secret_file(self.secret_key_file, "HALLWATCH_SECRET_KEY_FILE")
        path = self.data_dir / "secret.key"
        if path.exists():
            return read_secret_file(path, "secret key")
        key = secrets.token_bytes(32)
        write_owner_only(path, key.hex().encode())
        return key


def read_secret_file(path: Path, name: str) -> bytes:
    """A hex key (≥ 16 bytes) from a file; a clear error naming the file otherwise."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise SettingsError(f"{name} {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SettingsError(f"{name} {path}: cannot read it ({e})") from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise SettingsError(f"{name} {path}: not a hex string") from None
    if len(key) < 16:
        raise SettingsError(f"{name} {path}: use at least 16 bytes (32 hex digits)")
    return key


def write_owner_only(path: Path, content: bytes) -> None:
    """Create ``path`` readable by its owner only (0600), its folder 0700 if new."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(content)
        f.flush()
        os.fsync(f.fileno())


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r}: not a whole number") from None
    if value < minimum:
        raise SettingsError(f"{name}={raw!r}: must be at least {minimum}")
    return value


def from_env(env: Mapping[str, str] | None = None) -> Settings:
    """Build the settings from environment variables (``os.environ`` by default)."""
    env = os.environ if env is None else env
    url = env.get("HALLWATCH_DATABASE_URL") or None
    if url:
        check_database_url(url)
    overrides = env.get("HALLWATCH_CALENDAR_OVERRIDES")

    def path(name: str) -> Path | None:
        raw = env.get(name)
        return Path(raw) if raw else None

    return Settings(
        data_dir=Path(env.get("HALLWATCH_DATA_DIR") or ".hallwatch"),
        database_url=url,
        calendar_overrides=Path(overrides) if overrides else None,
        secret_key=_secret_key(env.get("HALLWATCH_SECRET_KEY")),
        secret_key_file=path("HALLWATCH_SECRET_KEY_FILE"),
        signing_key_file=path("HALLWATCH_SIGNING_KEY_FILE"),
        anchor_path=path("HALLWATCH_ANCHOR_FILE"),
        verify_key_file=path("HALLWATCH_VERIFY_KEY_FILE"),
        hall=env.get("HALLWATCH_HALL") or "hallwatch",
        batch_size=_int(env, "HALLWATCH_BATCH_SIZE", 500),
        kafka_bootstrap=env.get("HALLWATCH_KAFKA_BOOTSTRAP") or None,
        kafka_port=_port(env, "HALLWATCH_KAFKA_PORT", 9092),
        s3_port=_port(env, "HALLWATCH_S3_PORT", 9095),
        topic_prefix=_prefix(env.get("HALLWATCH_TOPIC_PREFIX") or "hallwatch"),
        topic_partitions=_int(env, "HALLWATCH_TOPIC_PARTITIONS", 6),
        clickhouse_url=_clickhouse_url(env.get("HALLWATCH_CLICKHOUSE_URL") or None),
        log_level=_log_level(env.get("HALLWATCH_LOG_LEVEL") or None),
        log_format=_log_format(env.get("HALLWATCH_LOG_FORMAT") or "text"),
        clock=_clock(env.get("HALLWATCH_CLOCK") or None),
        users_path=path("HALLWATCH_USERS_FILE"),
        dashboard_host=env.get("HALLWATCH_DASHBOARD_HOST") or "127.0.0.1",
        dashboard_port=_port(env, "HALLWATCH_DASHBOARD_PORT", 8501),
        policy=_policy(env),
    )


def _secret_key(key_hex: str | None) -> bytes | None:
    if not key_hex:
        return None
    try:
        key = bytes.fromhex(key_hex)
    except ValueError:
        raise SettingsError("HALLWATCH_SECRET_KEY: not a hex string") from None
    if len(key) < 16:
        raise SettingsError("HALLWATCH_SECRET_KEY: use at least 16 bytes (32 hex digits)")
    return key


def _policy(env: Mapping[str, str]) -> Policy:
    """The policy's defaults (domain/policy.py) with what the environment overrides."""
    share_raw = env.get("HALLWATCH_WARNING_SHARE")
    share = DEFAULT_POLICY.warning_share
    if share_raw:
        try:
            share = float(share_raw)
        except ValueError:
            raise SettingsError(f"HALLWATCH_WARNING_SHARE={share_raw!r}: not a number") from None
        if not 0 < share < 1:
            raise SettingsError(f"HALLWATCH_WARNING_SHARE={share_raw!r}: must be between 0 and 1")
    return Policy(
        warning_share=share,
        bad_rating_answer_days=_int(
            env, "HALLWATCH_BAD_RATING_ANSWER_DAYS", DEFAULT_POLICY.bad_rating_answer_days
        ),
        complaint_reply_days=_int(
            env, "HALLWATCH_COMPLAINT_REPLY_DAYS", DEFAULT_POLICY.complaint_reply_days
        ),
    )


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    value = _int(env, name, default)
    if value > 65535:
        raise SettingsError(f"{name}={value}: not a port number")
    return value


def _prefix(value: str) -> str:
    if not value.replace(".", "").replace("-", "").replace("_", "").isalnum():
        raise SettingsError(f"HALLWATCH_TOPIC_PREFIX={value!r}: use letters, digits, '.', '-', '_'")
    return value


def _clock(value: str | None) -> str | None:
    if value is None:
        return None
    from infra.clock import parse_clock

    try:
        parse_clock(value)
    except ValueError as e:
        raise SettingsError(f"HALLWATCH_CLOCK: {e}") from None
    return value


_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _log_level(value: str | None) -> str | None:
    if value is None:
        return None
    if value.strip().upper() not in _LOG_LEVELS:
        raise SettingsError(f"HALLWATCH_LOG_LEVEL={value!r}: use one of {', '.join(_LOG_LEVELS)}")
    return value.strip().upper()


def _log_format(value: str) -> str:
    if value.strip().lower() not in ("text", "json"):
        raise SettingsError(f"HALLWATCH_LOG_FORMAT={value!r}: use text or json")
    return value.strip().lower()


def _clickhouse_url(url: str | None) -> str | None:
    if url and not url.startswith("clickhouse://"):
        raise SettingsError(
            f"HALLWATCH_CLICKHOUSE_URL={url!r}: use clickhouse://user:pw@host:9000/db"
        )
    return url


def check_database_url(url: str) -> None:
    p = urlparse(url)
    if p.scheme not in ("postgresql", "postgres"):
        raise SettingsError(f"database url {url!r}: only postgresql:// URLs are supported")
    if not p.path.strip("/"):
        raise SettingsError(f"database url {url!r}: names no database")


def eventsourcing_env(settings: Settings) -> dict[str, str]:
    """The eventsourcing library's settings for the configured event store."""
    if settings.database_url is None:
        # owner-only: the event store holds applicant names in clear
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        return {
            "PERSISTENCE_MODULE": "infra.persistence:TunedSQLiteFactory",
            "SQLITE_DBNAME": str(settings.sqlite_path),
            "SQLITE_LOCK_TIMEOUT": "30",
        }
    p = urlparse(settings.database_url)
    return {
        "PERSISTENCE_MODULE": "infra.persistence:KeyedPostgresFactory",
        "POSTGRES_DBNAME": unquote(p.path.lstrip("/")),
        "POSTGRES_HOST": p.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(p.port or 5432),
        "POSTGRES_USER": unquote(p.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(p.password or ""),
        "POSTGRES_CONNECT_TIMEOUT": "10",
        "POSTGRES_POOL_SIZE": "4",
        "CREATE_TABLE": "y",
    }
