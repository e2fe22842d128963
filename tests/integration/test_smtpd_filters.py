"""Inbound protection in mc-smtpd (mc-filter): DNSBLs and SPF at MAIL
FROM, SPF's verdict and greylisting per recipient domain at RCPT, DKIM,
DMARC, the virus scan with test signatures and the spam score (rules
file, thresholds, greylisting by score) at the end of DATA, one
Authentication-Results header (forged copies dropped), Received-SPF and
X-Spam-*. The DNS answers come from a
Debian unbound on loopback ([dns] upstream). The client connects from
loopback and names the outside client it stands for with XCLIENT (allowed
from [smtpd] xclient_networks), since SPF and the filters never judge
loopback clients."""
import base64
import email
import hashlib
import os
import re
import subprocess
import zipfile
import io

import pytest

from dns_server import DnsServer
from smtp_helpers import (Tenant, blob, connect, mailbox, ok, smtpd_exits_cleanly,  # noqa: F401
                          start_smtpd, wait_until)

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CLIENT = "192.0.2.10"  # the outside client XCLIENT names (never contacted)
EICAR = (b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*")


def rsa_key(tmp_path, name):
    """An RSA-2048 key file and its DKIM p= value."""
    key = str(tmp_path / f"{name}.key")
    subprocess.run(["openssl", "genrsa", "-out", key, "2048"], check=True,
                   capture_output=True)
    der = subprocess.run(["openssl", "rsa", "-in", key, "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    return key, base64.b64encode(der).decode()


def txt(value):
    return " ".join(f'"{value[i:i + 200]}"' for i in range(0, len(value), 200))


def canon_header(name, value):
    """RFC 6376 3.4.2 relaxed header canonicalization."""
    value = re.sub(rb"\r\n", b"", value)
    value = re.sub(rb"[ \t]+", b" ", value).strip()
    return name.lower().strip() + b":" + value


def canon_body(body):
    """RFC 6376 3.4.4 relaxed body canonicalization."""
    lines = [re.sub(rb"[ \t]+", b" ", l).rstrip(b" ") for l in body.split(b"\r\n")]
    while lines and lines[-1] == b"":
        lines.pop()
    return b"".join(l + b"\r\n" for l in lines)


def dkim_sign(msg, domain, selector, key):
    """msg with an rsa-sha256 relaxed/relaxed DKIM-Signature (From, To,
    Subject signed), made with the openssl command."""
    head, body = msg.split(b"\r\n\r\n", 1)
    fields = {}
    for f in re.split(rb"\r\n(?![ \t])", head):
        name, _, value = f.partition(b":")
        fields[name.strip().lower()] = (name, value)
    bh = base64.b64encode(hashlib.sha256(canon_body(body)).digest()).decode()
    sig = (f"v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain}; s={selector}; "
           f"h=from:to:subject; bh={bh}; b=")
    data = b"".join(canon_header(*fields[n]) + b"\r\n" for n in (b"from", b"to", b"subject"))
    data += canon_header(b"DKIM-Signature", sig.encode())
    b = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=data,
                       check=True, capture_output=True).stdout
    return f"DKIM-Signature: {sig}{base64.b64encode(b).decode()}\r\n".encode() + msg


class World:
    """A receiving tenant, sender domains with SPF, DKIM and DMARC records,
    and mc-smtpd checking mail from XCLIENT-named clients."""

    def __init__(self, stack, mailctl, daemon, uniq, tmp_path, extra_env=None):
        self.stack = stack
        self.t = Tenant(stack, mailctl, uniq)
        self.rcpt = self.t.user("rita")
        self.u = uniq
        self.key, pub = rsa_key(tmp_path, "signer")
        d = self.domains = {k: f"{k}-{uniq}.test" for k in
                            ("pass", "fail", "soft", "none", "rej", "quar", "signed", "slow")}
        records = [
            f'{d["pass"]}. TXT "v=spf1 ip4:{CLIENT} -all"',
            f'{d["fail"]}. TXT "v=spf1 -all"',
            f'{d["soft"]}. TXT "v=spf1 ~all"',
            f'{d["none"]}. A 127.0.0.9',
            f'{d["rej"]}. TXT "v=spf1 ?all"',
            f'_dmarc.{d["rej"]}. TXT "v=DMARC1; p=reject"',
            f'{d["quar"]}. TXT "v=spf1 ?all"',
            f'_dmarc.{d["quar"]}. TXT "v=DMARC1; p=quarantine"',
            f'{d["signed"]}. TXT "v=spf1 -all"',
            f'_dmarc.{d["signed"]}. TXT "v=DMARC1; p=reject"',
            f'sel._domainkey.{d["signed"]}. TXT {txt("v=DKIM1; k=rsa; p=" + pub)}',
        ]
        # a DNSBL listing 192.0.2.66 (weight 3) and an allowlist for
        # 192.0.2.67 (weight -5, also on the DNSBL)
        records += [f"66.2.0.192.bl-{uniq}.test. A 127.0.0.2",
                    f'66.2.0.192.bl-{uniq}.test. TXT "listed for testing"',
                    f"67.2.0.192.bl-{uniq}.test. A 127.0.0.2",
                    f"67.2.0.192.wl-{uniq}.test. A 127.0.0.2"]
        rules = tmp_path / "spam.rules"
        rules.write_text('body TEST_SPAMWORD =~ /\\bspamword\\b/i 20 "the test spam word"\n'
                         'body TEST_JUNKWORD =~ /\\bjunkword\\b/i 9\n'
                         'header TEST_TAGWORD Subject =~ /tagword/ 6\n'
                         'header TEST_GREYWORD Subject =~ /greyword/ 4\n')
        self.dns = DnsServer(str(tmp_path), records, zones={d["slow"] + ".": "deny"})
        env = {"MAILCORE_DNS_UPSTREAM": self.dns.upstream, "MAILCORE_DNS_TIMEOUT": "1s",
               "MAILCORE_SMTPD_XCLIENT_NETWORKS": "127.0.0.0/8",
               "MAILCORE_ANTIVIRUS_DATABASE": os.path.join(TOP, "tests", "fixtures", "clamav"),
               "MAILCORE_SPAM_RULES": str(rules),
               "MAILCORE_SPAM_DNSBL": f"bl-{uniq}.test*3, wl-{uniq}.test*-5",
               "MAILCORE_SPAM_DNSBL_THRESHOLD": "3",
               "MAILCORE_GREYLIST_MODE": "off",
               # the per-IP connection limits are test_smtpd_connections'
               "MAILCORE_CONNECTIONS_PER_MINUTE": "0",
               "MAILCORE_CONNECTIONS_MAX_PER_IP": "0"}
        env.update(extra_env or {})
        self.smtpd = start_smtpd(daemon, **env)

    def session(self, helo="mx.outside.example", client=CLIENT):
        # (a Date and Message-ID in every test message: the spam score's
        # built-in checks stay quiet)
        """An smtplib session as the outside client (after XCLIENT)."""
        s = connect(self.stack)
        if client is not None:
            code, text = s.docmd("XCLIENT", f"ADDR={client} HELO={helo}")
            assert code == 220, (code, text)
            s.ehlo_resp = None
            assert s.ehlo(helo)[0] == 250
        return s

    def send(self, sender, data, rcpts=None, client=CLIENT):
        """MAIL, RCPT, DATA; (rcpt reply, data reply) with codes."""
        s = self.session(client=client)
        try:
            code, text = s.mail(sender)
            assert code == 250, text
            rr = s.rcpt(rcpts or self.rcpt)
            if rr[0] != 250:
                return rr, None
            return rr, s.data(data)
        finally:
            s.close()

    def message(self, from_addr, subject, body=b"Hello.\r\n", extra=b""):
        return (f"From: <{from_addr}>\r\nTo: <{self.rcpt}>\r\nSubject: {subject}\r\n"
                f"Date: Wed, 02 Dec 2026 10:00:00 +0000\r\n"
                f"Message-ID: <{subject}@x>\r\n").encode() + extra + b"\r\n" + body

    def stored(self, folder="INBOX"):
        return [email.message_from_bytes(blob(self.stack, r["sha256"]))
                for r in mailbox(self.stack, self.rcpt, folder)]

    def set_domain(self, settings):
        self.stack.psql(f"UPDATE domains SET filter_settings = '{settings}' "
                        f"WHERE name = '{self.t.domain}'")


@pytest.fixture
def world(stack, mailctl, daemon, uniq, tmp_path):
    w = World(stack, mailctl, daemon, uniq, tmp_path)
    yield w
    w.dns.stop()


def ar(msg):
    """The Authentication-Results values of a stored message."""
    return [re.sub(r"\s+", " ", v) for v in msg.get_all("Authentication-Results", [])]


# -- SPF -------------------------------------------------------------------

def test_spf_pass_is_recorded_in_both_headers(world):
    d = world.domains["pass"]
    rr, dr = world.send(f"a@{d}", world.message(f"a@{d}", "spf-pass"))
    assert rr[0] == 250 and dr[0] == 250, (rr, dr)
    [m] = world.stored()
    [value] = ar(m)
    assert value.startswith("mail.demo.test;"), value
    assert f"spf=pass smtp.mailfrom=a@{d}" in value, value
    assert m["Received-SPF"].startswith("pass "), m["Received-SPF"]
    assert f"client-ip={CLIENT}" in m["Received-SPF"]
    assert f"XCLIENT: client {CLIENT}" in world.smtpd.output()


def test_spf_fail_is_refused_at_rcpt_unless_the_domain_tags(world):
    d = world.domains["fail"]
    rr, dr = world.send(f"a@{d}", world.message(f"a@{d}", "spf-fail"))
    assert rr[0] == 550 and rr[1].startswith(b"5.7.23"), rr
    assert world.stored() == []
    world.set_domain('{"spf_fail": "tag"}')
    rr, dr = world.send(f"a@{d}", world.message(f"a@{d}", "spf-fail-tag"))
    assert rr[0] == 250 and dr[0] == 250
    [m] = world.stored()
    assert "spf=fail" in ar(m)[0]


def test_spf_softfail_is_tagged_unless_the_domain_refuses(world):
    d = world.domains["soft"]
    rr, dr = world.send(f"a@{d}", world.message(f"a@{d}", "soft"))
    assert rr[0] == 250 and dr[0] == 250
    assert "spf=softfail" in ar(world.stored()[0])[0]
    world.set_domain('{"spf_softfail": "reject"}')
    rr, _ = world.send(f"b@{d}", world.message(f"b@{d}", "soft2"))
    assert rr[0] == 550 and rr[1].startswith(b"5.7.23"), rr


def test_unreachable_dns_never_stops_mail(world):
    d = world.domains["slow"]
    rr, dr = world.send(f"a@{d}", world.message(f"a@{d}", "slow"))
    assert rr[0] == 250 and dr[0] == 250, (rr, dr)
    assert "spf=temperror" in ar(world.stored()[0])[0]


def test_null_sender_checks_the_helo_identity(world):
    rr, dr = world.send("", world.message("MAILER-DAEMON@x.example", "dsn"))
    assert dr[0] == 250
    assert "smtp.helo=mx.outside.example" in ar(world.stored()[0])[0]


# -- DKIM and DMARC ----------------------------------------------------------

def test_signed_message_passes_dkim_and_dmarc(world):
    d = world.domains["signed"]
    msg = dkim_sign(world.message(f"news@{d}", "signed"), d, "sel", world.key)
    rr, dr = world.send(f"bounce@{world.domains['none']}", msg)
    assert dr[0] == 250, dr
    [m] = world.stored()
    value = ar(m)[0]
    assert f"dkim=pass header.d={d} header.s=sel" in value, value
    assert f"dmarc=pass" in value and f"header.from={d}" in value, value


def test_tampered_signed_message_is_refused_by_dmarc_reject(world):
    d = world.domains["signed"]
    msg = dkim_sign(world.message(f"news@{d}", "tampered"), d, "sel", world.key)
    msg = msg.replace(b"Hello.", b"Hullo.")
    rr, dr = world.send(f"bounce@{world.domains['none']}", msg)
    assert dr[0] == 550 and dr[1].startswith(b"5.7.1"), dr
    assert b"DMARC" in dr[1]
    assert world.stored() == []
    assert "dkim=fail" in world.smtpd.output()


def test_dmarc_reject_and_quarantine(world):
    rej, quar = world.domains["rej"], world.domains["quar"]
    rr, dr = world.send(f"x@{rej}", world.message(f"x@{rej}", "rej"))
    assert dr[0] == 550 and dr[1].startswith(b"5.7.1"), dr
    rr, dr = world.send(f"x@{quar}", world.message(f"x@{quar}", "quar"))
    assert dr[0] == 250
    assert world.stored() == []
    [m] = world.stored("Junk")
    assert "dmarc=fail" in ar(m)[0]
    world.set_domain('{"dmarc": false}')
    rr, dr = world.send(f"x@{rej}", world.message(f"x@{rej}", "rej-off"))
    assert dr[0] == 250
    assert "dmarc=fail" in ar(world.stored()[0])[0]


def test_forged_authentication_results_are_dropped(world):
    d = world.domains["pass"]
    extra = (b"Authentication-Results: mail.demo.test; spf=pass smtp.mailfrom=ceo@bank.example\r\n"
             b"Authentication-Results: other.example; dkim=pass\r\n")
    rr, dr = world.send(f"a@{d}", world.message(f"a@{d}", "forged", extra=extra))
    assert dr[0] == 250
    values = ar(world.stored()[0])
    assert len(values) == 2, values
    assert not any("ceo@bank.example" in v for v in values)
    assert any(v.startswith("other.example;") for v in values)


# -- viruses ------------------------------------------------------------------

def mime_with(name, data, subject):
    b64 = base64.encodebytes(data).replace(b"\n", b"\r\n")
    return (b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n"
            b"--XX\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
            b"--XX\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Disposition: attachment; filename=\"" + name.encode() + b"\"\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + b64 + b"--XX--\r\n"), subject


def test_eicar_plain_and_zipped_is_refused_naming_the_signature(world):
    d = world.domains["pass"]
    head = f"From: <a@{d}>\r\nTo: <{world.rcpt}>\r\nSubject: eicar\r\n".encode()
    rr, dr = world.send(f"a@{d}", head + b"\r\n" + EICAR + b"\r\n")
    assert dr[0] == 554 and dr[1].startswith(b"5.7.1"), dr
    assert b"Mailcore.Test.EICAR" in dr[1]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.com", EICAR)
    body, _ = mime_with("invoice.zip", buf.getvalue(), "zip")
    rr, dr = world.send(f"a@{d}", head + body)
    assert dr[0] == 554 and b"Mailcore.Test.EICAR" in dr[1], dr
    clam = "/usr/share/clamav-testfiles/clam.zip"
    if os.path.exists(clam):
        body, _ = mime_with("clam.zip", open(clam, "rb").read(), "clamzip")
        rr, dr = world.send(f"a@{d}", head + body)
        assert dr[0] == 554 and b"Mailcore.Test.ClamExe" in dr[1], dr
    assert world.stored() == []


def test_a_domain_may_take_infected_mail_tagged(world):
    world.set_domain('{"virus": "tag", "virus_tag": "[INFECTED]"}')
    d = world.domains["pass"]
    head = f"From: <a@{d}>\r\nTo: <{world.rcpt}>\r\nSubject: eicar\r\n".encode()
    rr, dr = world.send(f"a@{d}", head + b"\r\n" + EICAR + b"\r\n")
    assert dr[0] == 250, dr
    [m] = world.stored()
    assert m["Subject"] == "[INFECTED] eicar"


# -- who is checked --------------------------------------------------------------

def test_trusted_and_authenticated_clients_are_not_checked(world):
    d = world.domains["fail"]
    rr, dr = world.send(f"a@{d}", world.message(f"a@{d}", "trusted"), client=None)
    assert rr[0] == 250 and dr[0] == 250
    [m] = world.stored()
    assert ar(m) == [] and m["Received-SPF"] is None


def test_xclient_only_from_its_networks(stack, mailctl, daemon, uniq, tmp_path):
    start_smtpd(daemon)
    s = connect(stack)
    try:
        code, text = s.docmd("XCLIENT", f"ADDR={CLIENT}")
        assert code == 550 and text.startswith(b"5.7.0"), (code, text)
        assert b"XCLIENT" not in s.ehlo_resp
    finally:
        s.close()


# -- DNSBLs, spam score, greylisting ------------------------------------------------

def test_dnsbl_listing_refuses_mail_naming_the_client_and_allowlist_wins(world):
    d = world.domains["pass"]
    s = world.session(client="192.0.2.66")
    try:
        code, text = s.mail(f"a@{d}")
        assert code == 554 and text.startswith(b"5.7.1"), (code, text)
        assert b"192.0.2.66" in text and b"listed for testing" in text, text
    finally:
        s.close()
    n = world.domains["none"]
    rr, dr = world.send(f"a@{n}", world.message(f"a@{n}", "allowed"), client="192.0.2.67")
    assert rr[0] == 250 and dr[0] == 250, (rr, dr)


def test_spam_score_thresholds_reject_junk_and_tag(world):
    d = world.domains["pass"]
    rr, dr = world.send(f"a@{d}", world.message(f"a@{d}", "offer", b"Buy SPAMWORD now.\r\n"))
    assert dr[0] == 550 and dr[1].startswith(b"5.7.1") and b"spam" in dr[1], dr
    rr, dr = world.send(f"a@{d}", world.message(f"a@{d}", "maybe", b"a junkword here\r\n"))
    assert dr[0] == 250
    [m] = world.stored("Junk")
    assert m["X-Spam-Status"].startswith("Yes, score=") and "TEST_JUNKWORD" in m["X-Spam-Status"]
    rr, dr = world.send(f"a@{d}", world.message(f"a@{d}", "tagword news"))
    assert dr[0] == 250
    [m] = world.stored()
    assert m["Subject"] == "[SPAM] tagword news"
    assert float(m["X-Spam-Score"]) >= 5
    world.set_domain('{"spam_reject": 0, "spam_junk": 0, "spam_tag": 50}')
    rr, dr = world.send(f"a@{d}", world.message(f"a@{d}", "offer2", b"SPAMWORD\r\n"))
    assert dr[0] == 250
    assert [m["Subject"] for m in world.stored()] == ["[SPAM] tagword news", "offer2"]


def test_greylisting_always_defers_a_new_triplet_until_the_delay(stack, mailctl, daemon,
                                                                 uniq, tmp_path):
    w = World(stack, mailctl, daemon, uniq, tmp_path,
              extra_env={"MAILCORE_GREYLIST_MODE": "always", "MAILCORE_GREYLIST_DELAY": "2s"})
    try:
        d = w.domains["none"]
        msg = w.message(f"a@{d}", "grey")
        rr, _ = w.send(f"a@{d}", msg)
        assert rr[0] == 451 and rr[1].startswith(b"4.7.1"), rr
        rr, _ = w.send(f"a@{d}", msg)  # too early: still deferred
        assert rr[0] == 451
        assert wait_until(lambda: w.send(f"a@{d}", msg)[0][0] == 250, 8, 0.5)
        rr, dr = w.send(f"a@{d}", msg)  # known now: at once
        assert rr[0] == 250 and dr[0] == 250
        rr, _ = w.send(f"a@{d}", msg, client="192.0.3.10")  # another /24
        assert rr[0] == 451
    finally:
        w.dns.stop()


def test_greylisting_by_score_defers_only_suspicious_mail(stack, mailctl, daemon, uniq,
                                                          tmp_path):
    w = World(stack, mailctl, daemon, uniq, tmp_path,
              extra_env={"MAILCORE_GREYLIST_MODE": "score"})
    try:
        d = w.domains["pass"]
        rr, dr = w.send(f"a@{d}", w.message(f"a@{d}", "plain hello"))
        assert dr[0] == 250, dr
        rr, dr = w.send(f"a@{d}", w.message(f"a@{d}", "greyword offer"))
        assert rr[0] == 250 and dr[0] == 451 and dr[1].startswith(b"4.7.1"), dr
        assert len(w.stored()) == 1
    finally:
        w.dns.stop()


# -- content rules, quarantine, Bayes ------------------------------------------------

def add_rule(world, position, name, rule):
    """A content rule of the receiving domain (as the API stores it)."""
    import json
    world.stack.psql(
        "INSERT INTO content_rules (tenant_id, domain_id, position, name, rule) "
        f"SELECT tenant_id, id, {position}, '{name}', '{json.dumps(rule)}'::jsonb "
        f"FROM domains WHERE name = '{world.t.domain}'")


def quarantined(world):
    return world.stack.psql(
        "SELECT q.category, q.reason, q.subject FROM quarantine q JOIN users u ON "
        "u.tenant_id = q.tenant_id AND u.id = q.user_id JOIN domains d ON "
        f"d.tenant_id = q.tenant_id AND d.id = q.domain_id WHERE d.name = '{world.t.domain}' "
        "ORDER BY q.id")


def test_content_rules_first_deciding_action_wins(world):
    d = world.domains["pass"]
    add_rule(world, 1, "vip", {"match": "all", "conditions": [
        {"field": "sender", "op": "starts_with", "value": "boss@"}],
        "action": {"type": "deliver"}})
    add_rule(world, 2, "no-offers", {"match": "any", "conditions": [
        {"field": "subject", "op": "contains", "value": "offer"},
        {"field": "body", "op": "contains", "value": "limited time"}],
        "action": {"type": "reject", "text": "We do not take offers"}})
    add_rule(world, 3, "hold-invoices", {"match": "all", "conditions": [
        {"field": "subject", "op": "matches", "value": "^invoice [0-9]+$"}],
        "action": {"type": "hold", "text": "finance approves"}})
    add_rule(world, 5, "quarantine-macros", {"match": "all", "conditions": [
        {"field": "attachment_name", "op": "ends_with", "value": ".docm"}],
        "action": {"type": "quarantine", "text": "macros"}})
    add_rule(world, 4, "mark-news", {"match": "all", "conditions": [
        {"field": "subject", "op": "contains", "value": "newsletter"}],
        "action": {"type": "tag", "text": "[NEWS]"}})
    rr, dr = world.send(f"x@{d}", world.message(f"x@{d}", "great offer"))
    assert dr[0] == 550 and dr[1] == b"5.7.1 We do not take offers", dr
    rr, dr = world.send(f"boss@{d}", world.message(f"boss@{d}", "another offer"))
    assert dr[0] == 250, dr  # the earlier deliver decides
    rr, dr = world.send(f"x@{d}", world.message(f"x@{d}", "invoice 42"))
    assert dr[0] == 250
    rr, dr = world.send(f"x@{d}", world.message(f"x@{d}", "monthly newsletter"))
    assert dr[0] == 250
    body, _ = mime_with("report.docm", b"PK fake", "docm")
    head = f"From: <x@{d}>\r\nTo: <{world.rcpt}>\r\nSubject: q4 report\r\n".encode()
    rr, dr = world.send(f"x@{d}", head + body)
    assert dr[0] == 250
    assert [m["Subject"] for m in world.stored()] == ["another offer",
                                                      "[NEWS] monthly newsletter"]
    rows = quarantined(world)
    assert [(c, subj) for c, _, subj in rows] == [("policy", "invoice 42"),
                                                  ("policy", "q4 report")], rows
    assert "hold-invoices" in rows[0][1] and "quarantine-macros" in rows[1][1]


def test_content_rule_bcc_and_attachment_blocklist(world, mailctl):
    d = world.domains["pass"]
    audit = world.t.user("audit")
    add_rule(world, 1, "copy-legal", {"match": "all", "conditions": [
        {"field": "subject", "op": "contains", "value": "contract"}],
        "action": {"type": "bcc", "address": audit}})
    world.stack.psql("UPDATE domains SET attachment_blocklist = '{exe}' "
                     f"WHERE name = '{world.t.domain}'")
    rr, dr = world.send(f"x@{d}", world.message(f"x@{d}", "the contract"))
    assert dr[0] == 250
    assert len(world.stored()) == 1
    assert len(mailbox(world.stack, audit)) == 1
    body, _ = mime_with("setup.exe", b"MZ not really", "exe")
    head = f"From: <x@{d}>\r\nTo: <{world.rcpt}>\r\nSubject: tool\r\n".encode()
    rr, dr = world.send(f"x@{d}", head + body)
    assert dr[0] == 550 and b"Attachment type not allowed" in dr[1], dr


def test_virus_quarantined_when_the_domain_says_so(world):
    world.set_domain('{"virus": "quarantine"}')
    d = world.domains["pass"]
    head = f"From: <a@{d}>\r\nTo: <{world.rcpt}>\r\nSubject: eicar q\r\n".encode()
    rr, dr = world.send(f"a@{d}", head + b"\r\n" + EICAR + b"\r\n")
    assert dr[0] == 250, dr
    assert world.stored() == []
    [[cat, reason, subject]] = quarantined(world)
    assert cat == "virus" and "Mailcore.Test.EICAR" in reason and subject == "eicar q"


def test_bayes_training_moves_the_verdict(world, mailctl, tmp_path):
    """Inactive until the tenant's table holds 200 spam and 200 ham
    messages (trained with mailctl spam learn, as IMAP Junk moves and the
    report addresses do); then the same message scores as spam."""
    import random
    d = world.domains["pass"]
    world.set_domain('{"spam_tag": 3}')
    body = b"cheapmeds bargainpills wonderdrug cheapmeds\r\n"
    rr, dr = world.send(f"a@{d}", world.message(f"a@{d}", "hello one", body))
    assert dr[0] == 250
    [m] = world.stored()
    assert m["Subject"] == "hello one" and "BAYES" not in m["X-Spam-Status"]
    rnd = random.Random(7)
    spam_words = ["cheapmeds", "bargainpills", "wonderdrug", "casino", "winner",
                  "lottery", "prize", "viagrax", "pharmacy", "discount"]
    ham_words = ["meeting", "report", "project", "schedule", "lunch", "budget",
                 "review", "agenda", "minutes", "deadline"]
    for kind, words in (("spam", spam_words), ("ham", ham_words)):
        files = []
        for i in range(200):
            text = " ".join(rnd.choice(words) for _ in range(30))
            f = tmp_path / f"{kind}{i}.eml"
            f.write_text(f"From: <x{i}@{kind}.example>\r\nSubject: {kind} {i}\r\n\r\n"
                         f"{text}\r\n")
            files.append(str(f))
        r = mailctl("spam", "learn", "--tenant", world.t.name, f"--{kind}", *files)
        assert r.returncode == 0, r.stderr[-500:]
    rr, dr = world.send(f"a@{d}", world.message(f"a@{d}", "hello two", body))
    assert dr[0] == 250
    m = world.stored()[1]
    assert "BAYES_SPAM" in m["X-Spam-Status"], m["X-Spam-Status"]
    assert m["Subject"] == "[SPAM] hello two"
    rr, dr = world.send(f"a@{d}", world.message(f"a@{d}", "hello three",
                                                b"meeting agenda budget review\r\n"))
    m = world.stored()[2]
    assert "BAYES_HAM" in m["X-Spam-Status"] and m["Subject"] == "hello three"

def test_every_verdict_goes_to_the_security_log_and_the_event_stream(world):
    from smtp_helpers import Resp
    d, rej = world.domains["pass"], world.domains["rej"]
    world.send(f"a@{d}", world.message(f"a@{d}", "logged ok"))
    world.send(f"x@{rej}", world.message(f"x@{rej}", "logged rej"))
    rows = world.stack.psql(
        "SELECT action, spf, dmarc, recipient, coalesce(reason, '') FROM security_log "
        f"WHERE recipient = '{world.rcpt}' ORDER BY id")
    assert [r[:4] for r in rows] == [["deliver", "pass", "none", world.rcpt],
                                     ["reject", "neutral", "fail", world.rcpt]], rows
    assert "DMARC" in rows[1][4]
    r = Resp(world.stack)
    try:
        out = r.cmd("XREVRANGE", "mc:events", "+", "-", "COUNT", "50")
    finally:
        r.close()
    text = str(out)
    assert "filter.verdict" in text and world.rcpt in text, text[:500]


def test_sender_lists_allow_beats_block(world):
    """The domain blocks a sender domain, the user allows one address of
    it: allowed mail skips the spam score (and DMARC), blocked mail is
    refused; the other recipient's lists do not apply to this one."""
    n = world.domains["none"]
    world.stack.psql(
        "INSERT INTO sender_lists (tenant_id, domain_id, user_id, kind, pattern) "
        f"SELECT tenant_id, id, NULL, 'block', '@{n}' FROM domains WHERE name = '{world.t.domain}'")
    world.stack.psql(
        "INSERT INTO sender_lists (tenant_id, domain_id, user_id, kind, pattern) "
        "SELECT u.tenant_id, u.domain_id, u.id, 'allow', 'friend@" + n + "' FROM users u "
        f"JOIN domains d ON d.tenant_id = u.tenant_id AND d.id = u.domain_id "
        f"WHERE d.name = '{world.t.domain}' AND u.local_part = 'rita'")
    rr, dr = world.send(f"stranger@{n}", world.message(f"stranger@{n}", "blocked one"))
    assert dr[0] == 550 and b"blocked" in dr[1], dr
    rr, dr = world.send(f"friend@{n}", world.message(f"friend@{n}", "from a friend",
                                                     b"SPAMWORD but a friend\r\n"))
    assert dr[0] == 250, dr
    [m] = world.stored()
    assert m["Subject"] == "from a friend"
    rows = world.stack.psql("SELECT action FROM security_log WHERE recipient = "
                            f"'{world.rcpt}' ORDER BY id")
    assert rows == [["reject"], ["deliver"]], rows
