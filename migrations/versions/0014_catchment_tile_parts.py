"""Generalised tile parts of stored catchments: tiles read a small piece, never a whole band.

Issue 17: after three ordinary ``catchments`` jobs (856 bands, 11.1 million vertices, raster
contours with many holes) a tile of the layer took 10 s and the all-layer tile at zoom 10 hit
the 15 s statement timeout. Every tile transformed whole bands to Web Mercator and clipped
them, so its cost grew with everything stored, however small the tile's share.

``catchment_tile_parts`` holds, for each band and each zoom ``z`` from 0 to 14, the band's
piece inside each WebMercatorQuad tile ``z/x/y`` it touches (with the tiles' 64/4096
buffer), simplified to one screen pixel at that zoom (``ST_Simplify``, tolerance ``tile width
/ 512`` Web Mercator metres: MapLibre draws a tile over 512 pixels; rings that collapse at
that size, specks and small holes, are dropped) and stored as ``ST_AsMVTGeom`` makes it: in
tile coordinates (0-4096, y down), clipped, snapped and validated. A tile at zoom ``z <= 14``
reads, by index, one finished piece per band and only encodes it (``ST_AsMVT``); validating
polygons with many holes was most of a tile's cost (~2.8 µs a vertex), now paid once when the
bands are stored. Deeper tiles read the piece of their zoom-14 ancestor (a tile unit there is
0.6 m; tolerance 4.8 m, about 3 m on the ground in England, finer than the bands' 25 m+
raster), mapped back to Web Mercator and clipped again. ``npoints``, ``area`` (of the
piece's bounding box, tile units²) and ``bytes`` (the piece encoded alone as an MVT layer:
its geometry plus a few bytes of framing) let a tile rank its features and bound its size
without reading any geometry.

The pieces are cut top-down in one recursive statement: each piece at zoom ``z`` is clipped
(``ST_ClipByBox2D``) into its four children at ``z + 1``, so each step touches each vertex
four times instead of clipping the whole band once per tile (measured 4x faster than
``ST_Subdivide``, which re-clips every hole at each split); each emitted piece is simplified
on its own (neighbours agree within the tolerance, as in any per-tile generalisation). The
band is first simplified by 2.5 m in British National Grid (below the finest tolerance
divided by the largest Web Mercator scale factor in Great Britain, 1.8), which halves the
points ``ST_Transform`` must project.

Written with the bands: statement triggers on ``catchments`` rebuild the parts of inserted
rows and of rows whose geometry changed, in the same transaction (the catchments process,
any other writer, and the migration's backfill alike); deleting a band deletes its parts
(foreign key, cascade). The cost is paid once by the writer: about 90 s for the 864 bands
(11.1 million vertices) of bench/api_load.py on two shared cores, about 0.1 s a band, where
each tile used to pay for every band it touched. Pieces are stored in-line (``STORAGE MAIN``, ``toast_tuple_target``
8160), so reading one costs no TOAST look-up.

Revision ID: 0014_catchment_tile_parts
Revises: planning_core
Create Date: 2026-12-08
"""

from __future__ import annotations

from alembic import op

revision = "0014_catchment_tile_parts"
down_revision = "planning_core"
branch_labels = None
depends_on = None

#: The deepest zoom with its own parts (store.features.registry.TileParts.max_zoom).
MAX_ZOOM = 14
#: Web Mercator world width, metres: tile width at zoom z is this / 2^z.
_WORLD = 40075016.68557849
#: MVT tile extent and buffer (store.features.tiles.MVT_EXTENT, MVT_BUFFER).
EXTENT = 4096
BUFFER = 64
_MARGIN = BUFFER / EXTENT

BUILD_FUNCTION = f"""
CREATE FUNCTION locus_catchment_tile_parts(ids integer[]) RETURNS void
LANGUAGE sql VOLATILE AS $$
DELETE FROM catchment_tile_parts WHERE ids IS NULL OR catchment_id = ANY(ids);
INSERT INTO catchment_tile_parts (catchment_id, z, x, y, npoints, area, bytes, geom)
WITH RECURSIVE base AS MATERIALIZED (
    SELECT c.id, ST_Transform(ST_Simplify(c.geom, 2.5, false), 3857) AS g
    FROM catchments AS c
    WHERE ids IS NULL OR c.id = ANY(ids)
), cut(id, z, x, y, g) AS (
    SELECT id, 0, 0, 0, g FROM base WHERE NOT ST_IsEmpty(g)
  UNION ALL
    SELECT c.id, c.z + 1, 2 * c.x + d.i, 2 * c.y + d.j,
           ST_ClipByBox2D(c.g, ST_TileEnvelope(c.z + 1, 2 * c.x + d.i, 2 * c.y + d.j,
                                               margin => {_MARGIN}))
    FROM cut AS c
    CROSS JOIN (VALUES (0, 0), (0, 1), (1, 0), (1, 1)) AS d(i, j)
    WHERE c.z < {MAX_ZOOM}
      AND c.g && ST_TileEnvelope(c.z + 1, 2 * c.x + d.i, 2 * c.y + d.j, margin => {_MARGIN})
)
SELECT cut.id, cut.z, cut.x, cut.y, ST_NPoints(m.g), ST_Area(Box2D(m.g)),
       (SELECT octet_length(ST_AsMVT(q.*, 'p', {EXTENT}, 'g')) FROM (SELECT m.g) AS q), m.g
FROM cut
CROSS JOIN LATERAL (
    SELECT ST_Simplify(cut.g, {_WORLD} / (512 * 2 ^ cut.z), false) AS g
) AS s
CROSS JOIN LATERAL (
    SELECT ST_AsMVTGeom(s.g, ST_TileEnvelope(cut.z, cut.x, cut.y), {EXTENT}, {BUFFER}, true) AS g
    WHERE s.g IS NOT NULL AND NOT ST_IsEmpty(s.g)
) AS m
WHERE m.g IS NOT NULL AND NOT ST_IsEmpty(m.g)
$$
"""

TRIGGER_FUNCTIONS = """
CREATE FUNCTION locus_catchments_parts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM locus_catchment_tile_parts(ARRAY(SELECT id FROM new_rows));
    RETURN NULL;
END $$;

CREATE FUNCTION locus_catchments_parts_updated() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed integer[] := ARRAY(
        SELECT n.id FROM new_rows AS n LEFT JOIN old_rows AS o ON o.id = n.id
        WHERE o.id IS NULL OR o.geom IS DISTINCT FROM n.geom);
BEGIN
    IF cardinality(changed) > 0 THEN
        PERFORM locus_catchment_tile_parts(changed);
    END IF;
    RETURN NULL;
END $$;
"""


def upgrade() -> None:
    op.execute(
        "CREATE TABLE catchment_tile_parts ("
        " catchment_id integer NOT NULL REFERENCES catchments (id) ON DELETE CASCADE,"
        " z smallint NOT NULL, x integer NOT NULL, y integer NOT NULL,"
        " npoints integer NOT NULL, area double precision NOT NULL, bytes integer NOT NULL,"
        " geom geometry NOT NULL,"
        " PRIMARY KEY (catchment_id, z, x, y))"
    )
    # A tile's pieces, and one piece of a tile by band (a unique probe either way).
    op.execute(
        "CREATE INDEX ix_catchment_tile_parts_tile ON catchment_tile_parts (z, x, y, catchment_id)"
    )
    op.execute("ALTER TABLE catchment_tile_parts ALTER COLUMN geom SET STORAGE MAIN")
    op.execute("ALTER TABLE catchment_tile_parts SET (toast_tuple_target = 8160)")
    op.execute(
        "COMMENT ON TABLE catchment_tile_parts IS 'Each catchment band cut into the"
        " WebMercatorQuad tiles of zooms 0-14 it touches, simplified to a pixel of that zoom,"
        " in tile coordinates (ST_AsMVTGeom: 0-4096, y down); kept by triggers on catchments'"
    )
    op.execute(BUILD_FUNCTION)
    op.execute(TRIGGER_FUNCTIONS)
    op.execute(
        "CREATE TRIGGER catchments_parts_ins AFTER INSERT ON catchments"
        " REFERENCING NEW TABLE AS new_rows"
        " FOR EACH STATEMENT EXECUTE FUNCTION locus_catchments_parts_inserted()"
    )
    op.execute(
        "CREATE TRIGGER catchments_parts_upd AFTER UPDATE ON catchments"
        " REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"
        " FOR EACH STATEMENT EXECUTE FUNCTION locus_catchments_parts_updated()"
    )
    op.execute("SELECT locus_catchment_tile_parts(NULL)")
    op.execute("ANALYZE catchment_tile_parts")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS catchments_parts_upd ON catchments")
    op.execute("DROP TRIGGER IF EXISTS catchments_parts_ins ON catchments")
    op.execute("DROP FUNCTION IF EXISTS locus_catchments_parts_updated()")
    op.execute("DROP FUNCTION IF EXISTS locus_catchments_parts_inserted()")
    op.execute("DROP FUNCTION IF EXISTS locus_catchment_tile_parts(integer[])")
    op.execute("DROP TABLE IF EXISTS catchment_tile_parts")
