"""Runtime settings, read from ``LOCUS_*`` environment variables (pydantic-settings).

One :class:`Settings` object, nested per concern as tipg does (one class per concern, each
with its own environment prefix and cross-field checks). An entry point (the CLI, the API
factory, the job worker, a test) builds it once with :func:`load_settings` and passes it on;
no module reads settings as a global.

=========================  ==========================  ====================================
concern                    class                       environment variables
=========================  ==========================  ====================================
where files are            :class:`PathSettings`       ``LOCUS_DATA_DIR``, ``LOCUS_CACHE_DIR``
the database               :class:`DatabaseSettings`   ``LOCUS_DATABASE_URL``, ``LOCUS_DATABASE_*``
travel model               :class:`TravelSettings`     ``LOCUS_WALK_SPEED_KMH``, ...
timetables                 :class:`TransitSettings`    ``LOCUS_TRANSIT_*``
the HTTP API               :class:`ApiSettings`        ``LOCUS_HOST``, ``LOCUS_PORT``,
                                                       ``LOCUS_BASE_URL``, ...
vector tiles               :class:`TileSettings`       ``LOCUS_TILE_*``
the job queue              :class:`JobSettings`        ``LOCUS_JOBS_*``
guards on loaded files     :class:`LoadSettings`       ``LOCUS_LOAD_*``
=========================  ==========================  ====================================
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import AliasChoices, BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class PathSettings(BaseSettings):
    """Folders: the real public data (read only) and the cache of built networks."""

    model_config = SettingsConfigDict(env_prefix="LOCUS_", extra="ignore")

    data_dir: Path = Field(default=REPO_ROOT.parent / "shared" / "data")
    cache_dir: Path = Field(default=REPO_ROOT / ".cache")


class DatabaseSettings(BaseSettings):
    """The PostGIS database and the one connection configuration every path uses.

    ``statement_timeout_ms`` bounds each statement of interactive work (API requests);
    ``batch_statement_timeout_ms`` bounds loads and jobs, whose statements may legitimately
    run for minutes (0: no limit). Both come from :func:`store.connection.connection_kwargs`.
    """

    model_config = SettingsConfigDict(env_prefix="LOCUS_DATABASE_", extra="ignore")

    url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/locus"
    statement_timeout_ms: int = Field(
        default=15000,
        ge=1,
        validation_alias=AliasChoices(
            "LOCUS_DATABASE_STATEMENT_TIMEOUT_MS", "LOCUS_STATEMENT_TIMEOUT_MS"
        ),
    )
    batch_statement_timeout_ms: int = Field(default=0, ge=0)
    # Pool of each process. Two cores serve only a handful of statements at once usefully;
    # more connections only queue inside PostgreSQL.
    pool_min_size: int = Field(default=2, ge=1)
    pool_max_size: int = Field(default=10, ge=1)
    #: Seconds a caller waits for a pooled connection before giving up (503 in the API).
    pool_timeout_s: float = Field(default=10.0, gt=0)
    #: Seconds a pool keeps retrying (with growing pauses: 1, 2, 4 s...) to replace a
    #: connection while the database is down; then it stops and connects again on the next
    #: request. Short, so the API is back within seconds of the database, however long the
    #: outage (psycopg_pool's 5 minutes let the pauses grow to a minute).
    pool_reconnect_timeout_s: float = Field(default=5.0, gt=0)

    @model_validator(mode="after")
    def _pool_sizes_consistent(self) -> DatabaseSettings:
        if self.pool_min_size > self.pool_max_size:
            raise ValueError("LOCUS_DATABASE_POOL_MIN_SIZE may not exceed _POOL_MAX_SIZE")
        return self

    @property
    def libpq_url(self) -> str:
        """The URL without SQLAlchemy's driver suffix (for psycopg and procrastinate)."""
        return self.url.replace("postgresql+psycopg://", "postgresql://", 1)

    @property
    def name(self) -> str:
        """The database name (the URL's last path segment)."""
        return self.url.rsplit("/", 1)[-1].split("?", 1)[0]


class TravelSettings(BaseSettings):
    """Speeds (km/h) and snapping used to build networks; stated in every result's metadata."""

    model_config = SettingsConfigDict(env_prefix="LOCUS_", extra="ignore")

    walk_speed_kmh: float = Field(default=4.8, gt=0, le=20)
    cycle_speed_kmh: float = Field(default=15.0, gt=0, le=60)
    #: Points farther than this from the network are reported unreachable, never moved.
    max_snap_distance_m: float = Field(default=1000.0, gt=0, le=10000)

    @property
    def walk_speed_m_s(self) -> float:
        """Walking speed in metres per second (the access leg to and from the network)."""
        return self.walk_speed_kmh / 3.6


class TransitSettings(BaseSettings):
    """``LOCUS_TRANSIT_`` settings, e.g. ``LOCUS_TRANSIT_SERVICE_DATE=2018-05-15``."""

    model_config = SettingsConfigDict(env_prefix="LOCUS_TRANSIT_", extra="ignore")

    #: Service date of the timetable; default: the first Tuesday on or after the feed start.
    service_date: dt.date | None = None
    #: Departure window, ``HH:MM`` local time on the service date.
    window_start: str = Field(default="07:00", pattern=r"^\d{1,2}:\d{2}$")
    window_end: str = Field(default="10:00", pattern=r"^\d{1,2}:\d{2}$")
    #: Seconds between departures in the window.
    step_s: int = Field(default=60, ge=1, le=3600)
    #: Percentile of the travel times over the departures (50 = median).
    percentile: float = Field(default=50.0, ge=0, le=100)
    #: Longest single walk (access, transfer, egress), metres.
    max_walk_m: float = Field(default=1000.0, ge=0)
    #: Straight-line distance multiplier for walks when no walk network covers the feed.
    detour_factor: float = Field(default=1.3, ge=1)
    max_transfers: int = Field(default=8, ge=0, le=20)
    #: Minimum seconds between alighting and boarding the next vehicle.
    transfer_slack_s: int = Field(default=60, ge=0)
    #: Use a loaded walk network for walking legs when it covers the feed's stops.
    use_walk_network: bool = True

    # --- Reading a GTFS feed (etl.gtfs_archive.GtfsLimits): a feed beyond any limit is refused
    # before it is parsed (sizes and ratio from the zip's headers, then counted while
    # decompressing), the error naming the member and the setting. Sizes are of the
    # uncompressed .txt files.
    gtfs_max_file_mb: float = Field(default=256.0, gt=0)
    gtfs_max_total_mb: float = Field(default=512.0, gt=0)
    #: Uncompressed to compressed size of one member (real feeds: under 20 to 1).
    gtfs_max_ratio: float = Field(default=100.0, gt=1)
    #: Rows of one file (the header not counted).
    gtfs_max_rows: int = Field(default=5_000_000, ge=1)
    #: Columns of one file's header.
    gtfs_max_columns: int = Field(default=64, ge=1)

    @property
    def window_start_s(self) -> int:
        """Window start, seconds after midnight."""
        return _hhmm(self.window_start)

    @property
    def window_end_s(self) -> int:
        """Window end, seconds after midnight."""
        return _hhmm(self.window_end)

    @model_validator(mode="after")
    def _window_ordered(self) -> TransitSettings:
        if self.window_end_s <= self.window_start_s:
            raise ValueError("LOCUS_TRANSIT_WINDOW_END must be after LOCUS_TRANSIT_WINDOW_START")
        return self


def _hhmm(value: str) -> int:
    hours, minutes = value.split(":")
    return int(hours) * 3600 + int(minutes) * 60


#: Bind addresses that mean "every interface": links name the loopback address instead.
_WILDCARD_HOSTS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


class ApiSettings(BaseSettings):
    """The HTTP service: where it listens, its public address, page sizes, callers without a
    key, tile cache."""

    model_config = SettingsConfigDict(env_prefix="LOCUS_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    #: ``LOCUS_BASE_URL``: the service's root as its clients reach it (``https://locus.example
    #: .org`` or ``https://example.org/locus`` behind a proxy). ``Location`` headers and every
    #: absolute link are built on it, never on the request's ``Host`` header (which a client
    #: chooses). Unset: ``http://<host>:<port>`` (:attr:`public_url`).
    base_url: str | None = None
    # Role of callers without an API key: "anonymous" (open data only, no jobs) unless a
    # single-user local set-up raises it (`locus demo` on a loopback address uses "analyst").
    anonymous_role: Literal["anonymous", "viewer", "analyst"] = "anonymous"
    default_page_size: int = Field(default=100, ge=1)
    max_page_size: int = Field(default=1000, ge=1)
    #: Megabytes of rendered pages and tiles kept per API process (0: no cache).
    tile_cache_mb: float = Field(default=64.0, ge=0)

    @field_validator("base_url")
    @classmethod
    def _absolute_http_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"LOCUS_BASE_URL {value!r} must be an absolute http(s) URL")
        if parts.query or parts.fragment or "@" in parts.netloc:
            raise ValueError(
                f"LOCUS_BASE_URL {value!r} must not hold credentials, a query or a fragment"
            )
        return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))

    @model_validator(mode="after")
    def _page_sizes_consistent(self) -> ApiSettings:
        if self.default_page_size > self.max_page_size:
            raise ValueError("LOCUS_DEFAULT_PAGE_SIZE may not exceed LOCUS_MAX_PAGE_SIZE")
        return self

    @property
    def public_url(self) -> str:
        """The root of every absolute link, without a trailing slash: ``base_url``, else
        ``http://<host>:<port>`` (a wildcard bind address named as the loopback address)."""
        if self.base_url:
            return self.base_url.rstrip("/")  # also when set by model_copy (not validated)
        host = _WILDCARD_HOSTS.get(self.host, self.host)
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"  # an IPv6 literal
        return f"http://{host}:{self.port}"


class TileSettings(BaseSettings):
    """``LOCUS_TILE_`` settings: what one vector tile may cost and hold (issue 17).

    Tiles render on a pool of their own, ``concurrency`` connections per API process, so a
    burst of expensive tiles never holds the connections item requests need; a tile waits at
    most ``queue_timeout_s`` for one (then 503). Each tile runs in one transaction under
    ``SET LOCAL statement_timeout`` = ``budget_ms`` (all its layers together), far below the
    pool's statement timeout: past it the answer is a 503 problem+json (nothing cached).
    Each layer keeps at most ``max_features`` features and the whole tile at most
    ``max_bytes`` bytes (largest features first; layers share the bytes in turn); a tile
    that dropped features says so in its ``Tile-Truncated`` header. The data version that
    keys the response cache is read at most every ``version_ttl_s`` seconds per process.
    """

    model_config = SettingsConfigDict(env_prefix="LOCUS_TILE_", extra="ignore")

    budget_ms: int = Field(default=2000, ge=10)
    concurrency: int = Field(default=2, ge=1)
    queue_timeout_s: float = Field(default=5.0, gt=0)
    max_features: int = Field(default=10000, ge=1)
    max_bytes: int = Field(default=512 * 1024, ge=1024)
    #: 0: read the data version on every request (every write is seen at once).
    version_ttl_s: float = Field(default=1.0, ge=0)


class JobSettings(BaseSettings):
    """``LOCUS_JOBS_`` settings, e.g. ``LOCUS_JOBS_MAX_ATTEMPTS=1`` to never retry.

    The heartbeat and stalled-worker timings decide how fast a job whose worker died is
    noticed: a worker writes a heartbeat every ``heartbeat_interval_s``; one silent for longer
    than ``stalled_worker_timeout_s`` is considered gone and its running jobs are swept
    (retried while attempts remain, else failed with the reason) every ``sweep_interval_s``.
    """

    model_config = SettingsConfigDict(env_prefix="LOCUS_JOBS_", extra="ignore")

    #: procrastinate queue the processes run on.
    queue: str = "locus"
    #: Runs of a job, counting the first, before a worker loss makes it fail.
    max_attempts: int = Field(default=2, ge=1)
    #: Jobs run at once by one worker process (CPU-bound solves: keep it small).
    concurrency: int = Field(default=1, ge=1)
    heartbeat_interval_s: float = Field(default=5.0, gt=0)
    stalled_worker_timeout_s: float = Field(default=30.0, gt=0)
    sweep_interval_s: float = Field(default=10.0, gt=0)
    #: How often a worker checks for dismissed (abort-requested) jobs.
    abort_poll_interval_s: float = Field(default=1.0, gt=0)
    #: Seconds between progress writes to the jobs table (first and last always written).
    progress_min_interval_s: float = Field(default=0.5, ge=0)
    #: Wall-clock limit handed to the solvers (seconds).
    solver_time_limit_s: float = Field(default=300.0, gt=0)

    @model_validator(mode="after")
    def _timings_consistent(self) -> JobSettings:
        if self.stalled_worker_timeout_s <= self.heartbeat_interval_s:
            raise ValueError(
                "LOCUS_JOBS_STALLED_WORKER_TIMEOUT_S must exceed LOCUS_JOBS_HEARTBEAT_INTERVAL_S"
            )
        return self


class LoadSettings(BaseSettings):
    """``LOCUS_LOAD_`` settings: the guards every file load passes (``locus load``, uploads).

    Reading is bounded so a hostile or broken file is refused with a named error before it
    exhausts memory: ``max_file_mb`` bounds a file on disk, ``max_uncompressed_mb`` the bytes
    read out of a ``.gz`` CSV or an ``.xlsx`` (a zip), ``max_compression_ratio`` refuses a
    compressed file expanding far beyond real data (a gzip bomb) once it has produced
    ``ratio_check_after_mb``, and ``max_rows`` / ``max_columns`` bound a table's shape.
    ``max_shrink`` is the share of a region's existing rows a new load may remove (0.1: a
    file that would remove more than 10 % of them is refused unless ``--allow-shrink``).
    """

    model_config = SettingsConfigDict(env_prefix="LOCUS_LOAD_", extra="ignore")

    #: Largest share (0-1) of the rows a region holds that a load may remove without
    #: ``--allow-shrink``.
    max_shrink: float = Field(default=0.1, ge=0, le=1)
    #: Largest input file on disk, MB (an England OSM extract is about 1.5 GB).
    max_file_mb: float = Field(default=2048.0, gt=0)
    #: Most bytes read out of a compressed CSV or spreadsheet, MB.
    max_uncompressed_mb: float = Field(default=1024.0, gt=0)
    #: Largest expansion of a compressed file (real CSVs gzip about 3-15 times).
    max_compression_ratio: float = Field(default=100.0, ge=1)
    #: Bytes a compressed file may expand to before its ratio is checked, MB (small files
    #: of repetitive text compress well without being bombs).
    ratio_check_after_mb: float = Field(default=16.0, ge=0)
    #: Most data rows (lines, features, sheet rows) in one file.
    max_rows: int = Field(default=5_000_000, ge=1)
    #: Most columns (fields of the header row) in one table.
    max_columns: int = Field(default=500, ge=1)


class Settings(BaseModel):
    """Every setting of Locus, one nested object per concern (see the module docstring)."""

    paths: PathSettings = Field(default_factory=PathSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    travel: TravelSettings = Field(default_factory=TravelSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)
    transit: TransitSettings = Field(default_factory=TransitSettings)
    load: LoadSettings = Field(default_factory=LoadSettings)
    tiles: TileSettings = Field(default_factory=TileSettings)

    @model_validator(mode="after")
    def _tile_budget_below_statement_timeout(self) -> Settings:
        if self.tiles.budget_ms >= self.database.statement_timeout_ms:
            raise ValueError(
                "LOCUS_TILE_BUDGET_MS must be below LOCUS_DATABASE_STATEMENT_TIMEOUT_MS"
            )
        return self

    def with_database(self, url: str) -> Settings:
        """A copy pointing at another database (tests, ``locus demo --database``)."""
        return self.model_copy(update={"database": self.database.model_copy(update={"url": url})})


def load_settings() -> Settings:
    """Settings from the environment, read now (entry points call this once and pass it on)."""
    return Settings()


@lru_cache
def get_settings() -> Settings:
    """The settings of this process, read once: for entry points (CLI, ``uvicorn app.main:app``,
    the job worker) only; everything they call receives the object as an argument."""
    return load_settings()
