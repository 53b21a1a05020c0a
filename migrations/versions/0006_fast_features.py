"""Fast features for the map API: projected geometry and area statistics stored, not computed.

Measured on the Rutland bundle (bench/api_load.py): per request, ``ST_Transform`` of the
stored BNG geometry was most of the cost of an areas page or tile (54 areas, 8,000 vertices:
~20 ms to Web Mercator, ~15 ms to CRS84) and of a network tile (~8,000 edges at zoom 11:
~110 ms), and the three scalar subqueries per area of ``areas_features`` another ~5 ms a page.

- ``geom_3857`` (tiles) and ``geom_4326`` (GeoJSON in CRS84, the default output) on ``areas``
  and ``network_edges``: STORED generated columns, ``ST_Transform(geom, ...)``, so every
  insert or update computes them; no loader change. ``geom_3857`` has a GiST index (the tile
  search box is a Web Mercator envelope, no transform per request).
- ``population``, ``pop_65_plus``, ``imd_decile`` on ``areas``: the exact expressions of
  the 0002 view, now in :sql:`locus_area_stats(code)`, kept current by triggers:
  a BEFORE INSERT / UPDATE OF code row trigger on ``areas``; AFTER INSERT / UPDATE / DELETE
  statement triggers (transition tables: one UPDATE for the codes touched) and AFTER TRUNCATE
  (everything) on ``population`` and ``deprivation``. The view ``areas_features`` reads the
  columns, so it stays "always current after any load, nothing to refresh".

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_LATEST_POPULATION = """
    SELECT p.count, p.age_lower, p.age_upper,
           rank() OVER (ORDER BY p.reference_date DESC, p.source, p.sex <> 'all') AS rk
    FROM population AS p
    WHERE p.area_code = $1
"""

STATS_FUNCTION = f"""
CREATE FUNCTION locus_area_stats(text,
    OUT population double precision, OUT pop_65_plus double precision, OUT imd_decile integer)
LANGUAGE sql STABLE AS $$
SELECT
    (SELECT sum(x.count) FROM ({_LATEST_POPULATION}) AS x WHERE x.rk = 1),
    (SELECT CASE WHEN bool_and(x.age_lower >= 65 OR x.age_upper <= 65)
                 THEN coalesce(sum(x.count) FILTER (WHERE x.age_lower >= 65), 0) END
       FROM ({_LATEST_POPULATION}) AS x WHERE x.rk = 1),
    (SELECT d.decile FROM deprivation AS d
      WHERE d.area_code = $1 AND d.domain = 'imd'
      ORDER BY d.vintage DESC, d.id DESC LIMIT 1)
$$
"""

TRIGGER_FUNCTIONS = """
CREATE FUNCTION locus_areas_stats_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT s.population, s.pop_65_plus, s.imd_decile
      INTO NEW.population, NEW.pop_65_plus, NEW.imd_decile
      FROM locus_area_stats(NEW.code) AS s;
    RETURN NEW;
END $$;

CREATE FUNCTION locus_refresh_area_stats(codes text[]) RETURNS void LANGUAGE sql AS $$
    UPDATE areas AS a
       SET population = s.population, pop_65_plus = s.pop_65_plus, imd_decile = s.imd_decile
      FROM areas AS b CROSS JOIN LATERAL locus_area_stats(b.code) AS s
     WHERE a.id = b.id AND (codes IS NULL OR b.code = ANY(codes))
       AND (a.population, a.pop_65_plus, a.imd_decile)
           IS DISTINCT FROM (s.population, s.pop_65_plus, s.imd_decile)
$$;

CREATE FUNCTION locus_stats_changed_new() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM locus_refresh_area_stats(ARRAY(SELECT DISTINCT area_code FROM new_rows));
    RETURN NULL;
END $$;

CREATE FUNCTION locus_stats_changed_old() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM locus_refresh_area_stats(ARRAY(SELECT DISTINCT area_code FROM old_rows));
    RETURN NULL;
END $$;

CREATE FUNCTION locus_stats_changed_both() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM locus_refresh_area_stats(ARRAY(
        SELECT area_code FROM old_rows UNION SELECT area_code FROM new_rows));
    RETURN NULL;
END $$;

CREATE FUNCTION locus_stats_changed_all() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM locus_refresh_area_stats(NULL);
    RETURN NULL;
END $$;
"""

_STATS_TABLES = ("population", "deprivation")

#: The 0002 view (scalar subqueries per row), restored by the downgrade.
_AREAS_FEATURES_0002 = f"""
CREATE VIEW areas_features AS
SELECT
    a.id,
    a.code,
    a.name,
    a.level,
    a.vintage,
    a.lad_code,
    (SELECT sum(x.count) FROM ({_LATEST_POPULATION.replace("$1", "a.code")}) AS x
      WHERE x.rk = 1) AS population,
    (SELECT CASE WHEN bool_and(x.age_lower >= 65 OR x.age_upper <= 65)
                 THEN coalesce(sum(x.count) FILTER (WHERE x.age_lower >= 65), 0) END
       FROM ({_LATEST_POPULATION.replace("$1", "a.code")}) AS x WHERE x.rk = 1) AS pop_65_plus,
    (SELECT d.decile FROM deprivation AS d
      WHERE d.area_code = a.code AND d.domain = 'imd'
      ORDER BY d.vintage DESC, d.id DESC LIMIT 1) AS imd_decile,
    a.geom,
    a.rep_point
FROM areas AS a
"""


def _view(columns: str) -> str:
    return f"""
CREATE OR REPLACE VIEW areas_features AS
SELECT
    a.id,
    a.code,
    a.name,
    a.level,
    a.vintage,
    a.lad_code,
    {columns}
FROM areas AS a
"""


def upgrade() -> None:
    for table in ("areas", "network_edges"):
        op.execute(
            f"ALTER TABLE {table}"
            " ADD COLUMN geom_3857 geometry GENERATED ALWAYS AS (ST_Transform(geom, 3857)) STORED,"
            " ADD COLUMN geom_4326 geometry GENERATED ALWAYS AS (ST_Transform(geom, 4326)) STORED"
        )
        op.execute(f"CREATE INDEX ix_{table}_geom_3857 ON {table} USING gist (geom_3857)")
    op.execute(
        "ALTER TABLE areas ADD COLUMN population double precision,"
        " ADD COLUMN pop_65_plus double precision, ADD COLUMN imd_decile integer"
    )
    op.execute(STATS_FUNCTION)
    op.execute(TRIGGER_FUNCTIONS)
    op.execute(
        "CREATE TRIGGER areas_stats BEFORE INSERT OR UPDATE OF code ON areas"
        " FOR EACH ROW EXECUTE FUNCTION locus_areas_stats_row()"
    )
    for table in _STATS_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_stats_ins AFTER INSERT ON {table}"
            " REFERENCING NEW TABLE AS new_rows"
            " FOR EACH STATEMENT EXECUTE FUNCTION locus_stats_changed_new()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_stats_upd AFTER UPDATE ON {table}"
            " REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"
            " FOR EACH STATEMENT EXECUTE FUNCTION locus_stats_changed_both()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_stats_del AFTER DELETE ON {table}"
            " REFERENCING OLD TABLE AS old_rows"
            " FOR EACH STATEMENT EXECUTE FUNCTION locus_stats_changed_old()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_stats_trunc AFTER TRUNCATE ON {table}"
            " FOR EACH STATEMENT EXECUTE FUNCTION locus_stats_changed_all()"
        )
    op.execute("SELECT locus_refresh_area_stats(NULL)")
    # New columns go last (CREATE OR REPLACE VIEW may only append).
    op.execute(
        _view(
            "a.population, a.pop_65_plus, a.imd_decile, a.geom, a.rep_point,"
            " a.geom_3857, a.geom_4326"
        )
    )


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS areas_features")
    op.execute(_AREAS_FEATURES_0002)
    for table in _STATS_TABLES:
        for suffix in ("ins", "upd", "del", "trunc"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_stats_{suffix} ON {table}")
    op.execute("DROP TRIGGER IF EXISTS areas_stats ON areas")
    for fn in (
        "locus_stats_changed_all()",
        "locus_stats_changed_both()",
        "locus_stats_changed_old()",
        "locus_stats_changed_new()",
        "locus_refresh_area_stats(text[])",
        "locus_areas_stats_row()",
        "locus_area_stats(text)",
    ):
        op.execute(f"DROP FUNCTION IF EXISTS {fn}")
    op.execute(
        "ALTER TABLE areas DROP COLUMN population, DROP COLUMN pop_65_plus, DROP COLUMN imd_decile"
    )
    for table in ("areas", "network_edges"):
        op.execute(f"DROP INDEX IF EXISTS ix_{table}_geom_3857")
        op.execute(f"ALTER TABLE {table} DROP COLUMN geom_3857, DROP COLUMN geom_4326")
