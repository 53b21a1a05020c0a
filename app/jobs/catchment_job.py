"""The ``catchments`` process: compute catchment bands of many sites and store them.

Sites are chosen by id (``site_ids``) or by kind (``kinds``, default GP practices): active,
located sites the job's organisation may see (restricted sites of other organisations are
never used). For each mode and site, the bands are computed exactly as
``GET /analysis/catchment/{site_id}`` computes them (:func:`app.services.analysis.catchment_bands`:
isochrone polygons on the mode's network, or on the GTFS timetable for transit; population by
representative point). The network (or feed) is loaded once per mode and reused for every
site.

Population counts come from the stored area → site ``travel_times`` of the mode, as for the
endpoint, when they were computed on the same network load (feed) as the polygons; for a site
without such rows (added since, or stale) the times are computed now on that network, so a
stored band never mixes two networks. The results say which sites used which.

Writing is atomic: rows are staged per site in a temporary table and, at the end, one
transaction replaces every chosen site's rows of every chosen mode (old bands removed, new
bands inserted, ``ST_Multi`` of the EPSG:27700 polygon, ``population`` the band's total,
``network_load_id`` the network or GTFS feed load used). A site beyond the snap distance of a
mode's network has no catchment by that mode: it is listed under ``skipped`` with the reason
and its old rows of that mode are removed (they describe data that no longer holds). A failed
or dismissed job changes nothing. Stored bands are served as the OGC API collection
``catchments``.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import numpy as np
import pandas as pd
from psycopg import AsyncConnection
from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.errors import InvalidParameter
from app.jobs.registry import Process, ProcessError, RunContext, SiteKind
from app.services import analysis
from app.services.analysis import SiteCatchment
from app.services.areas import area_table
from app.services.sources import NoNetworkError, TravelTimeSource
from app.services.traveltimes import travel_time_source
from spatial.modes import Mode
from store import results as store
from store.access import Principal
from store.connection import Database
from store.results import CatchmentStage, StagedBand

AREA_VINTAGE = 2021
MAX_SITE_IDS = 500
MAX_BANDS = 8
#: Sites whose area times are held at once (areas × sites floats: 35k LSOAs × 200 ≈ 56 MB).
SITES_PER_CHUNK = 200
DEFAULT_BANDS = (5, 10, 15, 20, 30)
DEFAULT_KINDS = ("gp_practice",)
COLLECTION = "catchments"

Band = Annotated[int, Field(ge=1, le=120)]


class CatchmentInputs(BaseModel):
    """Inputs of ``catchments`` (schema published at ``/processes/catchments``)."""

    model_config = ConfigDict(extra="forbid")

    site_ids: list[int] | None = Field(
        None,
        min_length=1,
        max_length=MAX_SITE_IDS,
        description=f"ids of the sites to compute (at most {MAX_SITE_IDS}); instead of kinds",
    )
    kinds: list[SiteKind] | None = Field(
        None,
        min_length=1,
        max_length=20,
        description=(
            "site kinds whose active located sites are computed, when no site_ids are given "
            f"(default {list(DEFAULT_KINDS)})"
        ),
    )
    modes: list[Mode] = Field(
        default_factory=lambda: list[Mode](["drive"]),
        min_length=1,
        max_length=4,
        description="travel modes: drive, walk, cycle, transit (each needs its data loaded)",
    )
    bands: list[Band] = Field(
        default_factory=lambda: list(DEFAULT_BANDS),
        min_length=1,
        max_length=MAX_BANDS,
        description=f"band limits in whole minutes, 1 to 120, at most {MAX_BANDS}",
    )

    @property
    def site_kinds(self) -> list[str]:
        """The kinds that select the sites (when no ``site_ids``)."""
        return list(self.kinds) if self.kinds is not None else list(DEFAULT_KINDS)

    @field_validator("site_ids", "modes", "bands")
    @classmethod
    def _distinct(cls, value: list[Any] | None) -> list[Any] | None:
        """Duplicates dropped; ids and bands sorted, modes in the order given."""
        if not value:
            return value
        distinct = list(dict.fromkeys(value))
        return sorted(distinct) if isinstance(distinct[0], int) else distinct


def _check_static(inputs: CatchmentInputs) -> None:
    if inputs.site_ids is not None and inputs.kinds is not None:
        raise InvalidParameter(
            "give either site_ids or kinds, not both (site_ids selects the sites)",
            parameter="kinds",
        )


def _selection(inputs: CatchmentInputs) -> dict[str, Any]:
    """The site selection as keyword arguments of :mod:`store.results`: ids, else kinds."""
    if inputs.site_ids is not None:
        return {"site_ids": inputs.site_ids}
    return {"kinds": inputs.site_kinds}


def _missing_message(inputs: CatchmentInputs, found: set[int]) -> str | None:
    """Why the selection is unusable (ids not visible, kinds without sites), or None."""
    if inputs.site_ids is not None:
        missing = [i for i in inputs.site_ids if i not in found]
        if missing:
            shown = ", ".join(str(i) for i in missing[:10])
            more = f" (and {len(missing) - 10} more)" if len(missing) > 10 else ""
            return (
                f"site id(s) {shown}{more}: no active, located site with that id that this "
                "organisation may see"
            )
        return None
    if not found:
        return (
            f"no active, located sites of kind(s) {inputs.site_kinds} that this organisation "
            "may see"
        )
    return None


def _no_data_message(mode: str) -> str:
    if mode == "transit":
        return (
            "mode 'transit' needs a GTFS feed and none is loaded: run `locus load gtfs <feed.zip>`"
        )
    return (
        f"mode {mode!r} has no {mode} network loaded: run "
        "`locus load osm-network <extract.osm.pbf>`"
    )


async def precheck(conn: AsyncConnection[Any], inputs: Any, principal: Principal) -> None:
    """Check the sites and modes against the data the caller can see (400 naming the input)."""
    assert isinstance(inputs, CatchmentInputs)
    _check_static(inputs)
    found = await store.catchment_site_ids(conn, principal, **_selection(inputs))
    message = _missing_message(inputs, found)
    if message is not None:
        raise InvalidParameter(message, parameter="site_ids" if inputs.site_ids else "kinds")
    for mode in inputs.modes:
        if not await store.mode_data_loaded(conn, mode):
            raise InvalidParameter(_no_data_message(mode), parameter="modes")


def _stored_seconds(
    db: Database,
    principal: Principal,
    *,
    mode: Mode,
    load_id: int,
    codes: pd.Series[Any],
    site_ids: list[int],
) -> tuple[np.ndarray[Any, Any], set[int]]:
    """Stored times computed on ``load_id``: areas × sites seconds (NaN where none), and the
    sites that have any such row."""
    with db.connection() as conn:
        rows = store.stored_seconds(
            conn,
            principal,
            mode=mode,
            area_vintage=AREA_VINTAGE,
            load_id=load_id,
            site_ids=site_ids,
        )
    out = np.full((len(codes), len(site_ids)), np.nan)
    row_of = pd.Series(np.arange(len(codes)), index=codes.to_numpy())
    col_of = pd.Series(np.arange(len(site_ids)), index=site_ids)
    rows = rows[rows["area_code"].isin(row_of.index)]
    out[row_of.loc[rows["area_code"]].to_numpy(), col_of.loc[rows["site_id"]].to_numpy()] = rows[
        "seconds"
    ].to_numpy(dtype=float)
    return out, {int(s) for s in rows["site_id"].unique()}


def _area_seconds(
    ctx: RunContext,
    mode: Mode,
    source: TravelTimeSource,
    areas: pd.DataFrame,
    chunk: pd.DataFrame,
    *,
    percent: float,
) -> tuple[np.ndarray[Any, Any], int]:
    """Seconds by ``mode`` from every area to each site of ``chunk`` (areas × sites) on
    ``source``'s load.

    Stored times where the site has rows computed on that load; otherwise computed now (the
    count of those sites is returned too).
    """
    ids = [int(i) for i in chunk["id"]]
    seconds, stored = _stored_seconds(
        ctx.db,
        ctx.principal,
        mode=mode,
        load_id=source.load_id,
        codes=areas["code"],
        site_ids=ids,
    )
    missing = [j for j, sid in enumerate(ids) if sid not in stored]
    if missing:
        ctx.progress(
            percent,
            f"{mode}: computing area times to {len(missing)} site(s) without stored times",
            force=True,
        )
        seconds[:, missing] = analysis.area_seconds_on_network(source, areas, chunk.iloc[missing])
    return seconds, len(missing)


def _stage_bands(stage: CatchmentStage, mode: Mode, site_id: int, result: SiteCatchment) -> int:
    """Stage one site's bands (EPSG:27700 polygons); returns how many."""
    return stage.add(
        site_id=site_id,
        mode=mode,
        network_load_id=result.load_id,
        bands=[
            StagedBand(
                band_min=int(band.band_min),
                population=float(band.population["population"]),
                wkb=band.multipolygon.wkb,
            )
            for band in result.bands
        ],
    )


def run_catchments(ctx: RunContext, inputs: CatchmentInputs) -> dict[str, Any]:
    """Compute the bands of every chosen site by every mode; replace their stored rows."""
    started = time.perf_counter()
    _check_static(inputs)
    ctx.progress(1, "selecting sites", force=True)
    with ctx.db.connection() as conn:
        sites = store.catchment_sites(conn, ctx.principal, **_selection(inputs))
        areas = area_table(conn, vintage=AREA_VINTAGE)
    message = _missing_message(inputs, {int(i) for i in sites["id"]})
    if message is not None:
        raise ProcessError(message)
    site_ids = [int(i) for i in sites["id"]]
    site_rows: list[Any] = list(sites.itertuples(index=False))
    bands = list(inputs.bands)
    total = len(sites) * len(inputs.modes)
    per_mode: dict[str, dict[str, Any]] = {}
    skipped: list[dict[str, Any]] = []
    done = 0
    with store.catchment_stage(ctx.db, ctx.principal) as stage:
        for mode in inputs.modes:
            ctx.progress(
                2 + 95 * done / total,
                f"{mode}: loading the {'timetable' if mode == 'transit' else 'network'}",
                force=True,
            )
            try:
                source = travel_time_source(ctx.db, ctx.settings, mode)
            except NoNetworkError as exc:
                detail = str(exc) if mode == "transit" else f"mode {mode!r}: {exc}"
                raise ProcessError(detail) from None
            written = 0
            computed_now = 0
            for start in range(0, len(sites), SITES_PER_CHUNK):
                chunk = sites.iloc[start : start + SITES_PER_CHUNK]
                seconds, n_computed = _area_seconds(
                    ctx, mode, source, areas, chunk, percent=2 + 95 * done / total
                )
                computed_now += n_computed
                for j, site in enumerate(site_rows[start : start + SITES_PER_CHUNK]):
                    ctx.progress(
                        2 + 95 * done / total,
                        f"{mode}: site {start + j + 1} of {len(sites)} ({site.name})",
                    )
                    result = analysis.catchment_bands(
                        source, site, areas, seconds[:, j], bands_min=bands
                    )
                    done += 1
                    if not result.reachable:
                        skipped.append(
                            {
                                "site_id": int(site.id),
                                "name": site.name,
                                "mode": mode,
                                "reason": result.detail,
                            }
                        )
                        continue
                    written += _stage_bands(stage, mode, int(site.id), result)
            per_mode[mode] = {
                "sites": len(sites) - sum(1 for s in skipped if s["mode"] == mode),
                "bands_written": written,
                "network_load_id": source.load_id,
                "population_times": {
                    "stored": len(sites) - computed_now,
                    "computed_now": computed_now,
                },
                "metadata": _jsonable(source.metadata),
            }
        ctx.progress(98, "writing the catchments", force=True)
        removed, inserted = stage.replace(site_ids=site_ids, modes=list(inputs.modes))
    seconds_taken = round(time.perf_counter() - started, 3)
    return {
        "modes": per_mode,
        "sites": len(sites),
        "bands_min": bands,
        "rows_written": inserted,
        "rows_removed": removed,
        "skipped": skipped,
        "seconds": seconds_taken,
        "summary": {
            "collection": COLLECTION,
            "links": [
                {
                    "rel": "items",
                    "type": "application/geo+json",
                    "title": f"stored {mode} catchment bands",
                    "href": f"/collections/{COLLECTION}/items?mode={mode}",
                }
                for mode in inputs.modes
            ],
            "site_ids": site_ids,
            "modes": list(inputs.modes),
            "bands_min": bands,
            "text": (
                f"{inserted} catchment bands of {len(sites)} site(s) by "
                f"{', '.join(inputs.modes)} ({', '.join(str(b) for b in bands)} min) stored in "
                f"{seconds_taken:.1f} s; {len(skipped)} skipped"
            ),
        },
        "parameters": {**inputs.model_dump(), "area_vintage": AREA_VINTAGE},
    }


def _jsonable(value: Any) -> Any:
    """Metadata as JSON values (numpy scalars to Python)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


CATCHMENTS = Process(
    id="catchments",
    title="Recompute stored catchments",
    description=(
        "Computes the catchment bands of many sites (by site_ids, or every active located "
        "site of some kinds; default GP practices) by drive, walk, cycle or transit, as "
        "/analysis/catchment/{site_id} does: isochrone polygons and the population whose "
        "area's representative point is within each band. Replaces the stored rows of those "
        "sites and modes in one transaction, with the network (or GTFS feed) load used. "
        f"Stored catchments are served as the OGC API collection '{COLLECTION}'. Needs role "
        "analyst; restricted sites are used only for their own organisation."
    ),
    inputs=CatchmentInputs,
    run=run_catchments,
    outputs={
        "modes": {
            "title": "Per mode: sites computed, bands written, network load, times used",
            "schema": {"type": "object"},
        },
        "skipped": {
            "title": "Sites skipped (site_id, name, mode, reason)",
            "schema": {"type": "array", "items": {"type": "object"}},
        },
        "rows_written": {"title": "Catchment rows stored", "schema": {"type": "integer"}},
        "seconds": {"title": "Seconds taken", "schema": {"type": "number"}},
        "summary": {
            "title": f"Summary with the collection ('{COLLECTION}') the bands are served in",
            "schema": {"type": "object"},
        },
    },
    role="analyst",
    keywords=("catchments", "isochrones", "population"),
    precheck=precheck,
)
