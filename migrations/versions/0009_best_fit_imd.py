"""Best-fit IMD 2019 decile for LSOA 2021 areas whose code has no IMD row of its own.

IMD 2019 is published on LSOA 2011 codes. Until now (0002, 0006) an area got a decile only
where a ``deprivation`` row has its own code, so a 2021 LSOA split from or merged into a 2011
one had none (Rutland: 5 of 26 LSOA 2021 areas, 6,746 of 41,043 people). The ONS "best fit"
rule gives them one: a 2021 LSOA split from a 2011 LSOA lies inside it, a merged one takes
the 2011 LSOA holding its representative point. So:

- ``areas.imd_source_code`` (text): the LSOA 2011 code ``imd_decile`` came from — the area's
  own code when a ``deprivation`` row (domain ``imd``) has it; otherwise, for an LSOA area of
  a vintage after 2011, the LSOA 2011 area that has an ``imd`` row and contains the area's
  ``rep_point`` (a point on its surface, ``shapely.point_on_surface`` at load; the lowest
  code if the point lies on a shared boundary); NULL when neither (MSOAs, no 2011 boundaries
  loaded). Computed by :sql:`locus_area_imd(code, level, vintage, rep_point)` through the GiST
  index on ``areas.geom``. ``areas_features`` and the ``areas`` collection (items, tiles)
  carry it.
- Kept current whatever the load order:

  * a row inserted, or updated in ``code``, ``level``, ``vintage`` or ``rep_point``: the
    BEFORE row trigger ``areas_stats`` (now also ``UPDATE OF level, vintage, rep_point``)
    computes it from ``NEW`` (the row is not in the table yet);
  * ``population`` / ``deprivation`` rows change: the existing statement triggers call
    :sql:`locus_refresh_area_stats(codes)`, which now also recomputes the areas whose
    ``imd_source_code`` is a changed code and, when a changed code has an IMD row (it may be
    a new best fit), every area without a decile of its own;
  * LSOA 2011 areas inserted, deleted or updated (``code``, ``level``, ``vintage``, ``geom``):
    new AFTER statement triggers on ``areas`` call :sql:`locus_refresh_best_fit(codes)` —
    after an insert or update for every area without a decile of its own, after a delete for
    those whose ``imd_source_code`` was deleted. Its UPDATE sets only ``imd_decile`` and
    ``imd_source_code``, which neither the row trigger (``UPDATE OF code, level, vintage,
    rep_point``) nor the update trigger (``UPDATE OF code, level, vintage, geom``) lists, so a
    refresh cannot fire a refresh.

  "Without a decile of its own" is ``imd_source_code IS DISTINCT FROM code`` on an LSOA area
  after 2011: 1,945 of England's 33,755 LSOA 2021 codes are not 2011 codes, so a refresh
  computes at most that many points in polygons (each a GiST probe), whatever the load.
  Refreshes are plpgsql: the rows to recompute are a restriction on the scanned ``areas``
  (``id = ANY(ids)``), never a join the planner could order after the per-row functions —
  which also removes 0006's linear ``code = ANY(codes)`` scan of every area per statement.

Measured on the Rutland bundle (26 LSOA 2021 + 23 LSOA 2011 + 5 MSOA areas, medians of 20):
``locus_refresh_best_fit(NULL)`` 0.6 ms (1.3 ms when the five deciles are missing),
``locus_refresh_area_stats(NULL)`` 4.3 ms (5.0 ms), one IMD code changed 1.9 ms; deleting
the 23 LSOA 2011 areas 1.6 ms, inserting them back (the five deciles return) 15.5 ms.
At England scale, measured on a synthetic grid of 1,296 copies of Rutland (33,696 LSOA 2021
areas of which 6,480 best fit, 29,808 LSOA 2011): a full best-fit refresh 1.6 s; loading the
2011 areas after the 2021 ones 17.9 s (0008: 15.0 s); IMD rows 20.0 s (0008: 41.0 s);
population rows 24.4 s (0008: 47.1 s); one IMD row changed 1.2 s (0008: 0.3 s); deleting
every LSOA 2011 area 2.4 s (0008: 1.6 s).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

#: The LSOA vintage IMD 2019 is published on.
IMD_VINTAGE = 2011

#: An LSOA area of a later vintage whose decile is not by its own code.
_BEST_FIT_ROW = (
    "{a}.level = 'lsoa' AND {a}.vintage > " + str(IMD_VINTAGE) + " AND {a}.imd_source_code "
    "IS DISTINCT FROM {a}.code"
)

AREA_IMD_FUNCTION = f"""
CREATE FUNCTION locus_area_imd(p_code text, p_level text, p_vintage integer, p_point geometry,
    OUT imd_decile integer, OUT imd_source_code text)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    -- By its own code (the 0006 rule).
    SELECT d.decile, d.area_code INTO imd_decile, imd_source_code
      FROM deprivation AS d
     WHERE d.area_code = p_code AND d.domain = 'imd'
     ORDER BY d.vintage DESC, d.id DESC LIMIT 1;
    IF FOUND OR p_level <> 'lsoa' OR p_vintage <= {IMD_VINTAGE} OR p_point IS NULL THEN
        RETURN;
    END IF;
    -- Best fit: the LSOA {IMD_VINTAGE} area with an IMD row that contains the point.
    SELECT x.decile, o.code INTO imd_decile, imd_source_code
      FROM areas AS o
      CROSS JOIN LATERAL (
          SELECT d.decile FROM deprivation AS d
           WHERE d.area_code = o.code AND d.domain = 'imd'
           ORDER BY d.vintage DESC, d.id DESC LIMIT 1) AS x
     WHERE o.level = 'lsoa' AND o.vintage = {IMD_VINTAGE} AND ST_Intersects(o.geom, p_point)
     ORDER BY o.code LIMIT 1;
END $$;
"""

#: Recompute the stored statistics of areas passing ``{where}`` (a restriction on ``b``
#: alone, so it filters the scan before any function runs); write only rows that change.
_SET_STATS = """
        UPDATE areas AS a
           SET population = s.population, pop_65_plus = s.pop_65_plus,
               imd_decile = i.imd_decile, imd_source_code = i.imd_source_code
          FROM areas AS b
          CROSS JOIN LATERAL locus_area_stats(b.code) AS s
          CROSS JOIN LATERAL locus_area_imd(b.code, b.level, b.vintage, b.rep_point) AS i
         WHERE a.id = b.id AND {where}
           AND (a.population, a.pop_65_plus, a.imd_decile, a.imd_source_code)
               IS DISTINCT FROM (s.population, s.pop_65_plus, i.imd_decile, i.imd_source_code)"""

#: The same for the IMD columns of the rows without a decile of their own.
_SET_BEST_FIT = f"""
        UPDATE areas AS a
           SET imd_decile = i.imd_decile, imd_source_code = i.imd_source_code
          FROM areas AS b
          CROSS JOIN LATERAL locus_area_imd(b.code, b.level, b.vintage, b.rep_point) AS i
         WHERE a.id = b.id AND {_BEST_FIT_ROW.format(a="b")} AND {{where}}
           AND (a.imd_decile, a.imd_source_code) IS DISTINCT FROM (i.imd_decile, i.imd_source_code)"""

FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION locus_areas_stats_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT s.population, s.pop_65_plus INTO NEW.population, NEW.pop_65_plus
      FROM locus_area_stats(NEW.code) AS s;
    SELECT i.imd_decile, i.imd_source_code INTO NEW.imd_decile, NEW.imd_source_code
      FROM locus_area_imd(NEW.code, NEW.level, NEW.vintage, NEW.rep_point) AS i;
    RETURN NEW;
END $$;

-- Population and IMD rows of ``codes`` (NULL: any) changed: refresh the areas of those codes,
-- the areas whose best fit is one of them and, when one of them has an IMD row (a possible
-- new best fit), every area without a decile of its own.
CREATE OR REPLACE FUNCTION locus_refresh_area_stats(codes text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    ids integer[];
BEGIN
    IF codes IS NULL THEN
{_SET_STATS.format(where="true")};
        RETURN;
    END IF;
    ids := ARRAY(
        SELECT b.id FROM areas AS b WHERE b.code = ANY(codes)
        UNION
        SELECT b.id FROM areas AS b WHERE b.imd_source_code = ANY(codes)
        UNION
        SELECT b.id FROM areas AS b
         WHERE {_BEST_FIT_ROW.format(a="b")}
           AND EXISTS (SELECT 1 FROM deprivation AS d
                        WHERE d.area_code = ANY(codes) AND d.domain = 'imd'));
{_SET_STATS.format(where="b.id = ANY(ids)")};
END $$;

-- The best-fit decile of the areas without a decile of their own whose current
-- ``imd_source_code`` is one of ``source_codes`` (NULL: all of them).
CREATE FUNCTION locus_refresh_best_fit(source_codes text[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF source_codes IS NULL THEN
{_SET_BEST_FIT.format(where="true")};
    ELSE
{_SET_BEST_FIT.format(where="b.imd_source_code = ANY(source_codes)")};
    END IF;
END $$;

CREATE FUNCTION locus_best_fit_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_rows AS n
                WHERE n.level = 'lsoa' AND n.vintage = {IMD_VINTAGE}) THEN
        PERFORM locus_refresh_best_fit(NULL);
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION locus_best_fit_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    codes text[] := ARRAY(SELECT DISTINCT o.code FROM old_rows AS o
                           WHERE o.level = 'lsoa' AND o.vintage = {IMD_VINTAGE});
BEGIN
    IF cardinality(codes) > 0 THEN
        PERFORM locus_refresh_best_fit(codes);
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION locus_best_fit_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM locus_refresh_best_fit(NULL);
    RETURN NULL;
END $$;
"""

#: The 0006 definitions this revision replaces, restored by the downgrade.
FUNCTIONS_0006 = """
CREATE OR REPLACE FUNCTION locus_areas_stats_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT s.population, s.pop_65_plus, s.imd_decile
      INTO NEW.population, NEW.pop_65_plus, NEW.imd_decile
      FROM locus_area_stats(NEW.code) AS s;
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION locus_refresh_area_stats(codes text[]) RETURNS void
LANGUAGE sql AS $$
    UPDATE areas AS a
       SET population = s.population, pop_65_plus = s.pop_65_plus, imd_decile = s.imd_decile
      FROM areas AS b CROSS JOIN LATERAL locus_area_stats(b.code) AS s
     WHERE a.id = b.id AND (codes IS NULL OR b.code = ANY(codes))
       AND (a.population, a.pop_65_plus, a.imd_decile)
           IS DISTINCT FROM (s.population, s.pop_65_plus, s.imd_decile)
$$;
"""

_NEW_FUNCTIONS = (
    "locus_best_fit_updated()",
    "locus_best_fit_deleted()",
    "locus_best_fit_inserted()",
    "locus_refresh_best_fit(text[])",
    "locus_area_imd(text, text, integer, geometry)",
)

_TRIGGERS = {
    "areas_best_fit_ins": "AFTER INSERT ON areas REFERENCING NEW TABLE AS new_rows"
    " FOR EACH STATEMENT EXECUTE FUNCTION locus_best_fit_inserted()",
    "areas_best_fit_del": "AFTER DELETE ON areas REFERENCING OLD TABLE AS old_rows"
    " FOR EACH STATEMENT EXECUTE FUNCTION locus_best_fit_deleted()",
    # A column list, so the refresh's own UPDATE (imd_decile, imd_source_code) never fires it.
    "areas_best_fit_upd": "AFTER UPDATE OF code, level, vintage, geom ON areas"
    " FOR EACH STATEMENT EXECUTE FUNCTION locus_best_fit_updated()",
}

_ROW_TRIGGER = (
    "CREATE TRIGGER areas_stats BEFORE INSERT OR UPDATE OF {columns} ON areas"
    " FOR EACH ROW EXECUTE FUNCTION locus_areas_stats_row()"
)

_VIEW_COLUMNS_0006 = (
    "a.population, a.pop_65_plus, a.imd_decile, a.geom, a.rep_point, a.geom_3857, a.geom_4326"
)


def _view(columns: str, *, replace: bool) -> str:
    return f"""
CREATE {"OR REPLACE " if replace else ""}VIEW areas_features AS
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
    op.execute("ALTER TABLE areas ADD COLUMN imd_source_code text")
    op.execute(
        "COMMENT ON COLUMN areas.imd_source_code IS 'LSOA 2011 code imd_decile came from: the "
        "own code, or the best-fit LSOA 2011 holding rep_point; NULL when none'"
    )
    op.execute("CREATE INDEX ix_areas_imd_source_code ON areas (imd_source_code)")
    op.execute(AREA_IMD_FUNCTION)
    op.execute(FUNCTIONS)
    op.execute("DROP TRIGGER areas_stats ON areas")
    op.execute(_ROW_TRIGGER.format(columns="code, level, vintage, rep_point"))
    for name, definition in _TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {definition}")
    op.execute("SELECT locus_refresh_area_stats(NULL)")
    # New column last (CREATE OR REPLACE VIEW may only append).
    op.execute(_view(f"{_VIEW_COLUMNS_0006}, a.imd_source_code", replace=True))


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS areas_features")
    for name in _TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON areas")
    op.execute("DROP TRIGGER IF EXISTS areas_stats ON areas")
    op.execute(FUNCTIONS_0006)
    for fn in _NEW_FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {fn}")
    op.execute(_ROW_TRIGGER.format(columns="code"))
    op.execute("ALTER TABLE areas DROP COLUMN imd_source_code")
    # Deciles by own code only again (best-fit ones go back to NULL).
    op.execute("SELECT locus_refresh_area_stats(NULL)")
    op.execute(_view(_VIEW_COLUMNS_0006, replace=False))
    op.execute(
        "COMMENT ON VIEW areas_features IS "
        "'Areas with population (latest source), pop_65_plus and IMD decile, for the map API'"
    )
