"""The ``scenario-evaluation`` process: a stored scenario against the baseline, by mode.

Inputs name a stored scenario (``/scenarios``) and how to measure access: the service's site
kinds (``gp_practice`` by default: those sites are the baseline; every other visible building
can host an opened or moved service), modes, time bands, the threshold for who loses or gains
access, the £/m² for buildings without a running cost (default: the ERIC floor-area-weighted
rate) and a £/ha for the estimated land receipt.

Times are the stored area → site travel times (2021 areas); a site opened at a point that is
not a building in the register gets its area → site times computed on the network on the fly.
Results are :meth:`spatial.scenario.ScenarioResult.to_dict` plus ``metadata`` and ``detail``
(per-area before/after, who loses and gains, estate sites) from which the report, the
GeoPackage, the CSVs and ``/scenarios/compare`` are rebuilt.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Literal

from psycopg import AsyncConnection
from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.errors import InvalidParameter
from app.jobs.registry import Process, ProcessError, RunContext
from store.access import Principal

Mode = Literal["drive", "walk", "cycle", "transit"]


def _default_modes() -> list[Mode]:
    return ["drive"]


class ScenarioEvaluationInputs(BaseModel):
    """Inputs of ``scenario-evaluation`` (schema published at ``/processes``)."""

    model_config = ConfigDict(extra="forbid")

    scenario_id: int = Field(..., ge=1, description="id of a stored scenario (/scenarios)")
    kinds: list[str] = Field(
        default_factory=lambda: ["gp_practice"],
        min_length=1,
        max_length=20,
        description="site kinds providing the service whose access is measured",
        json_schema_extra={"items": {"type": "string", "pattern": r"^[a-z][a-z0-9_]{1,62}$"}},
    )
    modes: list[Mode] = Field(
        default_factory=_default_modes, min_length=1, max_length=4, description="modes"
    )
    bands: list[int] = Field(
        default_factory=lambda: [10, 20, 30],
        min_length=1,
        max_length=10,
        description="travel-time bands, whole minutes (1-120)",
    )
    threshold_min: float = Field(
        20.0, gt=0, le=180, description="access threshold, minutes (who loses / gains)"
    )
    cost_per_m2: float | None = Field(
        None, gt=0, le=10000, description="£/m²/year where a site has no running cost "
        "(default: ERIC floor-area-weighted rate)"
    )  # fmt: skip
    receipt_per_ha: float | None = Field(
        None, ge=0, le=1e9, description="£ per hectare of land released (estimated receipt)"
    )

    @field_validator("bands")
    @classmethod
    def _bands(cls, value: list[int]) -> list[int]:
        if any(b < 1 or b > 120 for b in value):
            raise ValueError("each band must be between 1 and 120 minutes")
        return sorted(set(value))

    @field_validator("kinds")
    @classmethod
    def _kinds(cls, value: list[str]) -> list[str]:
        import re

        bad = [k for k in value if not re.match(r"^[a-z][a-z0-9_]{1,62}$", k)]
        if bad:
            raise ValueError(f"not site kinds: {bad}")
        return value


async def precheck(conn: AsyncConnection[Any], inputs: Any, principal: Principal) -> None:
    """The scenario must exist and be visible; stored times must exist for each mode."""
    assert isinstance(inputs, ScenarioEvaluationInputs)
    cur = await conn.execute(
        "SELECT 1 FROM scenarios WHERE id = %s AND (NOT restricted OR organisation = %s)",
        (inputs.scenario_id, principal.organisation),
    )
    if await cur.fetchone() is None:
        raise InvalidParameter(f"no scenario {inputs.scenario_id}", parameter="scenario_id")
    for mode in inputs.modes:
        cur = await conn.execute(
            "SELECT EXISTS (SELECT 1 FROM travel_times WHERE mode = %s AND area_vintage = 2021)",
            (mode,),
        )
        row = await cur.fetchone()
        if not (row and row[0]):
            raise InvalidParameter(f"no stored {mode} travel times", parameter="modes")
    cur = await conn.execute(
        "SELECT EXISTS (SELECT 1 FROM sites WHERE kind = ANY(%s) AND status = 'active' "
        "AND (NOT restricted OR organisation = %s))",
        (inputs.kinds, principal.organisation),
    )
    row = await cur.fetchone()
    if not (row and row[0]):
        raise InvalidParameter(f"no active sites of kind(s) {inputs.kinds}", parameter="kinds")


def run_scenario_evaluation(ctx: RunContext, inputs: ScenarioEvaluationInputs) -> dict[str, Any]:
    """Load the scenario, evaluate it and return the JSON results."""
    from app.services import estate as svc

    ctx.progress(2, f"loading scenario {inputs.scenario_id}", force=True)
    record = svc.get_scenario(ctx.engine, ctx.principal, inputs.scenario_id)
    if record is None:
        raise ProcessError(f"scenario {inputs.scenario_id} does not exist (or is not visible)")
    params = svc.EvaluationParams(
        kinds=tuple(inputs.kinds),
        modes=tuple(inputs.modes),
        bands_min=tuple(inputs.bands),
        threshold_min=inputs.threshold_min,
        cost_per_m2=inputs.cost_per_m2,
        receipt_per_ha=inputs.receipt_per_ha,
    )
    try:
        result, meta = svc.evaluate(
            ctx.engine,
            ctx.principal,
            record["definition"],
            params,
            progress=lambda p, m: ctx.progress(p, m),
        )
    except svc.ScenarioInputError as exc:
        raise ProcessError("; ".join(exc.problems)) from None
    ctx.progress(95, "writing results", force=True)
    out = svc.result_to_json(result, {**meta, "scenario_id": record["id"]})
    return out


# ------------------------------------------------------------------------------- downloads
async def _areas_and_sources(conn: AsyncConnection[Any], results: dict[str, Any]) -> Any:
    import geopandas as gpd
    import shapely

    codes = sorted(
        {a["area_code"] for m in results["detail"]["modes"].values() for a in m["areas"]}
    )
    cur = await conn.execute(
        "SELECT code, ST_AsBinary(geom) FROM areas WHERE vintage = 2021 AND code = ANY(%s)",
        (codes,),
    )
    rows = await cur.fetchall()
    areas = gpd.GeoDataFrame(
        {"area_code": [r[0] for r in rows]},
        geometry=[shapely.from_wkb(bytes(r[1])) for r in rows],
        crs=27700,
    )
    sources = [tuple(s) for s in results.get("metadata", {}).get("sources", [])]
    return areas, sources


def _render(results: dict[str, Any], areas: Any, sources: Any, fmt: str) -> tuple[bytes, str, str]:
    from app.reports import scenario_layers, scenario_report, to_csv, to_geopackage
    from app.services import estate as svc

    result = svc.result_from_json(results)
    slug = "scenario-" + "".join(c if c.isalnum() else "-" for c in result.scenario.name)[:40]
    slug += f"-v{result.scenario.version}"
    if fmt in ("html", "pdf"):
        html, pdf = scenario_report(
            result,
            areas=areas,
            sources=sources,
            pdf_engine="auto" if fmt == "pdf" else "matplotlib",
        )
        if fmt == "html":
            return html.encode("utf-8"), "text/html; charset=utf-8", f"{slug}.html"
        return pdf, "application/pdf", f"{slug}.pdf"
    layers = scenario_layers(result, areas)
    with tempfile.TemporaryDirectory(prefix="locus-scenario-") as tmp:
        if fmt == "gpkg":
            path = to_geopackage(Path(tmp) / f"{slug}.gpkg", layers)
            return path.read_bytes(), "application/geopackage+sqlite3", f"{slug}.gpkg"
        files = to_csv(Path(tmp) / "csv", dict(layers))
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for p in files:
                zf.write(p, arcname=p.name)
        return buf.getvalue(), "application/zip", f"{slug}-csv.zip"


def _exporter(fmt: str) -> Any:
    async def export(conn: AsyncConnection[Any], results: dict[str, Any]) -> tuple[bytes, str, str]:
        from starlette.concurrency import run_in_threadpool

        areas, sources = await _areas_and_sources(conn, results)
        return await run_in_threadpool(_render, results, areas, sources, fmt)

    export.__name__ = f"export_{fmt}"
    return export


SCENARIO_EVALUATION = Process(
    id="scenario-evaluation",
    title="Scenario evaluation",
    description=(
        "Evaluates a stored scenario (/scenarios) against the baseline on the stored travel "
        "times: per mode, population within each band, population-weighted mean and 95th "
        "percentile time to the nearest site, the people who lose or gain access within the "
        "threshold by age band and IMD decile, floor area, running cost and land released and "
        "an estimated receipt. Downloads: f=html or f=pdf (report), f=gpkg, f=csv (zip). "
        "Needs role analyst."
    ),
    inputs=ScenarioEvaluationInputs,
    run=run_scenario_evaluation,
    outputs={
        "summary": {
            "title": "Before/after table (mode, metric, baseline, scenario, change)",
            "schema": {"type": "array", "items": {"type": "object"}},
        },
        "estate": {
            "title": "Estate released and added",
            "schema": {"type": "array", "items": {"type": "object"}},
        },
        "loses": {"title": "People losing access by age and IMD", "schema": {"type": "object"}},
        "gains": {"title": "People gaining access by age and IMD", "schema": {"type": "object"}},
        "detail": {"title": "Per-area before/after and estate sites", "schema": {"type": "object"}},
    },
    role="analyst",
    keywords=("scenario", "access", "estate"),
    precheck=precheck,
    exports={f: _exporter(f) for f in ("html", "pdf", "gpkg", "csv")},
)
