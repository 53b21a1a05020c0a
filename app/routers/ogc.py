"""OGC API Features Part 1 (Core) and Part 2 (CRS): landing page to single feature."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response

from app.dependencies import (
    CollectionDep,
    ConnectionDep,
    FormatDep,
    ItemsQueryDep,
    OutSridDep,
    PoolDep,
    PrincipalDep,
)
from app.errors import FeatureNotFound
from app.links import base_url, request_url
from app.routers.common import (
    GEOJSON,
    HTML,
    JSON,
    OPENAPI,
    SCHEMA_JSON,
    collection_extent,
    link,
    render,
)
from app.schemas.ogc import (
    CollectionInfo,
    Collections,
    ConformanceDeclaration,
    FeatureSchema,
    LandingPage,
    OGCFeature,
    OGCFeatureCollection,
    Queryables,
)
from app.schemas.openapi import HTML as HTML_PAGE
from app.schemas.openapi import GeoJSONResponse, SchemaJSONResponse, problems
from app.services.tiles import TileService
from store.access import Principal
from store.features import (
    ATTRIBUTION,
    CRS84,
    REGISTRY,
    SRID_CRS,
    Collection,
    count_items,
    fetch_item,
)

router = APIRouter(tags=["OGC API Features"])

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
]
_REL_CONFORMANCE = "http://www.opengis.net/def/rel/ogc/1.0/conformance"
_REL_DATA = "http://www.opengis.net/def/rel/ogc/1.0/data"
_REL_QUERYABLES = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
_GEOJSON_SCHEMA = {
    "Point": "https://geojson.org/schema/Point.json",
    "MultiPolygon": "https://geojson.org/schema/MultiPolygon.json",
    "LineString": "https://geojson.org/schema/LineString.json",
}
_JSON_SCHEMA_TYPE = {
    "string": "string",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
    "date": "string",
}


def _json(body: Any, media_type: str = JSON, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), media_type=media_type, headers=headers)


def _self_links(request: Request, json_type: str = JSON) -> list[dict[str, str]]:
    url = request_url(request)
    return [
        link(str(url.include_query_params(f="json")), "self", json_type, "this document"),
        link(str(url.include_query_params(f="html")), "alternate", HTML, "this document as HTML"),
    ]


@router.get(
    "/",
    summary="Landing page",
    response_model=LandingPage,
    responses={200: {"content": HTML_PAGE}, **problems(406)},
)
async def landing(request: Request, f: FormatDep) -> Response:
    """Links to the API definition, conformance, collections and tiles."""
    base = base_url(request)
    body = {
        "title": "Locus",
        "description": (
            "Open geospatial estate planning for the NHS, councils and One Public Estate "
            "partners: sites, statistical areas with population and deprivation, postcodes "
            "and the travel network."
        ),
        "attribution": ATTRIBUTION,
        "links": [
            *_self_links(request),
            link(f"{base}/api", "service-desc", OPENAPI, "API definition (OpenAPI 3)"),
            link(f"{base}/api.html", "service-doc", HTML, "API documentation"),
            link(f"{base}/conformance", _REL_CONFORMANCE, JSON, "conformance classes"),
            link(f"{base}/collections", _REL_DATA, JSON, "collections"),
            link(f"{base}/tiles/WebMercatorQuad/tilejson.json", "tiles", JSON, "TileJSON"),
        ],
    }
    if f == "html":
        return render(request, "Locus", description=body["description"], links=body["links"])
    return _json(body)


@router.get(
    "/conformance",
    summary="Conformance classes",
    response_model=ConformanceDeclaration,
    responses={200: {"content": HTML_PAGE}, **problems(406)},
)
async def conformance(request: Request, f: FormatDep) -> Response:
    """The OGC conformance classes this server implements."""
    body = {"conformsTo": CONFORMANCE}
    if f == "html":
        return render(request, "Conformance", items=CONFORMANCE)
    return _json(body)


async def _collection_doc(
    request: Request, conn: ConnectionDep, c: Collection, principal: Principal
) -> dict[str, Any]:
    base = f"{base_url(request)}/collections/{c.id}"
    extent = await collection_extent(request, conn, c, principal)
    doc: dict[str, Any] = {
        "id": c.id,
        "title": c.title,
        "description": c.description,
        "keywords": list(c.keywords),
        "attribution": c.attribution,
        "itemType": "feature",
        "crs": list(SRID_CRS.values()),
        "storageCrs": SRID_CRS[c.storage_srid],
        "links": [
            link(base, "self", JSON, c.title),
            link(f"{base}?f=html", "alternate", HTML, c.title),
            link(f"{base}/items", "items", GEOJSON, f"{c.title} as GeoJSON"),
            link(f"{base}/items?f=html", "items", HTML, f"{c.title} as HTML"),
            link(f"{base}/queryables", _REL_QUERYABLES, SCHEMA_JSON, "queryable properties"),
            link(f"{base}/schema", "describedby", SCHEMA_JSON, "feature schema"),
            # GDAL < 3.7 matches the relation case-sensitively as "describedBy" (rel values
            # are case-insensitive, so this is the same relation, spelt for that client).
            link(f"{base}/schema", "describedBy", SCHEMA_JSON, "feature schema"),
            link(f"{base}/tiles/WebMercatorQuad/tilejson.json", "tiles", JSON, "TileJSON"),
            link(
                "https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/",
                "license",
                HTML,
                "Open Government Licence v3.0",
            ),
        ],
    }
    if extent is not None:
        doc["extent"] = {"spatial": {"bbox": [list(extent)], "crs": CRS84}}
    return doc


@router.get(
    "/collections",
    summary="Feature collections",
    response_model=Collections,
    responses={200: {"content": HTML_PAGE}, **problems(401, 406, 503)},
)
async def collections(
    request: Request, f: FormatDep, conn: ConnectionDep, principal: PrincipalDep
) -> Response:
    """Every collection with its extent, CRS list and links."""
    docs = [await _collection_doc(request, conn, c, principal) for c in REGISTRY.values()]
    body = {
        "links": _self_links(request),
        "crs": list(SRID_CRS.values()),
        "collections": docs,
    }
    if f == "html":
        return render(request, "Collections", collections=docs, links=body["links"])
    return _json(body)


@router.get(
    "/collections/{collectionId}",
    summary="One collection",
    response_model=CollectionInfo,
    responses={200: {"content": HTML_PAGE}, **problems(401, 404, 406, 503)},
)
async def collection(
    request: Request,
    c: CollectionDep,
    f: FormatDep,
    conn: ConnectionDep,
    principal: PrincipalDep,
) -> Response:
    """Metadata of one collection: extent (CRS84), crs, storageCrs, attribution, links."""
    doc = await _collection_doc(request, conn, c, principal)
    if f == "html":
        return render(request, c.title, collection=doc, links=doc["links"])
    return _json(doc)


@router.get(
    "/collections/{collectionId}/queryables",
    summary="Queryable properties",
    response_model=Queryables,
    response_class=SchemaJSONResponse,
    responses={200: {"content": HTML_PAGE}, **problems(404, 406)},
)
async def queryables(request: Request, c: CollectionDep, f: FormatDep) -> Response:
    """JSON Schema of the properties usable as ``name=value`` filters on ``/items``."""
    url = f"{base_url(request)}/collections/{c.id}/queryables"
    properties: dict[str, Any] = {
        p.name: {"title": p.name, "type": _JSON_SCHEMA_TYPE[p.type]}
        | ({"description": p.description} if p.description else {})
        for p in c.filterable
    }
    properties["geometry"] = {"$ref": _GEOJSON_SCHEMA.get(c.geometry_type, "")}
    body = {
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "$id": url,
        "type": "object",
        "title": c.title,
        "properties": properties,
        "additionalProperties": False,
    }
    if f == "html":
        return render(request, f"{c.title}: queryables", schema=body)
    return _json(body, SCHEMA_JSON)


@router.get(
    "/collections/{collectionId}/schema",
    summary="Feature schema",
    response_model=FeatureSchema,
    response_class=SchemaJSONResponse,
    responses=problems(404),
)
async def schema(request: Request, c: CollectionDep) -> Response:
    """JSON Schema of one feature (GeoJSON Feature with every property and its type)."""
    url = f"{base_url(request)}/collections/{c.id}/schema"
    properties: dict[str, Any] = {
        p.name: {"type": _JSON_SCHEMA_TYPE[p.type]}
        | ({"format": "date"} if p.type == "date" else {})
        | ({"description": p.description} if p.description else {})
        for p in c.properties
    }
    id_type = "integer" if len(c.key) == 1 and c.key_types[0] is int else "string"
    body = {
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "$id": url,
        "title": c.title,
        "type": "object",
        "required": ["type", "geometry", "properties"],
        "properties": {
            "type": {"type": "string", "enum": ["Feature"]},
            "id": {"type": id_type},
            "geometry": {"$ref": _GEOJSON_SCHEMA.get(c.geometry_type, "")},
            "properties": {"type": "object", "properties": properties},
        },
    }
    return _json(body, SCHEMA_JSON)


@router.get(
    "/collections/{collectionId}/items",
    summary="Features",
    response_model=OGCFeatureCollection,
    response_class=GeoJSONResponse,
    responses={200: {"content": HTML_PAGE}, **problems(400, 401, 404, 406, 503)},
)
async def items(
    request: Request,
    c: CollectionDep,
    q: ItemsQueryDep,
    f: FormatDep,
    pool: PoolDep,
    principal: PrincipalDep,
) -> Response:
    """A page of features (GeoJSON in CRS84, or ``crs``), ordered by id, with a keyset ``next``.

    Other query parameters named after a queryable property filter by equality; a
    comma-separated value matches any of the values (``kind=gp_practice,pharmacy``).
    ``numberMatched`` is given when it is known without counting, or with ``resultType=hits``.
    """
    content_crs = {"Content-Crs": f"<{SRID_CRS[q.out_srid]}>"}
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    links = _self_links(request, GEOJSON)
    if request.query_params.get("resultType") == "hits":
        async with pool.connection() as conn:
            matched = await count_items(conn, c, q, principal)
        body = {
            "type": "FeatureCollection",
            "features": [],
            "numberMatched": matched,
            "numberReturned": 0,
            "timeStamp": stamp,
            "links": links,
        }
        return _json(body, GEOJSON, content_crs)

    # Pages come through the response cache; a connection is taken only to render one.
    query_key = "&".join(
        f"{k}={v}" for k, v in sorted(request.query_params.multi_items()) if k != "f"
    )
    service: TileService = request.app.state.tiles
    page = await service.cached_page(c, q, principal, query_key)
    if page.has_more and page.last_fid is not None:
        next_url = (
            request_url(request)
            .remove_query_params(["offset", "after"])
            .include_query_params(after=page.last_fid)
        )
        links.append(link(str(next_url), "next", HTML if f == "html" else GEOJSON, "next page"))
    links.append(link(f"{base_url(request)}/collections/{c.id}", "collection", JSON, c.title))
    head: dict[str, Any] = {"type": "FeatureCollection", "numberReturned": page.returned}
    if not page.has_more and q.after is None and (page.returned > 0 or q.offset == 0):
        head["numberMatched"] = q.offset + page.returned  # the last page: known for free
    if f == "html":
        features = json.loads(page.features_json)
        return render(
            request,
            f"{c.title}: features",
            collection_id=c.id,
            features=features,
            columns=[p.name for p in c.properties],
            links=links,
            number_returned=page.returned,
        )
    head["timeStamp"] = stamp
    head["links"] = links
    # PostgreSQL wrote the features array; splice it in rather than re-parsing it.
    body_text = json.dumps(head)[:-1] + ', "features": ' + page.features_json + "}"
    return Response(body_text, media_type=GEOJSON, headers=content_crs)


@router.get(
    "/collections/{collectionId}/items/{featureId}",
    summary="One feature",
    response_model=OGCFeature,
    response_class=GeoJSONResponse,
    responses={200: {"content": HTML_PAGE}, **problems(400, 401, 404, 406, 503)},
)
async def item(
    request: Request,
    c: CollectionDep,
    featureId: str,
    out_srid: OutSridDep,
    f: FormatDep,
    conn: ConnectionDep,
    principal: PrincipalDep,
) -> Response:
    """One feature by id (404 problem+json when absent or not visible)."""
    key = c.parse_fid(featureId)
    feature = None if key is None else await fetch_item(conn, c, key, out_srid, principal)
    if feature is None:
        raise FeatureNotFound(f"no feature {featureId!r} in {c.id!r}", parameter="featureId")
    base = f"{base_url(request)}/collections/{c.id}"
    links = [
        *_self_links(request, GEOJSON),
        link(base, "collection", JSON, c.title),
    ]
    if f == "html":
        doc = json.loads(feature)
        return render(
            request,
            f"{c.title}: {featureId}",
            collection_id=c.id,
            features=[doc],
            columns=[p.name for p in c.properties],
            links=links,
        )
    body_text = feature[:-1] + ', "links": ' + json.dumps(links) + "}"
    return Response(
        body_text, media_type=GEOJSON, headers={"Content-Crs": f"<{SRID_CRS[out_srid]}>"}
    )
