"""The DNS test harness itself: unbound serves the records given (MX with
names, A, AAAA, TXT strings, TLSA), tells NXDOMAIN from NODATA, answers
nothing outside its zones, and serves records added later."""
import pytest

import dns_server
from dns_server import DnsServer, values

pytestmark = pytest.mark.skipif(not dns_server.available(),
                                reason="unbound is not installed")

RECORDS = [
    "example.test. MX 10 mx1.example.test.",
    "example.test. MX 20 mx2.other.test.",
    "mx1.example.test. A 127.0.0.2",
    "mx1.example.test. AAAA ::2",
    "mx2.other.test. A 127.0.0.3",
    'example.test. TXT "v=spf1 " "-all"',
    "_25._tcp.mx1.example.test. TLSA 3 1 1 " + "ab" * 32,
    "null.test. MX 0 .",
]


@pytest.fixture(scope="module")
def dns(tmp_path_factory):
    srv = DnsServer(str(tmp_path_factory.mktemp("dns")), RECORDS)
    yield srv
    srv.stop()


def test_serves_mx_a_txt_tlsa(dns):
    rcode, ans = dns.query("example.test", "MX")
    assert rcode == dns_server.RCODE_NOERROR
    assert sorted(values(ans, "MX")) == [(10, "mx1.example.test"),
                                         (20, "mx2.other.test")]
    assert values(dns.query("mx1.example.test")[1], "A") == ["127.0.0.2"]
    assert values(dns.query("mx1.example.test", "AAAA")[1], "AAAA") == ["::2"]
    assert values(dns.query("mx2.other.test")[1], "A") == ["127.0.0.3"]
    assert values(dns.query("example.test", "TXT")[1], "TXT") == [
        ["v=spf1 ", "-all"]]
    assert values(dns.query("_25._tcp.mx1.example.test", "TLSA")[1],
                  "TLSA") == [(3, 1, 1, "ab" * 32)]
    assert values(dns.query("null.test", "MX")[1], "MX") == [(0, "")]
    assert dns.upstream == "127.0.0.1:%d" % dns.port


def test_nxdomain_nodata_and_outside(dns):
    rcode, ans = dns.query("mx1.example.test", "MX")
    assert (rcode, ans) == (dns_server.RCODE_NOERROR, [])
    assert dns.query("nope.example.test", "A")[0] == dns_server.RCODE_NXDOMAIN
    assert dns.query("example.com", "MX")[0] == dns_server.RCODE_NXDOMAIN


def test_add_and_denied_zone(tmp_path):
    with DnsServer(str(tmp_path), ["a.test. A 127.0.0.5"],
                   zones={"slow.test": "deny"}) as srv:
        port = srv.port
        assert srv.query("b.test")[0] == dns_server.RCODE_NXDOMAIN
        with pytest.raises(OSError):
            srv.query("x.slow.test", timeout=0.2)
        srv.add(["b.test. 0 A 127.0.0.6"])
        assert srv.port == port
        assert values(srv.query("b.test")[1], "A") == ["127.0.0.6"]
        assert values(srv.query("a.test")[1], "A") == ["127.0.0.5"]
    assert srv.proc is None
