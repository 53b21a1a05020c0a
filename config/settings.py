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
the HTTP API               :class:`ApiSettings`        ``LOCUS_HOST``, ``LOCUS_PORT``, ...
vector tiles               :class:`TileSettings`       ``LOCUS_TILE_*``
the job queue              :class:`JobSettings`        ``LOCUS_JOBS_*``
=========================  ==========================  ====================================
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, Field, model_validator
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


class ApiSettings(BaseSettings):
    """The HTTP service: where it listens, page sizes, callers without a key, tile cache."""

    model_config = SettingsConfigDict(env_prefix="LOCUS_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # Role of callers without an API key: "anonymous" (open data only, no jobs) unless a
    # single-user local set-up raises it (`locus demo` on a loopback address uses "analyst").
    anonymous_role: Literal["anonymous", "viewer", "analyst"] = "anonymous"
    default_page_size: int = Field(default=100, ge=1)
    max_page_size: int = Field(default=1000, ge=1)
    #: Megabytes of rendered pages and tiles kept per API process (0: no cache).
    tile_cache_mb: float = Field(default=64.0, ge=0)

    @model_validator(mode="after")
    def _page_sizes_consistent(self) -> ApiSettings:
        if self.default_page_size > self.max_page_size:
            raise ValueError("LOCUS_DEFAULT_PAGE_SIZE may not exceed LOCUS_MAX_PAGE_SIZE")
        return self


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


class Settings(BaseModel):
    """Every setting of Locus, one nested object per concern (see the module docstring)."""

    paths: PathSettings = Field(default_factory=PathSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    travel: TravelSettings = Field(default_factory=TravelSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)
    transit: TransitSettings = Field(default_factory=TransitSettings)
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
