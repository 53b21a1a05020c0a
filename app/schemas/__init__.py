"""Pydantic models of every JSON body the API reads or writes, one module per concern.

- :mod:`app.schemas.common`: the base classes (:class:`~app.schemas.common.ResponseModel`,
  :class:`~app.schemas.common.InputModel` with the storability rule), JSON value types,
  :class:`~app.schemas.common.Link` and the RFC 9457 :class:`~app.schemas.common.Problem`;
- :mod:`app.schemas.geojson`: minimal GeoJSON geometries, ``Feature`` and
  ``FeatureCollection`` (geojson-pydantic is not installed; the models follow its API);
- :mod:`app.schemas.ogc`: OGC API Features documents and TileJSON;
- :mod:`app.schemas.analysis`: ``/analysis/*`` and ``/postcodes/{postcode}``;
- :mod:`app.schemas.estate`: the estate register, uploads, co-location and scenarios;
- :mod:`app.schemas.processes`: OGC API Processes (processes, jobs, results);
- :mod:`app.schemas.health`: ``/healthz`` and ``/readyz``;
- :mod:`app.schemas.openapi`: how routes document problem+json errors, non-JSON bodies and
  request bodies they parse themselves, and the OpenAPI post-processing that goes with it.

Response models describe what the services return today: routes that return a plain dict
are validated against them (a new or renamed key fails loudly as a server error in tests);
routes that return a ``Response`` themselves (OGC, downloads) use them for the OpenAPI only.
"""
