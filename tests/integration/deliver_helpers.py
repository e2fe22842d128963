"""What the mc-deliverd tests share: a World with a sending tenant
(alice, with DKIM keys), a remote domain whose MX records (served by a
Debian unbound on loopback, reached through [dns] upstream) point at
scriptable SMTP sinks on 127.0.0.x, and helpers reading the queue and the
DSNs that reach alice's INBOX."""
import email
import re
import time

import pytest

import ports
from dns_server import DnsServer
from smtp_helpers import (Tenant, blob, connect, count, login, mailbox, ok,
                          wait_until)
from smtp_sink import SmtpSink


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
        self.agents = []
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

    def deliverd(self, env=None, **kw):
        """mc-deliverd with [delivery] KEY=VALUE settings and extra env."""
        d = self.daemon("mc-deliverd", env=dict(self.env(**kw), **(env or {})))
        self.agents.append(d)
        return d

    def submit(self, rcpts, subject="hello", body="Hello there.\r\n", sender=None,
               options=(), rcpt_options=()):
        """alice submits one message (AUTH on the submission port); the
        queue id. options go with MAIL, rcpt_options with every RCPT."""
        s = connect(self.stack, "submission")
        try:
            code, _ = login(s, self.alice, self.tenant.passwords[self.alice])
            assert code == 235
            data = (f"From: Alice <{self.alice}>\r\nTo: {', '.join(rcpts)}\r\n"
                    f"Subject: {subject}\r\nMessage-ID: <{subject}.{time.time()}@x>\r\n"
                    f"\r\n{body}").encode()
            code, text = s.mail(self.alice if sender is None else sender, list(options))
            assert code == 250, text
            for r in rcpts:
                code, text = s.rcpt(r, list(rcpt_options))
                assert code == 250, (r, text)
            code, text = s.data(data)
            assert code == 250, text
            s.quit()
        finally:
            s.close()
        return text.decode().split()[-1]

    def stop(self):
        """Stops the agents still running (each must exit 0 without a
        sanitizer report: CI runs these under ASan), then sinks and DNS."""
        try:
            for d in self.agents:
                if d.proc.poll() is None:
                    rc, out = d.stop(), d.output()
                    assert "Sanitizer" not in out and "runtime error:" not in out, \
                        out[-5000:]
                    assert rc == 0, (rc, out[-3000:])
        finally:
            self.agents = []
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
    """The per-recipient fields of a multipart/report (lower-case keys);
    message/global-delivery-status (RFC 6533, UTF-8 addresses) too."""
    assert msg.get_content_type() == "multipart/report", msg.get_content_type()
    assert msg.get_param("report-type") == "delivery-status"
    status = msg.get_payload()[1]
    fields = {}
    if status.get_content_type() == "message/global-delivery-status":
        # the part as sent: its header, the per-message fields, then a
        # block per recipient
        text = status.as_bytes().decode("utf-8", "replace")
        for block in re.split(r"\r?\n\r?\n", unfold(text).strip())[2:]:
            for line in block.splitlines():
                k, _, v = line.partition(":")
                fields[k.strip().lower()] = v.strip()
        return fields
    assert status.get_content_type() == "message/delivery-status"
    for b in status.get_payload()[1:]:
        fields.update({k.lower(): v for k, v in b.items()})
    return fields


def verify_dkim(mailctl, env, data, tmp_path):
    """mailctl dkim verify on data with the test zone's keys."""
    f = tmp_path / "signed.eml"
    f.write_bytes(data)
    return mailctl("dkim", "verify", str(f), env=env)


