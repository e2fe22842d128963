"""A REST API client for the integration tests that checks every response
against api/openapi.yaml: the route and method must be documented, the
status must be one of the operation's responses, and a JSON body must
validate against the documented schema. A test therefore fails when the
server and the contract disagree, whatever it was testing."""
import http.client
import json
import os
import re
import ssl

import jsonschema
import yaml

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SPEC_PATH = os.path.join(TOP, "api", "openapi.yaml")

_spec = None


def spec():
    """The parsed contract (loaded once)."""
    global _spec
    if _spec is None:
        with open(SPEC_PATH) as f:
            _spec = yaml.safe_load(f)
    return _spec


def _template_regex(template):
    return re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$")


def find_operation(method, path):
    """The (template, operation) documented for method and a concrete path;
    concrete segments win over parameters, as OpenAPI says."""
    path = path.split("?", 1)[0]
    candidates = [t for t in spec()["paths"] if _template_regex(t).match(path)]
    candidates.sort(key=lambda t: t.count("{"))
    for t in candidates:
        op = spec()["paths"][t].get(method.lower())
        if op is not None:
            return t, op
    return None, None


def _resolve(obj):
    """Follows a $ref into components."""
    while isinstance(obj, dict) and "$ref" in obj:
        node = spec()
        for part in obj["$ref"].lstrip("#/").split("/"):
            node = node[part]
        obj = node
    return obj


def validate_response(method, path, status, content_type, body):
    """Asserts that the response is what the contract documents."""
    template, op = find_operation(method, path)
    assert op is not None, f"{method} {path} is not in api/openapi.yaml"
    responses = op["responses"]
    assert str(status) in responses, (
        f"{method} {template}: status {status} is not documented "
        f"(documented: {sorted(responses)}); body: {body!r}"[:2000])
    resp = _resolve(responses[str(status)])
    content = resp.get("content")
    if not content or body in (None, b"", ""):
        return
    media = (content_type or "").split(";")[0].strip()
    assert media in content, (
        f"{method} {template} {status}: Content-Type {media!r} not documented "
        f"({sorted(content)})")
    schema = content[media].get("schema")
    if schema is None or not media.endswith("json"):
        return
    resolver = jsonschema.RefResolver.from_schema(spec())
    validator = jsonschema.Draft202012Validator(schema, resolver=resolver)
    errors = sorted(validator.iter_errors(json.loads(body)), key=str)
    assert not errors, (
        f"{method} {template} {status}: the body does not match the contract: "
        + "; ".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]))


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def json(self):
        return json.loads(self.body) if self.body else None

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def header(self, name):
        return self.headers.get(name.lower())

    def __repr__(self):
        return f"<Response {self.status} {self.body[:300]!r}>"


class Api:
    """Talks HTTPS to mc-webd with a bearer token (or none)."""

    def __init__(self, port, ca, token=None, host="127.0.0.1", tls=True,
                 validate=True):
        self.port, self.ca, self.token, self.host = port, ca, token, host
        self.tls, self.validate = tls, validate

    def with_token(self, token):
        return Api(self.port, self.ca, token, self.host, self.tls, self.validate)

    def _connection(self):
        if not self.tls:
            return http.client.HTTPConnection(self.host, self.port, timeout=30)
        ctx = ssl.create_default_context(cafile=self.ca)
        ctx.check_hostname = False
        return http.client.HTTPSConnection(self.host, self.port, timeout=30,
                                           context=ctx)

    def request(self, method, path, body=None, headers=None, raw=None,
                content_type=None):
        """Sends one request; body is JSON-encoded unless raw bytes are
        given. Returns a Response after checking it against the contract."""
        h = {"Accept": "application/json"}
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        elif raw is not None:
            data = raw if isinstance(raw, bytes) else raw.encode()
            h["Content-Type"] = content_type or "application/octet-stream"
        h.update(headers or {})
        conn = self._connection()
        try:
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            resp = Response(r.status, {k.lower(): v for k, v in r.getheaders()},
                            r.read())
        finally:
            conn.close()
        if self.validate:
            validate_response(method, path, resp.status,
                              resp.header("content-type"), resp.body)
        return resp

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)

    def patch(self, path, body=None, **kw):
        return self.request("PATCH", path, body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)
