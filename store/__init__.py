"""The data layer: the only package that composes SQL.

``etl/`` and ``app/`` read and write PostGIS through the functions here; nothing else holds a
SQL statement (the schema itself changes only through ``migrations/``). Every connection comes
from :mod:`store.connection` with one configuration (statement timeout, health check before
reuse, JIT off), and every query that returns sites, or anything derived from them, filters
rows through the one visibility rule, :func:`store.access.visible_rows`.
"""
