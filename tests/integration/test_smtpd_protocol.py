"""mc-smtpd at the protocol level, with raw sockets where the exact bytes
matter: PIPELINING (replies in order), BDAT chunks, 8BITMIME and SMTPUTF8
stored byte-exact, the recipient limit, VRFY, SMTP smuggling attempts
(bare LF around a dot never ends DATA); new-mail notifications on Redis;
STARTTLS and its Received: header, and certificates picked by SNI."""
import re
import socket
import ssl
import subprocess

from smtp_helpers import smtpd_exits_cleanly  # noqa: F401 (autouse fixture)
from smtp_helpers import (HELO, Raw, Resp, Tenant, connect, mailbox, message,
                          queue_id, send, start_smtpd, stored, swaks, tls_context,
                          transaction)

SENDER = "sender@example.org"


def lines(*cmds):
    return b"".join(c.encode() + b"\r\n" for c in cmds)


def test_pipelining_replies_come_in_order(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice, bob = t.user("alice"), t.user("bob")
    nobody = f"nobody@{t.domain}"
    start_smtpd(daemon)
    c = Raw(stack)
    assert b"PIPELINING" in c.ehlo()
    c.send(lines(f"MAIL FROM:<{SENDER}>", f"RCPT TO:<{alice}>", f"RCPT TO:<{nobody}>",
                 f"RCPT TO:<{bob}>", "DATA"))
    replies = [c.reply() for _ in range(5)]
    assert [r[0] for r in replies] == [250, 250, 550, 250, 354]
    assert replies[1][1] == [f"2.1.5 <{alice}>: Recipient OK".encode()]
    assert replies[2][1][0].startswith(f"5.1.1 <{nobody}>".encode())
    assert replies[3][1] == [f"2.1.5 <{bob}>: Recipient OK".encode()]
    data = message(uniq)
    c.send(data + b".\r\n" + lines("NOOP", "QUIT"))
    code, text = c.reply()
    assert code == 250 and text[0].startswith(b"2.0.0 OK: queued as "), text
    assert c.reply() == (250, [b"2.0.0 OK"])
    assert c.reply() == (221, [b"2.0.0 mail.demo.test closing connection"])
    c.close()
    [a], [b] = mailbox(stack, alice), mailbox(stack, bob)
    assert a["msg_id"] == b["msg_id"]
    stored(stack, a, data)


def test_pipelining_with_swaks(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice, bob = t.user("alice"), t.user("bob")
    start_smtpd(daemon)
    r = swaks(stack, "--pipeline", "--from", SENDER, "--to", f"{alice},{bob}",
              "--data", f"Subject: pipelined {uniq}\\n\\nbody {uniq}")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert re.search(r" -> MAIL FROM:.*\n -> RCPT TO:.*\n -> RCPT TO:.*\n -> DATA\n", out), out
    body = f"\r\n\r\nbody {uniq}\r\n".encode()
    for u in (alice, bob):
        [row] = mailbox(stack, u)
        stored(stack, row, body)


def test_bdat_chunks(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice = t.user("alice")
    start_smtpd(daemon)
    c = Raw(stack)
    assert b"CHUNKING" in c.ehlo()
    c.send(lines(f"MAIL FROM:<{SENDER}> BODY=BINARYMIME", f"RCPT TO:<{alice}>"))
    assert [c.reply()[0] for _ in range(2)] == [250, 250]
    one = message(uniq, body=b"first line\r\n.a line with a dot, kept\r\nhalf a ")
    two = b"line\r\n\r\n.\r\nnot the end: BDAT counts bytes\r\n\x00\xff binary\r\n"
    c.send(b"BDAT %d\r\n" % len(one) + one)
    assert c.reply() == (250, [b"2.0.0 %d octets received" % len(one)])
    c.send(b"BDAT %d\r\n" % len(two) + two)
    assert c.reply() == (250, [b"2.0.0 %d octets received" % (len(one) + len(two))])
    code, text = c.cmd("BDAT 0 LAST")
    assert code == 250 and text[0].startswith(b"2.0.0 OK: queued as "), text
    # a whole message in one pipelined write: MAIL, RCPT, BDAT n LAST
    three = message(uniq + "-3")
    c.send(lines(f"MAIL FROM:<{SENDER}>", f"RCPT TO:<{alice}>") +
           b"BDAT %d LAST\r\n" % len(three) + three)
    assert [c.reply()[0] for _ in range(3)] == [250, 250, 250]
    assert c.cmd("QUIT")[0] == 221
    c.close()
    rows = mailbox(stack, alice)
    assert [r["uid"] for r in rows] == [1, 2]
    stored(stack, rows[0], one + two)
    stored(stack, rows[1], three)


def test_8bitmime_body_is_stored_byte_exact(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice = t.user("alice")
    start_smtpd(daemon)
    eight = bytes(b for b in range(0x80, 0x100))
    data = message(uniq, extra=b"Content-Type: text/plain; charset=iso-8859-1\r\n"
                   b"Content-Transfer-Encoding: 8bit\r\nX-Latin: caf\xe9\r\n",
                   body=b"caf\xe9 cr\xe8me br\xfbl\xe9e\r\n" + eight + b"\r\n")
    c = Raw(stack)
    assert b"8BITMIME" in c.ehlo()
    c.send(lines(f"MAIL FROM:<{SENDER}> BODY=8BITMIME", f"RCPT TO:<{alice}>", "DATA"))
    assert [c.reply()[0] for _ in range(3)] == [250, 250, 354]
    c.send(data + b".\r\n")
    assert c.reply()[0] == 250
    c.close()
    [row] = mailbox(stack, alice)
    stored(stack, row, data)


def test_smtputf8_sender_to_a_local_user(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice = t.user("alice")
    start_smtpd(daemon)
    sender = "üser@example.org"
    data = ("From: Üser <üser@example.org>\r\nTo: " + alice + "\r\n"
            "Subject: grüße " + uniq + "\r\n\r\nschöne grüße\r\n").encode()
    c = Raw(stack)
    assert b"SMTPUTF8" in c.ehlo()
    assert c.cmd(f"MAIL FROM:<{sender}>".encode()) == (
        553, [b"5.6.7 Non-ASCII address requires SMTPUTF8"])
    c.send(f"MAIL FROM:<{sender}> SMTPUTF8\r\nRCPT TO:<{alice}>\r\nDATA\r\n".encode())
    assert [c.reply()[0] for _ in range(3)] == [250, 250, 354]
    c.send(data + b".\r\n")
    code, text = c.reply()
    assert code == 250, text
    c.close()
    [row] = mailbox(stack, alice)
    blob = stored(stack, row, data)
    assert re.search(rb"\tby mail\.demo\.test \(mailcore\) with UTF8SMTP id ", blob)
    [[subject]] = stack.psql(f"SELECT subject FROM messages WHERE id = {row['msg_id']}")
    assert subject == f"grüße {uniq}"


def test_recipient_limit(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice = t.user("alice")
    start_smtpd(daemon)
    c = Raw(stack)
    c.ehlo()
    rcpts = [f"alice+{i}@{t.domain}" for i in range(101)]
    c.send(lines(f"MAIL FROM:<{SENDER}>", *(f"RCPT TO:<{r}>" for r in rcpts)))
    assert c.reply()[0] == 250
    replies = [c.reply() for _ in rcpts]
    assert [r[0] for r in replies[:100]] == [250] * 100
    assert replies[100] == (452, [b"4.5.3 Too many recipients"])
    assert c.cmd("DATA")[0] == 354
    data = message(uniq)
    c.send(data + b".\r\n")
    assert c.reply()[0] == 250
    c.close()
    [row] = mailbox(stack, alice)  # one copy for the one user
    stored(stack, row, data)


def test_vrfy_is_252(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice = t.user("alice")
    start_smtpd(daemon)
    s = connect(stack)
    answer = (252, b"2.5.0 Cannot VRFY user, but will accept message and attempt delivery")
    assert s.vrfy(alice) == answer
    assert s.vrfy(f"nobody@{t.domain}") == answer  # no user enumeration
    s.quit()


def test_bare_lf_dot_does_not_end_the_message(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice, bob = t.user("alice"), t.user("bob")
    start_smtpd(daemon)
    c = Raw(stack)
    c.ehlo()
    c.send(lines(f"MAIL FROM:<{SENDER}>", f"RCPT TO:<{alice}>", "DATA"))
    assert [c.reply()[0] for _ in range(3)] == [250, 250, 354]
    head = message(uniq, body=b"")
    smuggled = (b"first\n.\nMAIL FROM:<evil@example.org>\nRCPT TO:<" + bob.encode() +
                b">\nDATA\nsmuggled one\r\n.\nRSET\r\nMAIL FROM:<evil@example.org>\r\n"
                b"RCPT TO:<" + bob.encode() + b">\r\nDATA\r\nsmuggled two\n.\r\n"
                b"QUIT\r\n")
    c.send(head + smuggled + b"..dot-stuffed\r\nlast\r\n.\r\n" + lines("NOOP"))
    code, text = c.reply()
    assert code == 250 and text[0].startswith(b"2.0.0 OK: queued as "), text
    assert c.reply() == (250, [b"2.0.0 OK"])  # nothing in between
    c.close()
    [row] = mailbox(stack, alice)
    stored(stack, row, head + smuggled + b".dot-stuffed\r\nlast\r\n")
    assert mailbox(stack, bob) == []


# -- 10. notifications ------------------------------------------------------

def test_delivery_publishes_new_mail(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice = t.user("alice")
    [[user_id]] = stack.psql(f"SELECT id FROM users WHERE tenant_id = {t.id}")
    channel = f"mc:mbox:{t.id}:{user_id}"
    start_smtpd(daemon)
    sub = Resp(stack)
    try:
        assert sub.cmd("SUBSCRIBE", channel) == ["subscribe", channel, 1]
        for uid in (1, 2):
            send(stack, SENDER, [alice], message(f"{uniq}-{uid}"))
            kind, chan, text = sub.read()
            row = mailbox(stack, alice)[uid - 1]
            assert (kind, chan) == ("message", channel)
            assert text == f"new {row['mailbox_id']} {uid} {row['modseq']}"
    finally:
        sub.close()


# -- 11. TLS ------------------------------------------------------------------

def test_starttls_on_mx_and_the_received_header(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice = t.user("alice")
    start_smtpd(daemon)
    s = connect(stack)
    assert "starttls" in s.esmtp_features
    assert s.starttls(context=tls_context(stack))[0] == 220  # verifies 127.0.0.1
    assert s.mail(SENDER) == (503, b"5.5.1 Send EHLO/HELO first")  # EHLO forgotten
    s.ehlo()
    assert "starttls" not in s.esmtp_features
    data = message(uniq)
    code, text = transaction(s, SENDER, [alice], data)
    assert code == 250
    version, cipher = s.sock.version(), s.sock.cipher()[0]
    s.close()
    [row] = mailbox(stack, alice)
    want = (f"Received: from {HELO} ([127.0.0.1])\r\n"
            f"\t(using {version} with cipher {cipher})\r\n"
            f"\tby mail.demo.test (mailcore) with ESMTPS id {queue_id(text)}\r\n"
            f"\tfor <{alice}>; ").encode()
    assert stored(stack, row, data).startswith(want)


def test_quit_after_starttls_is_answered(stack, mailctl, daemon, uniq):
    start_smtpd(daemon)
    s = connect(stack, starttls=True)
    assert s.noop() == (250, b"2.0.0 OK")
    assert s.quit() == (221, b"2.0.0 mail.demo.test closing connection")


def make_cert(stack, name, directory):
    """NAME.pem + NAME.key in directory, signed by the dev CA."""
    directory.mkdir(exist_ok=True)
    key, pem = directory / f"{name}.key", directory / f"{name}.pem"
    csr, ext = directory.parent / "sni.csr", directory.parent / "sni.ext"
    tls = f"{stack.state}/tls"
    subprocess.run(["openssl", "req", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key),
                    "-out", str(csr), "-subj", f"/CN={name}"],
                   check=True, capture_output=True)
    ext.write_text(f"subjectAltName=DNS:{name}\nextendedKeyUsage=serverAuth\n")
    subprocess.run(["openssl", "x509", "-req", "-in", str(csr), "-CA", f"{tls}/ca.pem",
                    "-CAkey", f"{tls}/ca.key", "-CAserial",
                    str(directory.parent / "ca.srl"), "-CAcreateserial", "-days", "2",
                    "-extfile", str(ext), "-out", str(pem)],
                   check=True, capture_output=True)


def peer_names(stack, port, sni, starttls=False):
    """The DNS names of the certificate a client asking for sni gets."""
    sock = socket.create_connection(("127.0.0.1", stack.port(port)), timeout=10)
    if starttls:
        f = sock.makefile("rb")
        assert f.readline().startswith(b"220 ")
        sock.sendall(b"STARTTLS\r\n")
        assert f.readline().startswith(b"220 2.0.0")
        f.close()
    ctx = tls_context(stack, check_hostname=False)
    with ctx.wrap_socket(sock, server_hostname=sni) as tls:
        return sorted(v for k, v in tls.getpeercert()["subjectAltName"] if k == "DNS")


def test_sni_picks_the_certificate(stack, mailctl, daemon, uniq, tmp_path):
    name = f"mx.{uniq}.test"
    make_cert(stack, name, tmp_path / "sni")
    start_smtpd(daemon, MAILCORE_TLS_SNI_DIR=str(tmp_path / "sni"))
    default = ["demo.test", "localhost", "mail.demo.test"]
    assert peer_names(stack, "submissions", name) == [name]
    assert peer_names(stack, "submissions", name.upper()) == [name]
    assert peer_names(stack, "submissions", f"other.{uniq}.test") == default
    assert peer_names(stack, "submissions", "localhost") == default
    assert peer_names(stack, "smtp", name, starttls=True) == [name]
    assert peer_names(stack, "smtp", "localhost", starttls=True) == default
    # and the chosen certificate verifies for its name
    ctx = tls_context(stack)
    sock = socket.create_connection(("127.0.0.1", stack.port("submissions")), timeout=10)
    with ctx.wrap_socket(sock, server_hostname=name) as tls:
        assert tls.makefile("rb").readline().startswith(b"220 ")
    try:
        sock = socket.create_connection(("127.0.0.1", stack.port("submissions")), 10)
        ctx.wrap_socket(sock, server_hostname=f"other.{uniq}.test").close()
        raise AssertionError("the default certificate must not match other names")
    except ssl.SSLCertVerificationError:
        sock.close()


def test_stop_with_a_client_connected_is_clean(stack, daemon):
    d = daemon("mc-smtpd")  # not start_smtpd: this test checks the stop itself
    c = Raw(stack)
    c.ehlo()
    assert d.stop() == 0, d.output()[-3000:]
    out = d.output()
    assert "Sanitizer" not in out, out[-5000:]  # the open session is freed too
    rest = c.f.read()  # the daemon says goodbye before it goes
    assert rest.startswith(b"421 4.3.2 ") and b"shutting down" in rest, rest
    c.close()
