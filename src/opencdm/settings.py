"""Server configuration, read from the environment (documented in docs/configuration.md)."""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path

import platformdirs


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    secret_key: str | None
    admin_password: str | None
    token_ttl_seconds: int
    signature_skew_seconds: int
    progress_interval_seconds: float
    batch_rows: int
    fast_paths: bool
    # How often the scheduler looks for due runs, retries and finished runs to follow up.
    scheduler_tick_seconds: float
    # The length of a schedule's "minute" (60): shorter only to try minute schedules out quickly.
    scheduler_minute_seconds: float
    # Wait before the first retry of a failed run; it doubles for each further one.
    retry_backoff_seconds: float
    # Directories nas-connector links may use; None (unset) refuses every nas link.
    file_roots: tuple[str, ...] | None
    # Larger request bodies are refused with 413 before they are read.
    max_body_bytes: int
    # Seconds a connection the server or a worker opens may take to connect (and, when the server
    # validates a link, to answer): OPENCDM_CONNECT_TIMEOUT.
    connect_timeout_seconds: float = 10.0
    # Niceness of job workers (0-19): above 0, API requests come before copies when both want the CPU.
    worker_niceness: int = 0
    # A server renews the lease of each run it owns; when several servers share a PostgreSQL store,
    # another one takes over a run whose lease expired (OPENCDM_LEASE_SECONDS).
    lease_seconds: float = 15.0
    # Server log lines: "json" (one object per line, for a log collector) or "text" (OPENCDM_LOG_FORMAT).
    log_format: str = "json"
    # A bearer token that reads /metrics of every project (a Prometheus scraper's); without it,
    # /metrics answers an API caller with their own project's figures only (OPENCDM_METRICS_TOKEN).
    metrics_token: str | None = None
    # Refuse a signed POST/PUT/DELETE sent again within the date window (OPENCDM_REFUSE_REPLAYS):
    # off by default, as CDM's gateway serves it (docs/decisions/0015-replays-and-login-throttle.md).
    refuse_replays: bool = False
    # Failed logins per minute answered before /v3/auth/tokens answers 429: from one client for one
    # user (OPENCDM_LOGIN_FAILURES), and from one client for all users together
    # (OPENCDM_LOGIN_CLIENT_FAILURES).
    login_failures_per_user: int = 10
    login_failures_per_client: int = 100
    # Host names, addresses and networks (CIDR) that links may reach; None (unset): any host
    # (OPENCDM_LINK_ALLOW, see connectors/outbound.py).
    link_allow: tuple[str, ...] | None = None
    # The API serves HTTPS with this certificate (chain) and its private key, both PEM files; both or
    # neither (OPENCDM_SSL_CERTFILE, OPENCDM_SSL_KEYFILE; checked when the server starts, see server.py).
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None

    @classmethod
    def from_env(cls, home: str | Path | None = None) -> Settings:
        home_path = Path(home or os.environ.get("OPENCDM_HOME") or platformdirs.user_data_dir("opencdm"))
        return cls(
            home=home_path,
            database_url=os.environ.get("OPENCDM_DATABASE_URL") or f"sqlite:///{home_path / 'opencdm.db'}",
            secret_key=os.environ.get("OPENCDM_SECRET_KEY"),
            admin_password=os.environ.get("OPENCDM_ADMIN_PASSWORD"),
            token_ttl_seconds=int(os.environ.get("OPENCDM_TOKEN_TTL", 24 * 3600)),
            signature_skew_seconds=int(os.environ.get("OPENCDM_SIGNATURE_SKEW", 15 * 60)),
            progress_interval_seconds=float(os.environ.get("OPENCDM_PROGRESS_INTERVAL", 1.0)),
            batch_rows=int(os.environ.get("OPENCDM_BATCH_ROWS", 50_000)),
            fast_paths=os.environ.get("OPENCDM_FAST_PATHS", "true").lower() not in ("0", "false", "no"),
            scheduler_tick_seconds=float(os.environ.get("OPENCDM_SCHEDULER_TICK", 1.0)),
            scheduler_minute_seconds=float(os.environ.get("OPENCDM_SCHEDULER_MINUTE", 60.0)),
            retry_backoff_seconds=float(os.environ.get("OPENCDM_RETRY_BACKOFF", 10.0)),
            file_roots=_file_roots(os.environ.get("OPENCDM_FILE_ROOTS")),
            max_body_bytes=int(os.environ.get("OPENCDM_MAX_BODY_BYTES", 4 * 2**20)),
            connect_timeout_seconds=_positive(os.environ.get("OPENCDM_CONNECT_TIMEOUT"), 10.0),
            worker_niceness=_niceness(os.environ.get("OPENCDM_WORKER_NICE")),
            lease_seconds=_positive(os.environ.get("OPENCDM_LEASE_SECONDS"), 15.0),
            log_format=_log_format(os.environ.get("OPENCDM_LOG_FORMAT")),
            metrics_token=os.environ.get("OPENCDM_METRICS_TOKEN") or None,
            refuse_replays=_flag(os.environ.get("OPENCDM_REFUSE_REPLAYS")),
            login_failures_per_user=_count(os.environ.get("OPENCDM_LOGIN_FAILURES"), 10),
            login_failures_per_client=_count(os.environ.get("OPENCDM_LOGIN_CLIENT_FAILURES"), 100),
            link_allow=_link_allow(os.environ.get("OPENCDM_LINK_ALLOW")),
            ssl_certfile=_path(os.environ.get("OPENCDM_SSL_CERTFILE")),
            ssl_keyfile=_path(os.environ.get("OPENCDM_SSL_KEYFILE")),
        )

    @property
    def store_file(self) -> Path | None:
        """The metadata store's SQLite file, when the store is one."""
        return sqlite_file(self.database_url)


def _file_roots(value: str | None) -> tuple[str, ...] | None:
    if value is None or not value.strip():
        return None
    return tuple(part.strip() for part in value.split(os.pathsep) if part.strip())


# A host name as DNS spells one (letters, digits, '-', '_', dots); anything else in the list must be
# an address or a network.
_HOST_NAME = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,252})")


def _link_allow(value: str | None) -> tuple[str, ...] | None:
    if value is None or not value.strip():
        return None
    entries = tuple(part.strip() for part in value.split(",") if part.strip())
    for entry in entries:
        try:
            ipaddress.ip_network(entry.strip("[]"), strict=False)
        except ValueError:
            if not _HOST_NAME.fullmatch(entry):
                raise ValueError(
                    f"OPENCDM_LINK_ALLOW takes host names, addresses and networks (CIDR) separated by ',', "
                    f"not {entry!r}"
                ) from None
    return entries


def _path(value: str | None) -> Path | None:
    return Path(value).expanduser() if value and value.strip() else None


def _niceness(value: str | None) -> int:
    if value is None or not value.strip():
        return 0
    niceness = int(value)
    if not 0 <= niceness <= 19:
        raise ValueError(f"OPENCDM_WORKER_NICE must be 0 to 19, not {value}")
    return niceness


def _log_format(value: str | None) -> str:
    chosen = (value or "json").strip().lower()
    if chosen not in ("json", "text"):
        raise ValueError(f"OPENCDM_LOG_FORMAT must be json or text, not {value}")
    return chosen


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes")


def _count(value: str | None, default: int) -> int:
    if value is None or not value.strip():
        return default
    count = int(value)
    if count < 1:
        raise ValueError(f"a count of at least 1 is needed, not {value}")
    return count


def _positive(value: str | None, default: float) -> float:
    if value is None or not value.strip():
        return default
    number = float(value)
    if number <= 0:
        raise ValueError(f"a positive number of seconds is needed, not {value}")
    return number


def sqlite_file(url: str) -> Path | None:
    """The database file of a ``sqlite:///path`` URL; None for another database or an in-memory one."""
    if not url.startswith("sqlite"):
        return None
    from sqlalchemy.engine import make_url

    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)
