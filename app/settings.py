"""Runtime settings, read from ``LOCUS_*`` environment variables (pydantic-settings).

One class per concern, as tipg does; every module reads settings through ``get_settings()``
so tests can override them with environment variables.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

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

    # Request bounds for the API.
    default_page_size: int = 100
    max_page_size: int = 1000
    statement_timeout_ms: int = 15000

    @model_validator(mode="after")
    def _page_sizes_consistent(self) -> Settings:
        if self.default_page_size > self.max_page_size:
            raise ValueError("LOCUS_DEFAULT_PAGE_SIZE may not exceed LOCUS_MAX_PAGE_SIZE")
        return self

    @property
    def libpq_url(self) -> str:
        """The database URL without the SQLAlchemy driver suffix (for psycopg/procrastinate)."""
        return self.database_url.replace("postgresql+psycopg://", "postgresql://", 1)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached; call ``get_settings.cache_clear()`` in tests)."""
    return Settings()
