"""mc-deliverd against the real world in miniature: a Debian unbound on
loopback serves the test zones ([dns] upstream), whose MX records point at
127.0.0.x addresses where scriptable SMTP sinks listen on the common
[delivery] port. Mail enters through the real mc-smtpd (alice submits with
AUTH), leaves through mc-deliverd, and what the sinks receive, what the
queue keeps and the DSNs that reach alice's INBOX are checked."""
import hashlib
import os
import re
import shutil
import signal
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import ports
from deliver_helpers import (World, dsns, entry_gone, rcpts, recipient_rows,  # noqa: F401
                             report_fields, unfold, verify_dkim, world)
from dns_server import DnsServer
from smtp_helpers import mailbox, ok, send, wait_until


# -- delivery and signatures ---------------------------------------------------

def test_delivers_to_mx_signed_with_both_keys(stack, mailctl, daemon, uniq, tmp_path):
    w = World(stack, mailctl, daemon, uniq, tmp_path, keys=("rsa-2048", "ed25519"))
    try:
        sink = w.sink()
        w.start_dns()
        w.deliverd()
        bob = f"bob@{w.remote}"
        qid = w.submit([bob], subject=f"signed-{uniq}")
        [m] = sink.wait(1, timeout=15)
        assert m["mail_from"] == w.alice
        assert rcpts(m) == [bob]
        data = m["data"]
        assert data.count(b"DKIM-Signature:") == 2, data[:2000]
        assert re.search(rb"d=" + re.escape(w.tenant.domain.encode()), data)
        assert b"a=rsa-sha256" in data and b"a=ed25519-sha256" in data
        r = verify_dkim(mailctl, w.env(), data, tmp_path)
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.count("result=pass") == 2, r.stdout
        assert wait_until(lambda: entry_gone(stack, qid), 5)
        # the stored content is what alice sent: the signature is added
        # on the way out, after our Received header
        assert f"Subject: signed-{uniq}".encode() in data
    finally:
        w.stop()


def test_forwarded_mail_is_signed_for_the_forwarding_domain(world, stack, mailctl,
                                                         tmp_path, uniq):
    """Mail from outside to a user who forwards elsewhere leaves signed
    with the forwarding user's domain key; the DSN names the address the
    sender used (ORCPT set for the expansion)."""
    sink = world.sink()
    world.start_dns()
    world.deliverd()
    fwd = world.tenant.user("fwd")
    target = f"quinn@{world.remote}"
    ok(mailctl("user", "set", fwd, "--forward", target, "--keep-copy", "no"))
    data = (f"From: Outsider <out@elsewhere.example>\r\nTo: {fwd}\r\n"
            f"Subject: forwarded-{uniq}\r\n\r\nHello there.\r\n").encode()
    send(stack, "out@elsewhere.example", [fwd], data)
    [m] = sink.wait(1, timeout=15)
    assert rcpts(m) == [target]
    assert m["mail_from"] == "out@elsewhere.example"
    assert m["rcpts"][0]["params"]["ORCPT"].lower() == f"rfc822;{fwd}"
    assert re.search(rb"d=" + re.escape(world.tenant.domain.encode()) + rb";", m["data"])
    r = verify_dkim(mailctl, world.env(), m["data"], tmp_path)
    assert r.returncode == 0 and "result=pass" in r.stdout, r.stdout + r.stderr


def test_tampered_message_fails_verification(world, mailctl, tmp_path, uniq):
    sink = world.sink()
    world.start_dns()
    world.deliverd()
    world.submit([f"carol@{world.remote}"], subject=f"tamper-{uniq}")
    [m] = sink.wait(1, timeout=15)
    bad = m["data"].replace(b"Hello there.", b"Hello their.")
    r = verify_dkim(mailctl, world.env(), bad, tmp_path)
    assert r.returncode != 0
    assert "result=fail" in r.stdout, r.stdout


def test_retry_after_4xx_then_delivered(world, stack, uniq):
    tries = []

    def script(stage, arg, session):
        if stage == "rcpt":
            tries.append(arg)
            if len(tries) == 1:
                return "451 4.3.0 try again later"
        return None
    sink = world.sink(script=script)
    world.start_dns()
    d = world.deliverd()
    rcpt = f"dave@{world.remote}"
    qid = world.submit([rcpt], subject=f"retry-{uniq}")
    assert wait_until(lambda: recipient_rows(stack, qid) and
                      recipient_rows(stack, qid)[0][1] == "deferred", 10), \
        recipient_rows(stack, qid)
    [[_, _, attempts, err]] = recipient_rows(stack, qid)
    assert attempts == "1" and "451 4.3.0" in err, err
    [m] = sink.wait(1, timeout=15)
    assert m["rcpts"]
    assert wait_until(lambda: entry_gone(stack, qid), 5)
    assert len(tries) == 2
    assert f"to=<{rcpt}>" in d.output() and "status=sent" in d.output()


def test_bounce_after_5xx_with_dsn(world, stack, uniq):
    bad, good = f"nobody@{world.remote}", f"erin@{world.remote}"
    sink = world.sink(reject_rcpt={bad: "550 5.1.1 no such user here"})
    world.start_dns()
    world.deliverd()
    qid = world.submit([bad, good], subject=f"bounce-{uniq}")
    [m] = sink.wait(1, timeout=15)
    assert rcpts(m) == [good]
    [dsn] = dsns(stack, world.alice)
    assert dsn["To"].strip("<>") == world.alice or world.alice in dsn["To"]
    assert "MAILER-DAEMON@" in dsn["From"]
    assert dsn["Auto-Submitted"] == "auto-replied"
    f = report_fields(dsn)
    assert f["final-recipient"].lower() == f"rfc822; {bad}"
    assert f["action"] == "failed" and f["status"] == "5.1.1"
    assert "550 5.1.1 no such user here" in unfold(f["diagnostic-code"])
    assert f["remote-mta"] == f"dns; mx1.{world.remote}"
    returned = dsn.get_payload()[2]
    assert returned.get_content_type() == "message/rfc822"
    assert f"bounce-{uniq}" in returned.as_string()
    assert wait_until(lambda: entry_gone(stack, qid), 5)


def test_smtputf8_to_a_server_without_it_bounces_with_5_6_7(world, stack, uniq):
    """RFC 6531 3.4: a message that needs SMTPUTF8 is not downgraded: a
    next hop without the extension makes it fail cleanly, with a DSN; a
    next hop with it gets SMTPUTF8 on MAIL."""
    old = world.sink(ehlo=("PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES"))
    world.start_dns([f"u8-{uniq}.test. MX 10 mx.u8-{uniq}.test.",
                     f"mx.u8-{uniq}.test. A 127.0.0.8"])
    new = world.sink(host="127.0.0.8")
    world.deliverd()
    world.submit([f"jörg@{world.remote}"], subject=f"utf8-{uniq}", options=("SMTPUTF8",))
    [dsn] = dsns(stack, world.alice)
    f = report_fields(dsn)
    assert f.get("action") == "failed" and f.get("status") == "5.6.7", f
    assert old.messages == []
    returned = dsn.get_payload()[2].as_bytes()
    assert f"for <jörg@{world.remote}>".encode() in returned, returned[:400]
    world.submit([f"jörg@u8-{uniq}.test"], subject=f"utf8b-{uniq}", options=("SMTPUTF8",))
    [m] = new.wait(1, timeout=15)
    assert "SMTPUTF8" in m["mail_params"]
    assert rcpts(m) == [f"jörg@u8-{uniq}.test"]


def test_expired_mail_bounces_with_4_4_7(world, stack, uniq):
    world.sink(tempfail_all=True)
    world.start_dns()
    world.deliverd(lifetime="2s")
    rcpt = f"frank@{world.remote}"
    qid = world.submit([rcpt], subject=f"expire-{uniq}")
    [dsn] = dsns(stack, world.alice, timeout=20)
    f = report_fields(dsn)
    assert f["action"] == "failed" and f["status"] == "4.4.7"
    assert "expired" in unfold(f["diagnostic-code"])
    assert wait_until(lambda: entry_gone(stack, qid), 5)


def test_null_mx_and_missing_domain_bounce_at_once(world, stack, uniq):
    sink = world.sink()
    nullmx, missing, bare = f"n-{uniq}.test", f"gone-{uniq}.test", f"bare-{uniq}.test"
    world.start_dns([f"{nullmx}. MX 0 .", f'{bare}. TXT "no mail here"'])
    world.deliverd()
    world.submit([f"x@{nullmx}"], subject=f"nullmx-{uniq}")
    world.submit([f"y@{missing}"], subject=f"missing-{uniq}")
    world.submit([f"w@{bare}"], subject=f"bare-{uniq}")
    got = dsns(stack, world.alice, n=3)
    status = sorted((report_fields(m)["status"], report_fields(m)["final-recipient"])
                    for m in got)
    assert status == [("5.1.10", f"rfc822; x@{nullmx}"), ("5.1.2", f"rfc822; w@{bare}"),
                      ("5.1.2", f"rfc822; y@{missing}")], status
    assert sink.messages == []


def test_domain_without_mx_is_its_own_mx(world, stack, uniq):
    """No MX records but an address: the domain itself is the MX."""
    sink = world.sink(host="127.0.0.5")
    plain = f"plain-{uniq}.test"
    world.start_dns([f"{plain}. A 127.0.0.5"])
    world.deliverd()
    qid = world.submit([f"v@{plain}"], subject=f"implicit-{uniq}")
    [m] = sink.wait(1, timeout=15)
    assert rcpts(m) == [f"v@{plain}"]
    assert wait_until(lambda: entry_gone(stack, qid), 5)


def test_null_sender_never_bounced(world, stack, uniq):
    """A message with the null reverse-path that fails is dropped, never
    reported on (no bounce loops)."""
    world.sink(reject_rcpt={f"z@{world.remote}": "550 5.1.1 nope"})
    world.start_dns()
    d = world.deliverd()
    qid = world.submit([f"z@{world.remote}"], subject=f"null-{uniq}", sender="")
    assert wait_until(lambda: entry_gone(stack, qid), 15)
    assert mailbox(stack, world.alice) == []
    assert "status=bounced" in d.output()


def test_dsn_parameters_go_to_a_next_hop_that_has_dsn(world, stack, uniq):
    sink = world.sink()
    world.start_dns()
    world.deliverd()
    rcpt = f"kate@{world.remote}"
    world.submit([rcpt], subject=f"params-{uniq}", options=("RET=HDRS", "ENVID=env-" + uniq),
                 rcpt_options=("NOTIFY=SUCCESS,FAILURE", f"ORCPT=rfc822;{rcpt}"))
    [m] = sink.wait(1, timeout=15)
    assert m["mail_params"].get("RET") == "HDRS"
    assert m["mail_params"].get("ENVID") == "env-" + uniq
    [r] = m["rcpts"]
    assert r["params"]["NOTIFY"] == "SUCCESS,FAILURE"
    assert r["params"]["ORCPT"].lower() == f"rfc822;{rcpt}"
    time.sleep(0.5)
    assert mailbox(stack, world.alice) == []  # the next hop reports success


def test_success_report_when_the_next_hop_lacks_dsn(world, stack, uniq):
    """NOTIFY=SUCCESS through a server without DSN: we say "relayed"
    (RFC 3461 6.2.1), with the header only; NOTIFY=NEVER gets nothing."""
    sink = world.sink(ehlo=("PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES"))
    world.start_dns()
    world.deliverd()
    rcpt = f"liam@{world.remote}"
    world.submit([rcpt], subject=f"relayed-{uniq}", options=("ENVID=e-" + uniq,),
                 rcpt_options=("NOTIFY=SUCCESS",))
    [m] = sink.wait(1, timeout=15)
    assert "NOTIFY" not in m["rcpts"][0]["params"]
    [dsn] = dsns(stack, world.alice)
    f = report_fields(dsn)
    assert f["action"] == "relayed" and f["status"] == "2.0.0"
    assert dsn.get_payload()[2].get_content_type() == "text/rfc822-headers"
    assert f"e-{uniq}" in dsn.get_payload()[1].as_string()
    world.submit([f"mia@{world.remote}"], subject=f"never-{uniq}",
                 rcpt_options=("NOTIFY=NEVER",))
    sink.wait(2, timeout=15)
    time.sleep(0.5)
    assert len(mailbox(stack, world.alice)) == 1


def test_delay_warning_once_then_delivered(world, stack, uniq):
    state = {"fail": True}

    def script(stage, arg, session):
        if stage == "rcpt" and state["fail"]:
            return "451 4.2.1 mailbox busy"
        return None
    sink = world.sink(script=script)
    world.start_dns()
    world.deliverd(delay_warning="1s")
    qid = world.submit([f"noah@{world.remote}"], subject=f"delay-{uniq}")
    [dsn] = dsns(stack, world.alice, timeout=15)
    f = report_fields(dsn)
    assert f["action"] == "delayed" and f["status"] == "4.2.1"
    assert "will-retry-until" in f
    assert dsn["Subject"].startswith("Delayed Mail")
    assert stack.psql("SELECT r.delay_warned, r.state FROM queue_recipients r JOIN queue q "
                      "ON q.tenant_id = r.tenant_id AND q.id = r.queue_entry WHERE "
                      f"q.queue_id = '{qid}'") == [["t", "deferred"]]
    time.sleep(2.5)  # more attempts fail, but there is one warning only
    assert len(mailbox(stack, world.alice)) == 1
    state["fail"] = False
    sink.wait(1, timeout=15)
    assert wait_until(lambda: entry_gone(stack, qid), 5)


# -- relays, TLS and MTA-STS ---------------------------------------------------

def test_smarthost_with_auth_and_tls(world, stack, uniq):
    tls = os.path.join(stack.state, "tls")
    relay = world.sink(host="127.0.0.3", tls_cert=os.path.join(tls, "server.pem"),
                       tls_key=os.path.join(tls, "server.key"),
                       auth={"relayuser": "relaypass"})
    mx = world.sink()
    world.start_dns()
    world.deliverd(relay=f"127.0.0.3:{world.port}", relay_user="relayuser",
                   relay_password="relaypass", relay_tls="required")
    qid = world.submit([f"gina@{world.remote}"], subject=f"relay-{uniq}")
    [m] = relay.wait(1, timeout=15)
    assert m["tls"] and m["auth_user"] == "relayuser"
    assert mx.messages == []
    assert wait_until(lambda: entry_gone(stack, qid), 5)


def make_cert(stack, tmp_path, name):
    """A certificate for name signed by the stack's test CA."""
    tls = os.path.join(stack.state, "tls")
    key, csr, pem = (str(tmp_path / f"{name}.{x}") for x in ("key", "csr", "pem"))
    ext = tmp_path / f"{name}.ext"
    ext.write_text(f"subjectAltName=DNS:{name}\n")
    subprocess.run(["openssl", "req", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr,
                    "-subj", f"/CN={name}"], check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA",
                    os.path.join(tls, "ca.pem"), "-CAkey", os.path.join(tls, "ca.key"),
                    "-CAcreateserial", "-CAserial", str(tmp_path / "ca.srl"),
                    "-days", "2", "-extfile", str(ext), "-out", pem],
                   check=True, capture_output=True)
    return pem, key


class PolicyServer:
    """HTTPS on host:port serving one MTA-STS policy."""

    def __init__(self, host, port, cert, key, policy):
        body = policy.encode()
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.hits += 1
                if self.path != "/.well-known/mta-sts.txt":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass
        self.httpd = HTTPServer((host, port), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_mta_sts_enforce_refuses_a_non_matching_mx(world, stack, uniq, tmp_path):
    sink = world.sink()
    sts_port = ports.free_port()
    pem, key = make_cert(stack, tmp_path, f"mta-sts.{world.remote}")
    policy = PolicyServer("127.0.0.4", sts_port, pem, key,
                          f"version: STSv1\nmode: enforce\nmx: good.{world.remote}\n"
                          "max_age: 86400\n")
    try:
        world.start_dns([f'_mta-sts.{world.remote}. TXT "v=STSv1; id=20261202"',
                         f"mta-sts.{world.remote}. A 127.0.0.4"])
        world.deliverd(mta_sts_port=sts_port)
        qid = world.submit([f"hank@{world.remote}"], subject=f"sts-{uniq}")
        assert wait_until(lambda: recipient_rows(stack, qid) and
                          recipient_rows(stack, qid)[0][1] == "deferred", 10)
        [[_, state, _, err]] = recipient_rows(stack, qid)
        assert "MTA-STS" in err, err
        assert sink.messages == [] and sink.connections == 0
        assert policy.hits >= 1
        assert stack.psql("SELECT mode, array_to_string(mx, ',') FROM mta_sts_policies "
                          f"WHERE domain = '{world.remote}'") == \
            [["enforce", f"good.{world.remote}"]]
    finally:
        policy.stop()


def spki_sha256(pem):
    """The hex SHA-256 of a certificate's public key (TLSA 3 1 1)."""
    pub = subprocess.run(["openssl", "x509", "-in", pem, "-pubkey", "-noout"],
                         check=True, capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub,
                         check=True, capture_output=True).stdout
    return hashlib.sha256(der).hexdigest()


def test_dane_checks_the_mx_certificate_against_signed_tlsa(world, stack, uniq, tmp_path):
    """A DNSSEC-signed zone (ldns-signzone, served by unbound) with TLSA
    records, validated by mc-deliverd's resolver from [dns] trust_anchor:
    the MX whose certificate matches gets the mail over TLS, the one whose
    TLSA record does not match gets none (RFC 7672)."""
    zone = f"d-{uniq}.test"
    good_pem, good_key = make_cert(stack, tmp_path, f"mx1.{zone}")
    bad_pem, bad_key = make_cert(stack, tmp_path, f"mx2.{zone}")
    good = world.sink(host="127.0.0.6", tls_cert=good_pem, tls_key=good_key)
    bad = world.sink(host="127.0.0.7", tls_cert=bad_pem, tls_key=bad_key)
    p = world.port
    signed = {zone: [f"good.{zone}. MX 10 mx1.{zone}.", f"mx1.{zone}. A 127.0.0.6",
                     f"_{p}._tcp.mx1.{zone}. TLSA 3 1 1 {spki_sha256(good_pem)}",
                     f"bad.{zone}. MX 10 mx2.{zone}.", f"mx2.{zone}. A 127.0.0.7",
                     f"_{p}._tcp.mx2.{zone}. TLSA 3 1 1 {'ab' * 32}"]}
    world.dns = DnsServer(str(tmp_path), world.records, signed=signed)
    anchor = str(tmp_path / "anchor.ds")
    shutil.copy(world.dns.trust_anchor, anchor)
    d = world.deliverd(env={"MAILCORE_DNS_TRUST_ANCHOR": anchor})
    ok_qid = world.submit([f"olga@good.{zone}"], subject=f"dane-ok-{uniq}")
    bad_qid = world.submit([f"paul@bad.{zone}"], subject=f"dane-bad-{uniq}")
    [m] = good.wait(1, timeout=15)
    assert m["tls"]
    assert wait_until(lambda: entry_gone(stack, ok_qid), 5)
    assert wait_until(lambda: recipient_rows(stack, bad_qid)[0][1] == "deferred", 10)
    [[_, _, _, err]] = recipient_rows(stack, bad_qid)
    assert "mx2." in err and ("TLSA" in err or "DANE" in err or "certificate" in err), err
    assert bad.messages == []
    assert "status=sent" in d.output()


# -- sharing the queue, crashes --------------------------------------------------

def test_two_deliverd_processes_deliver_each_message_once(world, stack, uniq):
    sink = world.sink()
    world.start_dns()
    world.deliverd()
    world.deliverd()
    n = 20
    qids = [world.submit([f"u{i}@{world.remote}"], subject=f"once-{uniq}-{i}")
            for i in range(n)]
    got = sink.wait(n, timeout=30)
    time.sleep(1)  # anything sent twice would show up by now
    subjects = [re.search(rb"Subject: (\S+)", m["data"]).group(1) for m in sink.messages]
    assert len(subjects) == n and len(set(subjects)) == n, subjects
    assert len(got) == n
    assert wait_until(lambda: all(entry_gone(stack, q) for q in qids), 5)


def test_many_destinations_with_few_slots_all_delivered(world, stack, uniq):
    """More destinations than connections: batches wait for a slot and
    each one starts when another ends (concurrency 2, one per domain)."""
    sink = world.sink()
    domains = [f"m{i}-{uniq}.test" for i in range(10)]
    world.start_dns([rec for dom in domains for rec in
                     (f"{dom}. MX 10 mx1.{world.remote}.",)])
    qids = [world.submit([f"x@{dom}"], subject=f"slots-{uniq}-{i}")
            for i, dom in enumerate(domains)]
    world.deliverd(concurrency=2, destination_concurrency=1)  # the queue is full
    sink.wait(len(domains), timeout=30)
    assert wait_until(lambda: all(entry_gone(stack, q) for q in qids), 10)
    assert sorted(r for m in sink.messages for r in rcpts(m)) == \
        sorted(f"x@{dom}" for dom in domains)


def test_killed_mid_delivery_loses_nothing(world, stack, uniq):
    hold = threading.Event()

    def script(stage, arg, session):
        if stage in ("data", "bdat") and not hold.is_set():
            hold.wait(20)  # the first delivery never gets its answer
            return "451 4.3.0 never seen"
        return None
    sink = world.sink(script=script)
    world.start_dns()
    d = world.deliverd(lease="2s")
    qid = world.submit([f"ivan@{world.remote}"], subject=f"crash-{uniq}")
    assert wait_until(lambda: sink.connections >= 1, 10)
    time.sleep(0.5)
    os.killpg(d.proc.pid, signal.SIGKILL)
    d.proc.wait()
    hold.set()
    assert not entry_gone(stack, qid)
    world.deliverd(lease="2s")
    got = wait_until(lambda: [m for m in sink.messages
                              if f"crash-{uniq}".encode() in m["data"]], 20)
    assert got
    assert wait_until(lambda: entry_gone(stack, qid), 5)


def test_database_outage_mid_delivery_is_no_bounce_and_no_crash(world, stack, uniq):
    """PostgreSQL goes away while a message is on the wire: the outcome
    cannot be recorded, mc-deliverd keeps running, reconnects when the
    database is back, and the mail is delivered (possibly twice, never
    bounced, never lost)."""
    from test_smtpd_outage import restore, stop
    release = threading.Event()

    def script(stage, arg, session):
        if stage in ("data", "bdat"):
            release.wait(20)
        return None
    sink = world.sink(script=script)
    world.start_dns()
    d = world.deliverd(lease="2s")
    qid = world.submit([f"rita@{world.remote}"], subject=f"outage-{uniq}")
    assert wait_until(lambda: sink.connections >= 1, 10)
    try:
        stop(os.path.join(stack.state, "pg", "data", "postmaster.pid"), signal.SIGINT)
        release.set()
        sink.wait(1, timeout=15)
        time.sleep(1.5)
        assert d.proc.poll() is None, d.output()
    finally:
        restore(stack)
    assert wait_until(lambda: entry_gone(stack, qid), 20), d.output()[-2000:]
    assert d.proc.poll() is None
    assert mailbox(stack, world.alice) == []
    assert "status=bounced" not in d.output()
