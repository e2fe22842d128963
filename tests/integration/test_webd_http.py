"""mc-webd's HTTP side of the REST API, against the real daemon: HTTPS
with the stack's certificate and plain HTTP on loopback, problem+json
errors (404, 401 with WWW-Authenticate, 405 with Allow, 400, 413, 415),
a valid API token, X-Request-Id, the OpenAPI document, the route table
and the refusal of a non-loopback plain-HTTP listener."""
import hashlib
import http.client
import json
import os
import secrets
import subprocess

import pytest

PROBLEM = "application/problem+json"
BASE = "https://mailcore.invalid/problems/"


def request(stack, method, path, body=None, headers=None):
    """One plain-HTTP request; returns (status, headers, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", stack.port("http"), timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def assert_problem(headers, body, status, slug):
    assert headers["Content-Type"] == PROBLEM
    assert headers["Cache-Control"] == "no-store"
    doc = json.loads(body)
    assert doc["type"] == BASE + slug
    assert doc["status"] == status
    assert isinstance(doc["title"], str) and doc["title"]
    return doc


def make_token(stack, uniq):
    """A provider token: a role binding and an api_tokens row holding the
    SHA-256 of the whole token string ("mct_" + 43 base64url characters)."""
    token = "mct_" + secrets.token_urlsafe(32)
    assert len(token) == 47
    digest = hashlib.sha256(token.encode()).hexdigest()
    [[binding]] = stack.psql(
        f"INSERT INTO role_bindings (role, label, created_by) "
        f"VALUES ('provider', '{uniq}', 'test') RETURNING id")
    stack.psql(
        f"INSERT INTO api_tokens (binding_id, name, prefix, hash) VALUES "
        f"({binding}, '{uniq}', '{token[:12]}', '\\x{digest}'::bytea)")
    return token


@pytest.fixture
def webd(stack, daemon):
    return daemon("mc-webd")


@pytest.fixture
def token(stack, uniq):
    return make_token(stack, uniq)


def test_https_with_the_stack_ca_and_http_both_answer(stack, webd):
    out = subprocess.run(
        ["curl", "-s", "--cacert", stack.ca, "-D", "-", "-o", "/dev/null",
         f"https://localhost:{stack.port('https')}/api/v1/nothing"],
        capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("HTTP/1.1 404")
    assert "content-type: application/problem+json" in out.stdout.lower()
    status, headers, body = request(stack, "GET", "/api/v1/nothing")
    assert status == 404
    assert_problem(headers, body, 404, "not-found")


def test_unknown_paths_are_404_problems(stack, webd):
    for path in ("/", "/index.html", "/api/v1/nothing", "/api/v2/me"):
        status, headers, body = request(stack, "GET", path)
        assert status == 404, path
        assert_problem(headers, body, 404, "not-found")


def test_no_token_is_401_with_www_authenticate(stack, webd):
    status, headers, body = request(stack, "GET", "/api/v1/tenants")
    assert status == 401
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert_problem(headers, body, 401, "unauthorized")


def test_bad_token_is_401(stack, webd):
    bad = "mct_" + secrets.token_urlsafe(32)
    for value in (f"Bearer {bad}", "Bearer", "Basic dXNlcjpwdw=="):
        status, headers, body = request(stack, "GET", "/api/v1/me",
                                        headers={"Authorization": value})
        assert status == 401, value
        assert headers["WWW-Authenticate"].startswith("Bearer")
        assert_problem(headers, body, 401, "unauthorized")
    assert bad not in webd.output()


def test_wrong_method_is_405_with_allow(stack, webd):
    status, headers, body = request(stack, "PUT", "/api/v1/tenants")
    assert status == 405
    assert {m.strip() for m in headers["Allow"].split(",")} == {"GET", "POST"}
    assert_problem(headers, body, 405, "method-not-allowed")


def test_valid_token_reaches_the_operation(stack, webd, token):
    status, headers, body = request(stack, "GET", "/api/v1/me",
                                    headers={"Authorization": f"Bearer {token}"})
    assert status == 200, body
    assert headers["Content-Type"] == "application/json"
    assert headers["Cache-Control"] == "no-store"
    assert json.loads(body)["role"] == "provider"
    assert token not in webd.output()


def test_malformed_json_is_400_and_wrong_type_415(stack, webd, token):
    auth = {"Authorization": f"Bearer {token}"}
    status, headers, body = request(
        stack, "POST", "/api/v1/tenants", body=b'{"name": ',
        headers=dict(auth, **{"Content-Type": "application/json"}))
    assert status == 400
    assert_problem(headers, body, 400, "bad-request")
    status, headers, body = request(
        stack, "POST", "/api/v1/tenants", body=b'{"name": "x"}',
        headers=dict(auth, **{"Content-Type": "text/plain"}))
    assert status == 415
    assert_problem(headers, body, 415, "unsupported-media-type")


def test_body_over_one_mib_is_413(stack, webd, token):
    big = b'{"name": "' + b"x" * (1024 * 1024) + b'"}'
    status, headers, body = request(
        stack, "POST", "/api/v1/tenants", body=big,
        headers={"Authorization": f"Bearer {token}",
                 "Content-Type": "application/json"})
    assert status == 413
    assert_problem(headers, body, 413, "payload-too-large")


def test_request_id_is_echoed_or_made(stack, webd):
    _, headers, _ = request(stack, "GET", "/api/v1/me",
                            headers={"X-Request-Id": "it-42.abc"})
    assert headers["X-Request-Id"] == "it-42.abc"
    _, headers, _ = request(stack, "GET", "/api/v1/me")
    assert len(headers["X-Request-Id"]) >= 8
    _, headers, _ = request(stack, "GET", "/api/v1/me",
                            headers={"X-Request-Id": "no spaces allowed"})
    assert headers["X-Request-Id"] != "no spaces allowed"
    assert "request_id=it-42.abc" in webd.output()


def test_openapi_document_is_served_without_auth(stack, daemon, tmp_path):
    doc = tmp_path / "openapi.yaml"
    doc.write_text("openapi: 3.1.0\ninfo:\n  title: mailcore\n")
    daemon("mc-webd", env={"MAILCORE_WEBD_OPENAPI": str(doc)})
    status, headers, body = request(stack, "GET", "/api/v1/openapi.yaml")
    assert status == 200
    assert headers["Content-Type"].startswith("application/yaml")
    assert body == doc.read_bytes()


def test_missing_openapi_document_is_404(stack, daemon, tmp_path):
    daemon("mc-webd", env={"MAILCORE_WEBD_OPENAPI": str(tmp_path / "none.yaml")})
    status, headers, body = request(stack, "GET", "/api/v1/openapi.yaml")
    assert status == 404
    assert_problem(headers, body, 404, "not-found")


def test_routes_option_prints_the_sorted_route_table(stack):
    out = subprocess.run([os.path.join(stack.bin, "mc-webd"), "--routes"],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    assert lines == sorted(lines) and len(lines) == len(set(lines))
    for line in ("GET /api/v1/me", "POST /api/v1/sessions",
                 "DELETE /api/v1/sessions/current", "GET /api/v1/openapi.yaml",
                 "PATCH /api/v1/domains/{domain}/users/{local}",
                 "POST /api/v1/domains/{domain}/users/{local}/freeze",
                 "POST /api/v1/domains/{domain}/users/import",
                 "DELETE /api/v1/tokens/{id}", "GET /api/v1/audit"):
        assert line in lines
    for line in lines:
        method, path = line.split(" ")
        assert method in {"GET", "POST", "PATCH", "DELETE"}
        assert path.startswith("/api/v1/")


def test_non_loopback_plain_http_is_refused(stack, daemon):
    d = daemon("mc-webd", env={"MAILCORE_WEBD_LISTEN_HTTP": "0.0.0.0:8080"},
               ready=False)
    assert d.proc.wait(15) != 0
    assert "0.0.0.0:8080 is not a loopback address" in d.output()
