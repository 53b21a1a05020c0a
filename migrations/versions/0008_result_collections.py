"""Feature views for the result layers of the map API: catchments, travel times, hub siting
results and estate assets.

Each view carries the ``restricted`` and ``organisation`` of the row it derives from, so the
API's one access-control filter (:func:`app.auth.visible_sites_clause`) applies unchanged:

- ``catchment_features``: stored catchment bands (``catchments``) with their site's name and
  kind; visible when the site is.
- ``travel_time_features``: one feature per stored area → site time (``travel_times``), with
  the area's polygon (and its stored CRS84 / Web Mercator copies, so items and tiles need no
  transform) and ``minutes``; visible when the site is.
- ``hub_siting_features``: one point per site chosen by a successful ``hub-siting`` job, with
  the job's objective, mode and ``p``, and what the job assigned to that site (areas, demand,
  demand-weighted mean and worst minutes); the point is the job's stored lon/lat, so a result
  outlives later edits of the site. Visible when the job is (a job is public unless its
  organisation kept it restricted).
- ``estate_asset_features``: located sites carrying estate figures (tenure, floor area, land,
  running or backlog cost) with running and backlog cost per m² of floor area.

The response cache of items pages and tiles is keyed by a data version. Until now that was
``data_loads`` (changed by loaders only); result layers change without a load (a job finishes,
catchments are recomputed, an asset is uploaded). ``data_changes`` is now the version: a
statement-level trigger on every table a collection reads inserts one row per writing
transaction (``txid`` unique, so a load of many statements adds one row), and a row trigger on
``jobs`` does so when a job's status or visibility changes (not on progress reports). Rows
become visible with the data they describe, at commit; the version is ``(count, max id)``,
which changes even when transactions commit out of id order.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

CATCHMENT_FEATURES = """
CREATE VIEW catchment_features AS
SELECT c.id, c.site_id, s.name AS site_name, s.kind AS site_kind, c.mode, c.band_min,
       c.population, c.network_load_id, s.restricted, s.organisation, c.geom
FROM catchments AS c
JOIN sites AS s ON s.id = c.site_id
"""

TRAVEL_TIME_FEATURES = """
CREATE VIEW travel_time_features AS
SELECT tt.mode, tt.site_id, tt.area_vintage, tt.area_code, a.name AS area_name,
       s.name AS site_name, s.kind AS site_kind, tt.seconds,
       round((tt.seconds / 60.0)::numeric, 1)::double precision AS minutes,
       tt.network_load_id, s.restricted, s.organisation, a.geom, a.geom_3857, a.geom_4326
FROM travel_times AS tt
JOIN areas AS a ON a.code = tt.area_code AND a.vintage = tt.area_vintage
JOIN sites AS s ON s.id = tt.site_id
"""

HUB_SITING_FEATURES = """
CREATE VIEW hub_siting_features AS
SELECT j.id::text AS job_id,
       e.rank::integer AS rank,
       (e.site->>'site_id')::integer AS site_id,
       e.site->>'name' AS name,
       e.site->>'kind' AS kind,
       coalesce((e.site->>'kept')::boolean, false) AS kept,
       j.inputs->>'objective' AS objective,
       j.inputs->>'mode' AS mode,
       (j.inputs->>'p')::integer AS p,
       a.areas_assigned,
       a.demand_assigned,
       a.mean_minutes,
       a.max_minutes,
       to_char(j.finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS finished_at,
       j.restricted,
       j.organisation,
       ST_Transform(ST_SetSRID(ST_MakePoint((e.site->>'lon')::float8,
                                            (e.site->>'lat')::float8), 4326), 27700) AS geom
FROM jobs AS j
CROSS JOIN LATERAL jsonb_array_elements(j.results->'chosen') WITH ORDINALITY AS e(site, rank)
CROSS JOIN LATERAL (
    SELECT count(*)::integer AS areas_assigned,
           round(sum((x->>'weight')::float8)::numeric, 3)::double precision AS demand_assigned,
           round((sum((x->>'weight')::float8 * (x->>'seconds')::float8)
                  / nullif(sum((x->>'weight')::float8)
                           FILTER (WHERE x->>'seconds' IS NOT NULL), 0)
                  / 60.0)::numeric, 2)::double precision AS mean_minutes,
           round((max((x->>'seconds')::float8) / 60.0)::numeric, 2)::double precision
               AS max_minutes
    FROM jsonb_array_elements(coalesce(j.results->'assignment', '[]'::jsonb)) AS x
    WHERE (x->>'site_id')::integer = (e.site->>'site_id')::integer
) AS a
WHERE j.process_id = 'hub-siting' AND j.status = 'successful'
  AND jsonb_typeof(j.results->'chosen') = 'array'
"""

ESTATE_ASSET_FEATURES = """
CREATE VIEW estate_asset_features AS
SELECT s.id, s.source, s.source_id, s.name, s.kind, s.owner, s.owner_type, s.status, s.tenure,
       s.gia_m2, s.land_ha, s.running_cost_gbp, s.backlog_gbp,
       round((s.running_cost_gbp / nullif(s.gia_m2, 0))::numeric, 2)::double precision
           AS cost_per_m2_gbp,
       round((s.backlog_gbp / nullif(s.gia_m2, 0))::numeric, 2)::double precision
           AS backlog_per_m2_gbp,
       s.postcode, s.restricted, s.organisation, s.geom
FROM sites AS s
WHERE s.geom IS NOT NULL
  AND (s.tenure IS NOT NULL OR s.gia_m2 IS NOT NULL OR s.land_ha IS NOT NULL
       OR s.running_cost_gbp IS NOT NULL OR s.backlog_gbp IS NOT NULL)
"""

VIEWS = {
    "catchment_features": CATCHMENT_FEATURES,
    "travel_time_features": TRAVEL_TIME_FEATURES,
    "hub_siting_features": HUB_SITING_FEATURES,
    "estate_asset_features": ESTATE_ASSET_FEATURES,
}


#: Tables read by a collection (directly or through a view): any write bumps the version.
VERSIONED_TABLES = (
    "data_loads",
    "sites",
    "areas",
    "population",
    "deprivation",
    "postcodes",
    "network_edges",
    "catchments",
    "travel_times",
)

CHANGE_FUNCTIONS = """
CREATE FUNCTION locus_note_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO data_changes (txid) VALUES (txid_current()) ON CONFLICT (txid) DO NOTHING;
    RETURN NULL;
END $$;
"""


def upgrade() -> None:
    for sql in VIEWS.values():
        op.execute(sql)
    # Hub-siting results are read per job; the view filters on these two columns.
    op.execute("CREATE INDEX ix_jobs_process_status ON jobs (process_id, status)")
    op.execute(
        "CREATE TABLE data_changes (id bigserial PRIMARY KEY, txid bigint NOT NULL UNIQUE,"
        " at timestamptz NOT NULL DEFAULT now())"
    )
    op.execute(
        "COMMENT ON TABLE data_changes IS 'One row per transaction that changed data served by "
        "the API: (count, max id) is the response-cache version'"
    )
    op.execute("INSERT INTO data_changes (txid) VALUES (txid_current())")
    op.execute(CHANGE_FUNCTIONS)
    for table in VERSIONED_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_note_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE"
            f" ON {table} FOR EACH STATEMENT EXECUTE FUNCTION locus_note_change()"
        )
    op.execute(
        "CREATE TRIGGER jobs_note_change AFTER UPDATE OF status, restricted ON jobs FOR EACH ROW"
        " WHEN (OLD.status IS DISTINCT FROM NEW.status"
        " OR OLD.restricted IS DISTINCT FROM NEW.restricted)"
        " EXECUTE FUNCTION locus_note_change()"
    )
    op.execute(
        "CREATE TRIGGER jobs_note_delete AFTER DELETE OR TRUNCATE ON jobs"
        " FOR EACH STATEMENT EXECUTE FUNCTION locus_note_change()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS jobs_note_delete ON jobs")
    op.execute("DROP TRIGGER IF EXISTS jobs_note_change ON jobs")
    for table in VERSIONED_TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_note_change ON {table}")
    op.execute("DROP FUNCTION IF EXISTS locus_note_change()")
    op.execute("DROP TABLE IF EXISTS data_changes")
    op.execute("DROP INDEX IF EXISTS ix_jobs_process_status")
    for name in reversed(VIEWS):
        op.execute(f"DROP VIEW IF EXISTS {name}")
