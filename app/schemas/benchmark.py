"""Responses of the estate benchmark (``GET /estate/benchmark``): NHS sites and trusts against
every English peer of the same type (ERIC 2016/17), with the method and the national totals.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from app.schemas.common import Metadata, ResponseModel

__all__ = [
    "Benchmark",
    "BenchmarkFigures",
    "BenchmarkKpi",
    "BenchmarkRow",
    "Distribution",
    "KpiInfo",
    "NationalTotals",
    "PublishedCheck",
]


class KpiInfo(ResponseModel):
    """One KPI: its key in ``rows[].kpis``, label and unit."""

    name: str
    label: str
    unit: str


class BenchmarkKpi(ResponseModel):
    """A row's value of one KPI and where it stands among its peers."""

    value: float | None = Field(description="None when the figure or floor area is missing")
    percentile: float | None = Field(
        description="100 × (peers below + ½ × peers equal) / peers; higher = more"
    )
    outlier: Literal["high", "low"] | None = Field(
        description="beyond the peers' 95th (high) or 5th (low) percentile"
    )
    peers: int = Field(ge=0, description="peers (same type) with this KPI known")


class BenchmarkFigures(ResponseModel):
    """The row's figures the KPIs come from (£ and m²)."""

    gia_m2: float | None
    running_cost_gbp: float | None
    backlog_gbp: float | None
    backlog_high_gbp: float | None
    backlog_significant_gbp: float | None
    backlog_moderate_gbp: float | None
    backlog_low_gbp: float | None
    energy_cost_gbp: float | None


class BenchmarkRow(ResponseModel):
    """One site (level=site) or trust (level=trust)."""

    site_code: str | None = None
    site_name: str | None = None
    site_type: str | None = None
    trust_code: str
    trust_name: str
    trust_type: str
    sites: int | None = Field(default=None, description="trust: its rows that are sites")
    aggregate_rows: int | None = Field(
        default=None, description="trust: its AGGREGATE rows (sites returned together)"
    )
    figures: BenchmarkFigures
    kpis: dict[str, BenchmarkKpi] = Field(description="KPI name → value and percentile")


class Distribution(ResponseModel):
    """A peer group's spread of the KPIs (for a box plot): linear quantiles."""

    peer_group: str
    kpis: dict[str, dict[str, float | int | None]] = Field(
        description="KPI → peers, min, p5, q1, median, q3, p95, max"
    )


class PublishedCheck(ResponseModel):
    """A computed national total beside the figure NHS Digital published."""

    computed: float
    published: str | None
    published_gbp: float | None = None
    comparable: bool = Field(description="the same definition as the published figure")
    why: str | None = None
    difference_share: float | None = Field(default=None, description="computed / published − 1")


class NationalTotals(ResponseModel):
    """Totals over every ERIC row in England (AGGREGATE rows included)."""

    trusts: int
    sites: int
    aggregate_rows: int
    gia_m2: float
    running_cost_gbp: float
    backlog_high_gbp: float
    backlog_significant_gbp: float
    backlog_moderate_gbp: float
    backlog_low_gbp: float
    backlog_gbp: float
    energy_cost_gbp: float
    published_check: dict[str, PublishedCheck]
    published_source: str


class Benchmark(ResponseModel):
    """``GET /estate/benchmark``."""

    level: Literal["site", "trust"]
    matched: int = Field(ge=0, description="rows matching the filters")
    returned: int = Field(ge=0)
    limit: int
    offset: int
    kpis: list[KpiInfo]
    rows: list[BenchmarkRow]
    distributions: list[Distribution] = Field(description="the peer groups of the rows")
    method: dict[str, str]
    national_totals: NationalTotals
    metadata: Metadata
