"""Runtime settings, read from ``LOCUS_*`` environment variables (pydantic-settings).

One class per concern, as tipg does; every module reads settings through ``get_settings()``
so tests can override them with environment variables.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Settings for the whole service; ``LOCUS_`` prefix, e.g. ``LOCUS_DATABASE_URL``."""

    model_config = SettingsConfigDict(env_prefix="LOCUS_", extra="ignore")

    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/locus"
    data_dir: Path = Field(default=REPO_ROOT.parent / "shared" / "data")
    cache_dir: Path = Field(default=REPO_ROOT / ".cache")
    host: str = "127.0.0.1"
    port: int = 8000

    # Travel speeds (km/h) used to build networks; stated in every result's metadata.
    walk_speed_kmh: float = 4.8
    cycle_speed_kmh: float = 15.0
    max_snap_distance_m: float = 1000.0

    # Role of callers without an API key: "anonymous" (open data only, no jobs) unless a
    # single-user local set-up raises it (`locus demo` on a loopback address uses "analyst").
    anonymous_role: Literal["anonymous", "viewer", "analyst"] = "anonymous"

    # Request bounds for the API.
    default_page_size: int = 100
    max_page_size: int = 1000
    statement_timeout_ms: int = 15000

    # Database pool of each API process (uvicorn worker). Two cores serve only a handful of
    # statements at once usefully; more connections only queue inside PostgreSQL.
    pool_min_size: int = Field(default=2, ge=1)
    pool_max_size: int = Field(default=10, ge=1)
    #: Seconds a request waits for a pooled connection before a 503.
    pool_timeout_s: float = Field(default=10.0, gt=0)
    #: Megabytes of rendered vector tiles kept per API process (0: no cache). Entries are
    #: keyed by the data version (count and newest id of ``data_loads``), so a load
    #: invalidates them; see ``app.routers.tiles``.
    tile_cache_mb: float = Field(default=64.0, ge=0)

    @model_validator(mode="after")
    def _page_sizes_consistent(self) -> Settings:
        if self.default_page_size > self.max_page_size:
            raise ValueError("LOCUS_DEFAULT_PAGE_SIZE may not exceed LOCUS_MAX_PAGE_SIZE")
        if self.pool_min_size > self.pool_max_size:
            raise ValueError("LOCUS_POOL_MIN_SIZE may not exceed LOCUS_POOL_MAX_SIZE")
        return self

    @property
    def libpq_url(self) -> str:
        """The database URL without the SQLAlchemy driver suffix (for psycopg/procrastinate)."""
        return self.database_url.replace("postgresql+psycopg://", "postgresql://", 1)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached; call ``get_settings.cache_clear()`` in tests)."""
    return Settings()
