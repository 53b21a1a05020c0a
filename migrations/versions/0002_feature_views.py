"""Feature views for the map API: areas with population, people aged 65+ and IMD decile.

``areas_features`` is a plain view (always current after any load, nothing to refresh).
Population, 65+ and IMD are scalar subqueries in the select list: PostgreSQL drops them when
a query does not read those columns (extents, counts), and evaluates them per returned row
through the ``area_code`` indexes otherwise, so a bbox on the view still uses the GiST index
on ``areas.geom``.

- population: the rows of the latest source for the area code (latest ``reference_date``,
  then source name); ``sex = 'all'`` rows when that source has them, else female + male.
- pop_65_plus: the same rows with ``age_lower >= 65``; NULL when the source's age bands do
  not split at 65 (e.g. all-ages estimates).
- imd_decile: deprivation domain ``imd`` by the same code (LSOA 2011 codes; a 2021 area gets
  a decile only where its code equals a 2011 code).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_LATEST_POPULATION = """
    SELECT p.count, p.age_lower, p.age_upper,
           rank() OVER (ORDER BY p.reference_date DESC, p.source, p.sex <> 'all') AS rk
    FROM population AS p
    WHERE p.area_code = a.code
"""

AREAS_FEATURES = f"""
CREATE VIEW areas_features AS
SELECT
    a.id,
    a.code,
    a.name,
    a.level,
    a.vintage,
    a.lad_code,
    (SELECT sum(x.count) FROM ({_LATEST_POPULATION}) AS x WHERE x.rk = 1) AS population,
    (SELECT CASE WHEN bool_and(x.age_lower >= 65 OR x.age_upper <= 65)
                 THEN coalesce(sum(x.count) FILTER (WHERE x.age_lower >= 65), 0) END
       FROM ({_LATEST_POPULATION}) AS x WHERE x.rk = 1) AS pop_65_plus,
    (SELECT d.decile FROM deprivation AS d
      WHERE d.area_code = a.code AND d.domain = 'imd'
      ORDER BY d.vintage DESC, d.id DESC LIMIT 1) AS imd_decile,
    a.geom,
    a.rep_point
FROM areas AS a
"""


def upgrade() -> None:
    op.execute(AREAS_FEATURES)
    op.execute(
        "COMMENT ON VIEW areas_features IS "
        "'Areas with population (latest source), pop_65_plus and IMD decile, for the map API'"
    )


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS areas_features")
