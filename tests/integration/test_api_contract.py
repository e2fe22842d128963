"""api/openapi.yaml is a valid OpenAPI 3.1 document, and it and the real
mc-webd agree: the routes the server reports are the documented ones, every
documented route is answered (with a documented status), and the document
the server serves is this file."""
import os
import re
import subprocess

import jsonschema
import pytest

import api_helpers
from api_helpers import Api, spec

METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def walk(node, path=()):
    """Every (path, dict) in the document."""
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from walk(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, path + (i,))


def operations():
    for template, item in spec()["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield template, method, op


def test_document_shape():
    doc = spec()
    assert re.fullmatch(r"3\.1\.\d+", doc["openapi"])
    assert doc["info"]["title"] and doc["info"]["version"]
    assert set(doc) <= {"openapi", "info", "jsonSchemaDialect", "servers", "paths",
                        "webhooks", "components", "security", "tags", "externalDocs"}
    for template, method, op in operations():
        assert template.startswith("/api/v1/"), template
        assert op["responses"], (method, template)
        for code in op["responses"]:
            assert re.fullmatch(r"[1-5]\d\d|[1-5]XX|default", code), code
        for s in op.get("security", doc["security"]):
            for name in s:
                assert name in doc["components"]["securitySchemes"]


def test_operation_ids_unique():
    ids = [op["operationId"] for _, _, op in operations()]
    assert len(ids) == len(set(ids)), [i for i in ids if ids.count(i) > 1]


def test_refs_resolve():
    doc = spec()
    for where, node in walk(doc):
        ref = node.get("$ref")
        if not isinstance(ref, str):
            continue
        assert ref.startswith("#/"), (where, ref)
        target = doc
        for part in ref[2:].split("/"):
            assert part in target, f"{'/'.join(map(str, where))}: {ref} does not resolve"
            target = target[part]


def test_path_parameters_declared():
    doc = spec()
    for template, method, op in operations():
        declared = set()
        for p in op.get("parameters", []) + doc["paths"][template].get("parameters", []):
            p = api_helpers._resolve(p)
            if p["in"] == "path":
                assert p.get("required") is True, (template, p["name"])
                declared.add(p["name"])
        assert declared == set(re.findall(r"\{([^}]+)\}", template)), (method, template)


def test_schemas_are_json_schema_2020_12():
    for name, schema in spec()["components"]["schemas"].items():
        jsonschema.Draft202012Validator.check_schema(schema)


def documented_routes():
    return {f"{m.upper()} {t}" for t, m, _ in operations()}


def test_server_routes_are_the_documented_ones(stack):
    out = subprocess.run([os.path.join(stack.bin, "mc-webd"), "--routes"],
                         capture_output=True, text=True, timeout=10, check=True).stdout
    served = {line.strip() for line in out.splitlines() if line.strip()}
    assert served, "mc-webd --routes printed nothing"
    assert served - documented_routes() == set(), "served but not documented"
    assert documented_routes() - served == set(), "documented but not served"


def concrete(template):
    return re.sub(r"\{id\}", "1", re.sub(r"\{[^}]+\}", "x.example", template))


@pytest.fixture
def webd(stack, daemon):
    daemon("mc-webd")
    return Api(stack.port("https"), stack.ca)


def test_every_documented_route_is_answered(webd):
    """Without credentials every route answers 401 (the two public ones
    answer for themselves), each a documented status: no route is missing
    from the server."""
    public = {"GET /api/v1/openapi.yaml", "POST /api/v1/sessions",
              "POST /api/v1/domains/{domain}/registrations"}
    for template, method, _ in operations():
        path = concrete(template)
        r = webd.request(method.upper(), path,
                         body={} if method in ("post", "patch") else None)
        key = f"{method.upper()} {template}"
        if key in public:
            # answered by the route itself (registrations: 404 for the
            # made-up domain), not by the router
            assert r.status != 405, (key, r)
            if r.status == 404:
                assert r.json["detail"] != "no such resource", (key, r)
        else:
            assert r.status == 401, (key, r)
            assert r.header("www-authenticate").startswith("Bearer"), key
            assert r.header("content-type").startswith("application/problem+json")


def test_served_document_is_the_contract(webd):
    r = webd.get("/api/v1/openapi.yaml")
    assert r.status == 200
    with open(api_helpers.SPEC_PATH, "rb") as f:
        assert r.body == f.read()
