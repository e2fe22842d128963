"""The SMTP sink itself, driven by smtplib and a raw socket: accepting
(params, dot-unstuffing, CRLF), rejected and tempfailed recipients,
scripted replies, STARTTLS with SNI, AUTH PLAIN/LOGIN, pipelined BDAT,
two sinks on one port of different loopback addresses."""
import smtplib
import socket
import ssl
import subprocess

import pytest

from smtp_sink import SmtpSink

BODY = b"Subject: hi\r\n\r\n.hidden dot\r\nline two\r\n"


@pytest.fixture
def sink():
    s = SmtpSink("127.0.0.2")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
         "-subj", "/CN=mx.test", "-addext", "subjectAltName=DNS:mx.test",
         "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem")],
        check=True, capture_output=True)
    return str(d / "cert.pem"), str(d / "key.pem")


def client(sink):
    c = smtplib.SMTP(sink.host, sink.port, local_hostname="client.test",
                     timeout=5)
    c.ehlo()
    return c


def test_accepts_and_records(sink):
    with client(sink) as c:
        assert c.has_extn("pipelining") and c.has_extn("chunking")
        assert not c.has_extn("starttls") and not c.has_extn("auth")
        refused = c.sendmail("a@x.test", ["b@y.test", "c@y.test"], BODY,
                             mail_options=["SMTPUTF8", "BODY=8BITMIME"],
                             rcpt_options=["NOTIFY=FAILURE"])
        assert refused == {}
    m = sink.wait(1)[0]
    assert m["mail_from"] == "a@x.test"
    assert m["mail_params"] == {"SIZE": str(len(BODY)), "SMTPUTF8": None,
                                "BODY": "8BITMIME"}
    assert m["to"] == ["b@y.test", "c@y.test"]
    assert m["rcpts"][0]["params"] == {"NOTIFY": "FAILURE"}
    assert m["data"] == BODY
    assert (m["helo"], m["tls"], m["bdat"], m["auth_user"]) == (
        "client.test", False, False, None)
    assert sink.connections == 1


def test_reject_and_tempfail():
    with SmtpSink("127.0.0.2", reject_rcpt={
            "x@y.test": "550 5.1.1 no such user"}) as s, client(s) as c:
        refused = c.sendmail("a@x.test", ["x@y.test", "ok@y.test"], BODY)
        assert refused == {"x@y.test": (550, b"5.1.1 no such user")}
        assert s.wait(1)[0]["to"] == ["ok@y.test"]
    with SmtpSink("127.0.0.2", tempfail_all=True) as s, client(s) as c:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
            c.sendmail("a@x.test", ["b@y.test"], BODY)
        assert e.value.recipients["b@y.test"][0] == 451
        assert s.messages == []


def test_script_stages():
    seen = []

    def reply(stage, arg, session):
        seen.append(stage)
        if stage == "data":
            return "452 4.3.1 out of space\nplease retry"
        if stage == "mail" and arg == "bad@x.test":
            return "553 5.1.8 bad sender"
        return None

    with SmtpSink("127.0.0.2", script=reply) as s, client(s) as c:
        with pytest.raises(smtplib.SMTPSenderRefused):
            c.sendmail("bad@x.test", ["b@y.test"], BODY)
        c.rset()
        with pytest.raises(smtplib.SMTPDataError) as e:
            c.sendmail("a@x.test", ["b@y.test"], BODY)
        assert e.value.smtp_code == 452
        assert e.value.smtp_error == b"4.3.1 out of space\nplease retry"
        assert s.messages == [] and len(s.rejected) == 1
    assert seen[:2] == ["connect", "ehlo"] and "data_cmd" in seen
    with SmtpSink("127.0.0.2", script={"connect": "554 5.3.2 go away"}) as s:
        with pytest.raises(smtplib.SMTPConnectError):
            smtplib.SMTP(s.host, s.port, timeout=5)
    with SmtpSink("127.0.0.2", script={"data": "DISCONNECT"}) as s:
        with client(s) as c, pytest.raises(smtplib.SMTPServerDisconnected):
            c.sendmail("a@x.test", ["b@y.test"], BODY)
        assert s.messages == [] and len(s.rejected) == 1


def test_starttls_and_auth(cert):
    users = {"u@x.test": "secret"}
    with SmtpSink("127.0.0.2", tls_cert=cert[0], tls_key=cert[1],
                  auth=users, require_tls=True) as s, client(s) as c:
        assert c.has_extn("starttls") and "PLAIN" in c.esmtp_features["auth"]
        with pytest.raises(smtplib.SMTPSenderRefused):
            c.sendmail("a@x.test", ["b@y.test"], BODY)
        ctx = ssl.create_default_context(cafile=cert[0])
        c._host = "mx.test"  # the SNI smtplib sends
        c.starttls(context=ctx)
        c.ehlo("client.test")
        with pytest.raises(smtplib.SMTPAuthenticationError):
            c.login("u@x.test", "wrong")
        c.login("u@x.test", "secret")
        c.sendmail("a@x.test", ["b@y.test"], BODY)
        m = s.wait(1)[0]
        assert m["tls"] and m["tls_version"].startswith("TLSv1")
        assert (m["sni"], m["auth_user"]) == ("mx.test", "u@x.test")
    with SmtpSink("127.0.0.2", auth=users) as s, client(s) as c:
        c.user, c.password = "u@x.test", "secret"
        code, _ = c.auth("LOGIN", c.auth_login, initial_response_ok=False)
        assert code == 235 and s.sessions[0].auth_user == "u@x.test"


def read_replies(f, n):
    """n complete replies (their last lines) from a raw socket file."""
    out = []
    while len(out) < n:
        line = f.readline()
        assert line, "connection closed"
        if line[3:4] == b" ":
            out.append(line)
    return out


def test_bdat_pipelined_and_shared_port():
    a = SmtpSink("127.0.0.2")
    b = SmtpSink("127.0.0.3", port=a.port)
    try:
        with socket.create_connection((b.host, b.port), timeout=5) as sock:
            f = sock.makefile("rb")
            sock.sendall(b"EHLO raw.test\r\nMAIL FROM:<a@x.test>\r\n"
                         b"RCPT TO:<b@y.test>\r\nBDAT 7\r\nhello\r\n"
                         b"BDAT 8 LAST\r\n.world\r\nQUIT\r\n")
            replies = read_replies(f, 7)
            assert [r[:3] for r in replies] == [
                b"220", b"250", b"250", b"250", b"250", b"250", b"221"]
        m = b.wait(1)[0]
        assert m["bdat"] and m["data"] == b"hello\r\n.world\r\n"
        assert a.messages == [] and a.connections == 0
    finally:
        a.stop()
        b.stop()
