"""mc-webd's well-known endpoints, against the real daemon: the MTA-STS
policy (HTTPS only, by Host mta-sts.<domain>), the Thunderbird autoconfig
file at both its paths, and the Outlook POX autodiscover answer, with the
hosts and ports of the [dns] settings; hosted active domains and their
aliases only; the same answer for any user; size limits."""
import http.client
import ssl
import subprocess
import xml.etree.ElementTree as ET

import pytest

DNS = {
    "MAILCORE_DNS_MX": "10 mx1.provider.test, 20 mx2.provider.test",
    "MAILCORE_DNS_MTA_STS_MODE": "enforce",
    "MAILCORE_DNS_MTA_STS_MAX_AGE": "86400",
    "MAILCORE_DNS_IMAP_HOST": "imap.provider.test",
    "MAILCORE_DNS_SUBMISSION_HOST": "smtp.provider.test",
    "MAILCORE_DNS_POP3_HOST": "pop.provider.test",
    "MAILCORE_DNS_IMAPS_PORT": "10993",
    "MAILCORE_DNS_SUBMISSIONS_PORT": "10465",
    "MAILCORE_DNS_SUBMISSION_PORT": "10587",
    "MAILCORE_DNS_POP3S_PORT": "10995",
    "MAILCORE_DNS_POP3": "yes",
}
POLICY = ("version: STSv1\r\nmode: enforce\r\nmx: mx1.provider.test\r\n"
          "mx: mx2.provider.test\r\nmax_age: 86400\r\n")
NS_RESP = "{http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006}"
NS_OUTLOOK = ("{http://schemas.microsoft.com/exchange/autodiscover/outlook/"
              "responseschema/2006a}")
REQ_SCHEMA = ("http://schemas.microsoft.com/exchange/autodiscover/outlook/"
              "requestschema/2006")
RESP_SCHEMA = NS_OUTLOOK.strip("{}")


def request(stack, method, path, host, body=None, https=True, headers=None):
    """One request with the given Host header; (status, headers, body)."""
    if https:
        ctx = ssl.create_default_context(cafile=stack.ca)
        conn = http.client.HTTPSConnection("localhost", stack.port("https"),
                                           context=ctx, timeout=10)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", stack.port("http"),
                                          timeout=10)
    try:
        conn.request(method, path, body=body,
                     headers=dict({"Host": host}, **(headers or {})))
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def ok(r):
    assert r.returncode == 0, r.stdout + r.stderr
    return r


@pytest.fixture
def domain(mailctl, uniq):
    """A hosted active domain of a new tenant."""
    ok(mailctl("tenant", "add", uniq))
    ok(mailctl("domain", "add", f"{uniq}.test", "--tenant", uniq))
    return f"{uniq}.test"


@pytest.fixture
def webd(daemon):
    return daemon("mc-webd", env=DNS)


def autodiscover_body(address, schema=RESP_SCHEMA):
    return (f'<?xml version="1.0" encoding="utf-8"?>\n'
            f'<Autodiscover xmlns="{REQ_SCHEMA}">\n  <Request>\n'
            f"    <EMailAddress>{address}</EMailAddress>\n"
            f"    <AcceptableResponseSchema>{schema}</AcceptableResponseSchema>\n"
            f"  </Request>\n</Autodiscover>\n").encode()


# MTA-STS ----------------------------------------------------------------

def test_mta_sts_policy_is_served_over_https_by_host(stack, webd, domain):
    port = stack.port("https")
    for host in (f"mta-sts.{domain}", f"MTA-STS.{domain.upper()}:{port}",
                 f"mta-sts.{domain}."):
        status, headers, body = request(stack, "GET", "/.well-known/mta-sts.txt",
                                        host)
        assert status == 200, (host, body)
        assert headers["Content-Type"].startswith("text/plain")
        assert body.decode() == POLICY
    status, headers, body = request(stack, "HEAD", "/.well-known/mta-sts.txt",
                                    f"mta-sts.{domain}")
    assert status == 200 and body == b""
    assert int(headers["Content-Length"]) == len(POLICY)


def test_mta_sts_with_curl_and_the_stack_ca(stack, webd, domain):
    out = subprocess.run(
        ["curl", "-sS", "--cacert", stack.ca, "-H", f"Host: mta-sts.{domain}",
         f"https://localhost:{stack.port('https')}/.well-known/mta-sts.txt"],
        capture_output=True, timeout=20)
    assert out.returncode == 0, out.stderr
    assert out.stdout.decode() == POLICY


def test_mta_sts_is_404_unless_hosted_over_https(stack, webd, domain, uniq):
    path = "/.well-known/mta-sts.txt"
    for host in (f"mta-sts.{uniq}.unknown.test", domain, f"autoconfig.{domain}",
                 "mta-sts.", "[::1]", "localhost"):
        status, _, _ = request(stack, "GET", path, host)
        assert status == 404, host
    status, _, _ = request(stack, "GET", path, f"mta-sts.{domain}", https=False)
    assert status == 404
    status, _, _ = request(stack, "GET", path + "x", f"mta-sts.{domain}")
    assert status == 404
    status, headers, _ = request(stack, "POST", path, f"mta-sts.{domain}",
                                 body=b"x")
    assert status == 405 and "GET" in headers["Allow"]


def test_mta_sts_for_aliases_and_not_for_suspended(stack, webd, domain,
                                                  mailctl, uniq):
    alias = f"{uniq}-alias.test"
    ok(mailctl("domain", "alias", alias, domain))
    path = "/.well-known/mta-sts.txt"
    status, _, body = request(stack, "GET", path, f"mta-sts.{alias}")
    assert status == 200 and body.decode() == POLICY
    ok(mailctl("domain", "set", domain, "--status", "suspended"))
    for d in (domain, alias):
        status, _, _ = request(stack, "GET", path, f"mta-sts.{d}")
        assert status == 404, d


# Thunderbird autoconfig -------------------------------------------------

def servers(doc):
    """[(tag, type, hostname, port, socketType, username, auth)]."""
    provider = doc.find("emailProvider")
    return [(s.tag, s.get("type"), s.findtext("hostname"),
             int(s.findtext("port")), s.findtext("socketType"),
             s.findtext("username"), s.findtext("authentication"))
            for s in provider if s.tag in ("incomingServer", "outgoingServer")]


def expected_servers(pop3=True):
    imap = [("incomingServer", "imap", "imap.provider.test", 10993, "SSL")]
    pop = [("incomingServer", "pop3", "pop.provider.test", 10995, "SSL")]
    smtp = [("outgoingServer", "smtp", "smtp.provider.test", 10465, "SSL"),
            ("outgoingServer", "smtp", "smtp.provider.test", 10587, "STARTTLS")]
    return [s + ("%EMAILADDRESS%", "password-cleartext")
            for s in imap + (pop if pop3 else []) + smtp]


def test_autoconfig_by_emailaddress(stack, webd, domain):
    status, headers, body = request(
        stack, "GET", f"/mail/config-v1.1.xml?emailaddress=alice%40{domain}",
        f"autoconfig.{domain}", https=False)
    assert status == 200, body
    assert "xml" in headers["Content-Type"]
    doc = ET.fromstring(body)
    assert doc.tag == "clientConfig" and doc.get("version") == "1.1"
    provider = doc.find("emailProvider")
    assert provider.get("id") == domain
    assert provider.findtext("domain") == domain
    assert servers(doc) == expected_servers()


def test_autoconfig_well_known_by_host(stack, webd, domain):
    path = "/.well-known/autoconfig/mail/config-v1.1.xml"
    for host in (f"autoconfig.{domain}", domain.upper()):
        status, _, body = request(stack, "GET", path, host)
        assert status == 200, (host, body)
        doc = ET.fromstring(body)
        assert doc.find("emailProvider/domain").text == domain
        assert servers(doc) == expected_servers()


def test_autoconfig_does_not_depend_on_the_user(stack, webd, domain, mailctl):
    ok(mailctl("user", "add", f"real@{domain}", "--password", "S3cret-pass-42"))
    bodies = set()
    for local in ("real", "nobody", "Some.One%2Btag"):
        status, _, body = request(
            stack, "GET",
            f"/mail/config-v1.1.xml?emailaddress={local}%40{domain}",
            f"autoconfig.{domain}")
        assert status == 200
        bodies.add(body)
    assert len(bodies) == 1


def test_autoconfig_refuses_unknown_and_bad(stack, webd, domain, uniq):
    path = "/mail/config-v1.1.xml"
    status, _, _ = request(stack, "GET", f"{path}?emailaddress=a%40{uniq}.nope",
                           f"autoconfig.{domain}")
    assert status == 404
    status, _, _ = request(stack, "GET", path, f"autoconfig.{uniq}.nope")
    assert status == 404
    for q in ("emailaddress=nodomain", "emailaddress=a%40b%40", "emailaddress=",
              "emailaddress=" + "x" * 400 + "%40" + domain, "x=" + "y" * 2000):
        status, _, _ = request(stack, "GET", f"{path}?{q}", f"autoconfig.{domain}")
        assert status == 400, q
    status, headers, _ = request(stack, "DELETE", path, f"autoconfig.{domain}")
    assert status == 405


def test_autoconfig_without_pop3(stack, daemon, domain):
    daemon("mc-webd", env=dict(DNS, MAILCORE_DNS_POP3="no"))
    status, _, body = request(
        stack, "GET", f"/mail/config-v1.1.xml?emailaddress=a%40{domain}",
        f"autoconfig.{domain}")
    assert status == 200
    assert servers(ET.fromstring(body)) == expected_servers(pop3=False)


# Outlook autodiscover ---------------------------------------------------

def protocols(doc):
    account = doc.find(f"{NS_OUTLOOK}Response/{NS_OUTLOOK}Account")
    assert account.findtext(f"{NS_OUTLOOK}AccountType") == "email"
    assert account.findtext(f"{NS_OUTLOOK}Action") == "settings"
    out = {}
    for p in account.findall(f"{NS_OUTLOOK}Protocol"):
        field = {c.tag[len(NS_OUTLOOK):]: c.text for c in p}
        out[field["Type"]] = field
    return out


def test_autodiscover_answers_imap_and_smtp(stack, webd, domain):
    status, headers, body = request(
        stack, "POST", "/autodiscover/autodiscover.xml", f"autodiscover.{domain}",
        body=autodiscover_body(f"Bob@{domain.upper()}"),
        headers={"Content-Type": "text/xml"})
    assert status == 200, body
    assert "xml" in headers["Content-Type"]
    doc = ET.fromstring(body)
    assert doc.tag == f"{NS_RESP}Autodiscover"
    p = protocols(doc)
    assert set(p) == {"IMAP", "POP3", "SMTP"}
    assert (p["IMAP"]["Server"], p["IMAP"]["Port"], p["IMAP"]["SSL"]) == \
        ("imap.provider.test", "10993", "on")
    assert (p["SMTP"]["Server"], p["SMTP"]["Port"], p["SMTP"]["SSL"]) == \
        ("smtp.provider.test", "10465", "on")
    assert (p["POP3"]["Server"], p["POP3"]["Port"]) == ("pop.provider.test", "10995")
    for proto in p.values():
        assert proto["LoginName"] == f"Bob@{domain}"
        assert proto["AuthRequired"] == "on" and proto["SPA"] == "off"


def test_autodiscover_escapes_what_it_echoes(stack, webd, domain):
    status, _, body = request(
        stack, "POST", "/Autodiscover/Autodiscover.xml", f"autodiscover.{domain}",
        body=autodiscover_body(f"o&apos;neil&amp;co@{domain}"), https=False)
    assert status == 200, body
    p = protocols(ET.fromstring(body))
    assert p["IMAP"]["LoginName"] == f"o'neil&co@{domain}"
    assert f"o&apos;neil&amp;co@{domain}".encode() in body


def test_autodiscover_errors(stack, webd, domain, uniq):
    path = "/autodiscover/autodiscover.xml"
    host = f"autodiscover.{domain}"
    status, _, _ = request(stack, "POST", path, host,
                           body=autodiscover_body(f"a@{uniq}.nope"))
    assert status == 404
    for body, code in ((b"<Autodiscover/>", "600"),
                       (autodiscover_body("no-at-sign"), "600"),
                       (autodiscover_body(f"a&bogus;@{domain}"), "600"),
                       (autodiscover_body(f"a@{domain}", schema="http://x/y"), "601")):
        status, _, resp = request(stack, "POST", path, host, body=body)
        assert status == 200, body
        doc = ET.fromstring(resp)
        err = doc.find(f"{NS_RESP}Response/{NS_RESP}Error")
        assert err.findtext(f"{NS_RESP}ErrorCode") == code, body
        assert err.get("Time")
    status, headers, _ = request(stack, "GET", path, host)
    assert status == 405 and headers["Allow"] == "POST"


def test_autodiscover_refuses_oversize_bodies(stack, webd, domain):
    path = "/autodiscover/autodiscover.xml"
    padding = b"<!--" + b"x" * (8 * 1024) + b"-->"
    big = autodiscover_body(f"a@{domain}") + padding
    status, _, _ = request(stack, "POST", path, f"autodiscover.{domain}", body=big)
    assert status == 413
    # chunked, so no Content-Length tells the size in advance
    status, _, _ = request(stack, "POST", path, f"autodiscover.{domain}",
                           body=iter([big[:4000], big[4000:]]))
    assert status == 413
    # a body just under the limit is fine
    small = autodiscover_body(f"a@{domain}")
    fits = small + b"<!--" + b"x" * (8 * 1024 - len(small) - 7) + b"-->"
    assert len(fits) == 8 * 1024
    status, _, _ = request(stack, "POST", path, f"autodiscover.{domain}", body=fits)
    assert status == 200


def test_api_still_answers_beside_the_well_known_paths(stack, webd, domain):
    status, headers, _ = request(stack, "GET", "/api/v1/me", "localhost")
    assert status == 401
    status, headers, _ = request(stack, "GET", "/.well-known/other", domain)
    assert status == 404
