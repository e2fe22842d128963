"""mc-deliverd against the real world in miniature: a Debian unbound on
loopback serves the test zones ([dns] upstream), whose MX records point at
127.0.0.x addresses where scriptable SMTP sinks listen on the common
[delivery] port. Mail enters through the real mc-smtpd (alice submits with
AUTH), leaves through mc-deliverd, and what the sinks receive, what the
queue keeps and the DSNs that reach alice's INBOX are checked."""
import email
import os
import re
import signal
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

import ports
from dns_server import DnsServer
from smtp_helpers import (Tenant, blob, connect, count, login, mailbox, ok,
                          transaction, wait_until)
from smtp_sink import SmtpSink


# -- the world ---------------------------------------------------------------

def dkim_txt(stack, domain):
    """Zone lines publishing the domain's active DKIM keys."""
    rows = stack.psql(
        "SELECT k.selector, k.algorithm, k.public_key FROM dkim_keys k JOIN domains d "
        "ON d.tenant_id = k.tenant_id AND d.id = k.domain_id WHERE d.name = "
        f"'{domain}' AND k.status = 'active'")
    lines = []
    for selector, alg, pub in rows:
        k = "rsa" if alg.startswith("rsa") else "ed25519"
        value = f"v=DKIM1; k={k}; p={pub}"
        chunks = " ".join(f'"{value[i:i + 200]}"' for i in range(0, len(value), 200))
        lines.append(f"{selector}._domainkey.{domain}. TXT {chunks}")
    return lines


class World:
    """A sending tenant (alice) and a remote domain with its MX sink."""

    def __init__(self, stack, mailctl, daemon, uniq, tmp_path, keys=("rsa-2048",)):
        self.stack, self.mailctl, self.daemon = stack, mailctl, daemon
        self.tmp = tmp_path
        self.tenant = Tenant(stack, mailctl, uniq)
        self.alice = self.tenant.user("alice")
        for i, alg in enumerate(keys):
            ok(mailctl("dkim", "generate", self.tenant.domain, "--algorithm", alg,
                       "--selector", f"s{i + 1}"))
        self.remote = f"r-{uniq}.test"
        self.port = ports.free_port()
        self.sinks = []
        self.records = [f"{self.remote}. MX 10 mx1.{self.remote}.",
                        f"mx1.{self.remote}. A 127.0.0.2"]
        self.records += dkim_txt(stack, self.tenant.domain)
        self.dns = None
        self.smtpd = daemon("mc-smtpd")

    def sink(self, host="127.0.0.2", **kw):
        s = SmtpSink(host=host, port=self.port, **kw)
        self.sinks.append(s)
        return s

    def start_dns(self, extra=()):
        self.records += list(extra)
        self.dns = DnsServer(str(self.tmp), self.records)
        return self.dns

    def env(self, **kw):
        e = {"MAILCORE_DNS_UPSTREAM": self.dns.upstream,
             "MAILCORE_DELIVERY_PORT": str(self.port),
             "MAILCORE_DELIVERY_POLL_INTERVAL": "100ms",
             "MAILCORE_DELIVERY_RETRY_MIN": "1s",
             "MAILCORE_DELIVERY_RETRY_MAX": "2s",
             "MAILCORE_DELIVERY_CONNECT_TIMEOUT": "3s",
             "MAILCORE_DELIVERY_COMMAND_TIMEOUT": "5s",
             "MAILCORE_DELIVERY_TLS_CA_FILE": self.stack.ca}
        e.update({f"MAILCORE_DELIVERY_{k.upper()}": str(v) for k, v in kw.items()})
        return e

    def deliverd(self, **kw):
        return self.daemon("mc-deliverd", env=self.env(**kw))

    def submit(self, rcpts, subject="hello", body="Hello there.\r\n", sender=None,
               options=()):
        """alice submits one message (AUTH on the submission port)."""
        s = connect(self.stack, "submission")
        try:
            code, _ = login(s, self.alice, self.tenant.passwords[self.alice])
            assert code == 235
            data = (f"From: Alice <{self.alice}>\r\nTo: {', '.join(rcpts)}\r\n"
                    f"Subject: {subject}\r\nMessage-ID: <{subject}.{time.time()}@x>\r\n"
                    f"\r\n{body}").encode()
            code, text = transaction(s, self.alice if sender is None else sender, rcpts, data,
                                     mail_options=options)
            assert code == 250, text
            s.quit()
        finally:
            s.close()
        return text.decode().split()[-1]

    def stop(self):
        for s in self.sinks:
            s.stop()
        if self.dns:
            self.dns.stop()


@pytest.fixture
def world(stack, mailctl, daemon, uniq, tmp_path):
    w = World(stack, mailctl, daemon, uniq, tmp_path)
    yield w
    w.stop()


def rcpts(m):
    """The RCPT addresses a sink message came with."""
    return [r["addr"] for r in m["rcpts"]]


def recipient_rows(stack, qid):
    return stack.psql(
        "SELECT r.address, r.state, r.attempts, coalesce(r.last_error, '') FROM "
        "queue_recipients r JOIN queue q ON q.tenant_id = r.tenant_id AND "
        f"q.id = r.queue_entry WHERE q.queue_id = '{qid}' ORDER BY r.address")


def entry_gone(stack, qid):
    return count(stack, f"SELECT count(*) FROM queue WHERE queue_id = '{qid}'") == 0


def dsns(stack, address, n=1, timeout=15):
    """The messages in address's INBOX once there are n (parsed)."""
    rows = wait_until(lambda: (lambda r: r if len(r) >= n else None)(
        mailbox(stack, address)), timeout)
    assert rows, f"no DSN for {address}"
    return [email.message_from_bytes(blob(stack, r["sha256"])) for r in rows]


def unfold(value):
    """A header value without its folding line breaks (RFC 5322 2.2.3)."""
    return re.sub(r"\r?\n(?=[ \t])", "", value)


def report_fields(msg):
    """The per-recipient fields of a multipart/report (lower-case keys)."""
    assert msg.get_content_type() == "multipart/report", msg.get_content_type()
    assert msg.get_param("report-type") == "delivery-status"
    parts = msg.get_payload()
    assert parts[1].get_content_type() == "message/delivery-status"
    blocks = parts[1].get_payload()
    fields = {}
    for b in blocks[1:]:
        fields.update({k.lower(): v for k, v in b.items()})
    return fields


def verify_dkim(mailctl, env, data, tmp_path):
    """mailctl dkim verify on data with the test zone's keys."""
    f = tmp_path / "signed.eml"
    f.write_bytes(data)
    return mailctl("dkim", "verify", str(f), env=env)


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
    nullmx, missing = f"n-{uniq}.test", f"gone-{uniq}.test"
    world.start_dns([f"{nullmx}. MX 0 ."])
    world.deliverd()
    world.submit([f"x@{nullmx}"], subject=f"nullmx-{uniq}")
    world.submit([f"y@{missing}"], subject=f"missing-{uniq}")
    got = dsns(stack, world.alice, n=2)
    status = sorted(report_fields(m)["status"] for m in got)
    assert status == ["5.1.10", "5.1.2"], status
    assert sink.messages == []


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
