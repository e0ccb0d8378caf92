"""The OpenAPI document: what FastAPI derives from the routes, plus what it cannot express.

- the two ways to authenticate a /v1.1 request (docs/cdm-api.md §4), as security schemes;
- the bodies routes read by hand for their own messages (``POST /v3/auth/tokens``: IAM.0001);
- the exact shapes of a generic-jdbc-connector link and a table-to-table job, offered beside the
  general ones (anyOf), so that a reader, or a generator, sees which inputs a valid one holds.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from opencdm.api.wire.clusters import ClusterActionRequest
from opencdm.api.wire.exact import JdbcLinkIn, JdbcTableJobIn
from opencdm.api.wire.iam import TokenRequest

SECURITY_SCHEMES: dict[str, Any] = {
    "XAuthToken": {
        "type": "apiKey", "in": "header", "name": "X-Auth-Token",
        "description": "A token from POST /v3/auth/tokens (its X-Subject-Token header), valid 24 h.",
    },
    "AkSkSignature": {
        "type": "apiKey", "in": "header", "name": "Authorization",
        "description": (
            "An AK/SK signature, as the huaweicloudsdkcdm SDK signs: "
            "`SDK-HMAC-SHA256 Access=<AK>, SignedHeaders=<names;separated;by;semicolons>, Signature=<hex>`, "
            "over the request and its body (signed headers include host and x-sdk-date). A state-changing "
            "signed request is accepted once."
        ),
    },
    "SdkDate": {
        "type": "apiKey", "in": "header", "name": "X-Sdk-Date",
        "description": "The signing time, `YYYYMMDDTHHMMSSZ`, within 15 minutes of the server's clock.",
    },
}
# Either a token, or a signature with its date.
SECURITY: list[dict[str, list[str]]] = [{"XAuthToken": []}, {"AkSkSignature": [], "SdkDate": []}]

# Bodies a route reads as it is, to word its own errors: (path, method) -> what the body holds.
_DOCUMENTED_BODIES: dict[tuple[str, str], type[BaseModel]] = {
    ("/v3/auth/tokens", "post"): TokenRequest,
    ("/v1.1/{project_id}/clusters/{cluster_id}/action", "post"): ClusterActionRequest,
}
# Where the exact shapes are offered: (request model, its list property).
_EXACT_SHAPES: dict[tuple[str, str], type[BaseModel]] = {
    ("LinksRequest", "links"): JdbcLinkIn,
    ("JobsRequest", "jobs"): JdbcTableJobIn,
    ("RandomClusterJobRequest", "jobs"): JdbcTableJobIn,
}


def _add_schema(schemas: dict[str, Any], model: type[BaseModel]) -> dict[str, str]:
    """Add ``model`` (and the models it uses) to the components; a reference to it."""
    schema = model.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
    schemas.update(schema.pop("$defs", {}))
    schemas[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def build_openapi(app: FastAPI) -> dict[str, Any]:
    document = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    components["securitySchemes"] = SECURITY_SCHEMES
    for path, operations in document["paths"].items():
        if path.startswith("/v1.1/"):
            for operation in operations.values():
                operation["security"] = SECURITY
    for (path, method), model in _DOCUMENTED_BODIES.items():
        document["paths"][path][method]["requestBody"] = {
            "required": True, "content": {"application/json": {"schema": _add_schema(schemas, model)}}
        }
    for (container, key), exact in _EXACT_SHAPES.items():
        items = schemas[container]["properties"][key]["items"]
        schemas[container]["properties"][key]["items"] = {"anyOf": [_add_schema(schemas, exact), items]}
    return document


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
