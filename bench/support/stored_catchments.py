"""A stored catchments set as large as real use makes it, built in one SQL statement.

Issue 17 measured tiles after three ordinary ``catchments`` jobs: 856 bands, 11.1 million
vertices. Running that many jobs takes minutes of CPU, so the bench and the tile tests insert
synthetic bands straight into ``catchments`` (the table the process writes; the triggers of
migration 0012 build the generalised tile parts exactly as for a job's bands).

Each band is a star-shaped polygon around its site (so always valid) whose radius follows the
mode's speed and the band's minutes, wobbling at several scales, with a ring of holes: shaped
so that simplification keeps about as much as it keeps of real bands (measured on the 96
bands of the four Rutland GP practices, 3 modes x 8 bands, which are raster contours):

=================  ========  ===============
tolerance (m)      real      this generator
=================  ========  ===============
153 (zoom 9)       5.4 %     4.1 %
76 (zoom 10)       9.0 %     7.1 %
38 (zoom 11)       16 %      12 %
19 (zoom 12)       33 %      20 %
9.6 (zoom 13)      43 %      31 %
4.8 (zoom 14)      44 %      45 %
=================  ========  ===============

With the defaults, each of the 36 active located Rutland sites gets 3 modes x 8 bands: 864
bands of 12,841 vertices, 11.1 million in all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import Connection

#: (mode, metres per minute): a band's mean radius is minutes x speed, capped at 25 km.
MODES: tuple[tuple[str, float], ...] = (("walk", 80.0), ("cycle", 250.0), ("drive", 500.0))
BANDS: tuple[int, ...] = (5, 10, 15, 20, 30, 40, 50, 60)

_SQL = """
INSERT INTO catchments (site_id, mode, band_min, population, network_load_id, geom)
SELECT s.id, m.mode, b.band_min, 100.0 * b.band_min + s.id, %(load)s,
       ST_Multi(ST_SetSRID(ST_MakePolygon(shell.ring, holes.rings), 27700))
FROM sites AS s
CROSS JOIN unnest(%(modes)s::text[], %(speeds)s::float8[]) AS m(mode, m_per_min)
CROSS JOIN unnest(%(bands)s::int[]) AS b(band_min)
CROSS JOIN LATERAL (
    SELECT least(m.m_per_min * b.band_min, 25000.0) AS r, (s.id * 7 + b.band_min) %% 13 AS ph
) AS k
CROSS JOIN LATERAL (
    SELECT ST_MakeLine(ST_MakePoint(ST_X(s.geom) + v.rr * cos(v.t),
                                    ST_Y(s.geom) + v.rr * sin(v.t)) ORDER BY v.i) AS ring
    FROM (
        SELECT g.i, g.t,
               k.r * (1 + 0.12 * sin(3 * g.t + k.ph) + 0.06 * sin(11 * g.t + 2 * k.ph))
               + least(k.r / 6, 1000) * sin(10 * g.t + k.ph)
               + least(k.r / 12, 300) * sin(50 * g.t + 2 * k.ph)
               + least(k.r / 8, 350) * sin(250 * g.t + k.ph)
               + least(k.r / 40, 90) * sin(1000 * g.t)
               + 20.0 * ((g.j * 7919 + s.id) %% 5 - 2) AS rr
        FROM (SELECT i, i %% %(shell)s AS j, 2 * pi() * (i %% %(shell)s) / %(shell)s AS t
              FROM generate_series(0, %(shell)s) AS i) AS g
    ) AS v
) AS shell
CROSS JOIN LATERAL (
    SELECT array_agg(h.ring) AS rings FROM (
        SELECT ST_MakeLine(ST_MakePoint(c.cx + p.hr * cos(p.u), c.cy + p.hr * sin(p.u))
                           ORDER BY p.q) AS ring
        FROM (SELECT h, ST_X(s.geom) + 0.3 * k.r * cos(2 * pi() * h / %(holes)s) AS cx,
                     ST_Y(s.geom) + 0.3 * k.r * sin(2 * pi() * h / %(holes)s) AS cy,
                     least(200.0, 0.3 * k.r * pi() / %(holes)s * 0.6) AS hr0
              FROM generate_series(0, %(holes)s - 1) AS h) AS c
        CROSS JOIN LATERAL (
            SELECT q, 2 * pi() * (q %% %(hole)s) / %(hole)s AS u,
                   c.hr0 * (1 + 0.25 * sin(10 * pi() * (q %% %(hole)s) / %(hole)s + c.h)) AS hr
            FROM generate_series(0, %(hole)s) AS q
        ) AS p
        GROUP BY c.h, c.cx, c.cy
    ) AS h
) AS holes
WHERE s.geom IS NOT NULL AND s.status = 'active' AND (%(site_ids)s::int[] IS NULL
      OR s.id = ANY(%(site_ids)s::int[]))
"""


def insert_catchments(
    conn: Connection[Any],
    *,
    site_ids: Sequence[int] | None = None,
    modes: Sequence[tuple[str, float]] = MODES,
    bands: Sequence[int] = BANDS,
    shell_vertices: int = 9000,
    holes: int = 60,
    hole_vertices: int = 63,
) -> tuple[int, int]:
    """Insert synthetic bands for active located sites (those of ``site_ids`` if given).

    One statement; ``network_load_id`` is the newest load. Returns ``(bands, vertices)``
    inserted. A band has ``shell_vertices + 1 + holes * (hole_vertices + 1)`` vertices.
    """
    load = conn.execute("SELECT max(id) FROM data_loads").fetchone()
    if load is None or load[0] is None:
        raise RuntimeError("no data load to attach the synthetic catchments to")
    cur = conn.execute(
        _SQL,
        {
            "load": load[0],
            "modes": [m for m, _ in modes],
            "speeds": [v for _, v in modes],
            "bands": list(bands),
            "shell": shell_vertices,
            "holes": holes,
            "hole": hole_vertices,
            "site_ids": list(site_ids) if site_ids is not None else None,
        },
    )
    count = cur.rowcount
    return count, count * (shell_vertices + 1 + holes * (hole_vertices + 1))
