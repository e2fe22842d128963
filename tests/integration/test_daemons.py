"""The frontends as processes: they load the configuration, refuse a
broken one with a clear message, open their listeners (TLS 1.2+ on the
implicit-TLS ports), wait for PostgreSQL instead of crashing, log that
they are ready and stop cleanly on SIGTERM."""
import json
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request

import pytest

import ports

GREETINGS = {
    "mc-smtpd": [("smtp", b"220 "), ("submission", b"220 "),
                 ("submissions", b"220 ")],
    "mc-imapd": [("imap", b"* OK [CAPABILITY "), ("imaps", b"* OK [CAPABILITY ")],
    "mc-pop3d": [("pop3", b"+OK "), ("pop3s", b"+OK ")],
}
TLS_PORTS = {"submissions", "imaps", "pop3s", "https"}


def tls_context(stack, **kw):
    ctx = ssl.create_default_context(cafile=stack.ca)
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


def read_line(stack, name):
    """Connects to a listener (TLS when implicit) and reads the first line."""
    sock = socket.create_connection(("127.0.0.1", stack.port(name)), timeout=10)
    if name in TLS_PORTS:
        sock = tls_context(stack).wrap_socket(sock, server_hostname="localhost")
    with sock:
        return sock.makefile("rb").readline()


@pytest.mark.parametrize("name", sorted(GREETINGS))
def test_daemon_greets_on_every_listener_then_stops(stack, daemon, name):
    d = daemon(name)
    for listener, greeting in GREETINGS[name]:
        line = read_line(stack, listener)
        assert line.startswith(greeting) and line.endswith(b"\r\n"), (listener, line)
    assert d.stop() == 0
    assert f"{name} stopped" in d.output()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", stack.port(GREETINGS[name][0][0])), 2)


def test_webd_answers_problem_json_over_http_and_https(stack, daemon):
    daemon("mc-webd")
    for scheme, port, ctx in (("http", "http", None), ("https", "https", tls_context(stack))):
        for path, status in (("/api/v1/tenants", 401), ("/nothing", 404)):
            url = f"{scheme}://localhost:{stack.port(port)}{path}"
            with pytest.raises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(url, timeout=10, context=ctx)
            assert e.value.code == status
            assert e.value.headers["Content-Type"] == "application/problem+json"
            body = json.loads(e.value.read())
            assert body["status"] == status and body["type"].startswith("https://")


def test_deliverd_becomes_ready_and_stops(daemon):
    d = daemon("mc-deliverd")
    assert d.stop() == 0


def test_tls_below_1_2_is_refused(stack, daemon):
    daemon("mc-imapd")
    ctx = tls_context(stack)
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    sock = socket.create_connection(("127.0.0.1", stack.port("imaps")), timeout=10)
    with pytest.raises(ssl.SSLError):
        ctx.wrap_socket(sock, server_hostname="localhost")
    sock.close()
    # and TLS 1.2 exactly works
    ctx = tls_context(stack, maximum_version=ssl.TLSVersion.TLSv1_2)
    with ctx.wrap_socket(socket.create_connection(
            ("127.0.0.1", stack.port("imaps")), timeout=10),
            server_hostname="localhost") as s:
        assert s.version() == "TLSv1.2"


def broken(stack, tmp_path, extra):
    conf = tmp_path / "broken.conf"
    conf.write_text(open(stack.conf).read() + extra)
    return conf, len(conf.read_text().splitlines())


def test_broken_config_refuses_to_start_and_says_why(stack, daemon, tmp_path):
    conf, n = broken(stack, tmp_path, "\n[smtpd]\nlisten_mx = somewhere:25\n")
    d = daemon("mc-smtpd", config=str(conf), ready=False)
    assert d.proc.wait(10) == 78
    assert f'{conf}:{n}: [smtpd] listen_mx: bad value "somewhere:25"' in d.output()

    conf, n = broken(stack, tmp_path, "\n[imapd]\ncolour = blue\n")
    d = daemon("mc-imapd", config=str(conf), ready=False)
    assert d.proc.wait(10) == 78
    assert f'{conf}:{n}: unknown key "colour" in section [imapd]' in d.output()

    d = daemon("mc-pop3d", env={"MAILCORE_SERVER_WORKERS": "zero"}, ready=False)
    assert d.proc.wait(10) == 78
    assert 'MAILCORE_SERVER_WORKERS: bad value "zero"' in d.output()

    d = daemon("mc-webd", config=str(tmp_path / "missing.conf"), ready=False)
    assert d.proc.wait(10) == 78
    assert "missing.conf" in d.output()


def test_missing_certificate_is_a_startup_error(stack, daemon, tmp_path):
    d = daemon("mc-imapd", env={"MAILCORE_TLS_CERT": str(tmp_path / "nope.pem")},
               ready=False)
    assert d.proc.wait(10) != 0
    assert "nope.pem" in d.output()


def test_port_in_use_is_a_startup_error(stack, daemon):
    holder = socket.socket()
    # SO_REUSEADDR lets the holder bind despite TIME_WAIT left by earlier
    # tests; without SO_REUSEPORT it still excludes every other listener.
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", stack.port("pop3")))
    holder.listen()
    try:
        d = daemon("mc-pop3d", ready=False)
        assert d.proc.wait(10) == 1
        assert f"127.0.0.1:{stack.port('pop3')}" in d.output()
        assert "in use" in d.output()
    finally:
        holder.close()


def proxy(listen_port, target_port, stop):
    """A TCP relay from listen_port to the stack's PostgreSQL."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", listen_port))
    srv.listen()
    srv.settimeout(0.2)

    def pump(a, b):
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            a.close()
            b.close()
    while not stop.is_set():
        try:
            c, _ = srv.accept()
        except socket.timeout:
            continue
        u = socket.create_connection(("127.0.0.1", target_port))
        for a, b in ((c, u), (u, c)):
            threading.Thread(target=pump, args=(a, b), daemon=True).start()
    srv.close()


def test_daemon_waits_for_the_database_instead_of_crashing(stack, daemon):
    port = ports.free_port()
    conninfo = (f"host=127.0.0.1 port={port} dbname=mailcore user=mailcore "
                f"password={stack.pg_password}")
    d = daemon("mc-deliverd", ready=False, env={
        "MAILCORE_DATABASE_CONNINFO": conninfo,
        "MAILCORE_DATABASE_RETRY_MAX_DELAY": "500ms"})
    d.wait_for("database unavailable, retrying")
    time.sleep(1)
    assert d.proc.poll() is None, d.output()
    assert stack.pg_password not in d.output()
    stop = threading.Event()
    t = threading.Thread(target=proxy, args=(port, stack.pg_port, stop), daemon=True)
    t.start()
    try:
        d.wait_for(" ready:", timeout=20)
        assert d.stop() == 0
    finally:
        stop.set()
        t.join(5)


def test_sigterm_while_waiting_for_the_database_exits_cleanly(stack, daemon):
    d = daemon("mc-smtpd", ready=False, env={
        "MAILCORE_DATABASE_CONNINFO": f"host=127.0.0.1 port={ports.free_port()} "
                                      "dbname=x user=x"})
    d.wait_for("database unavailable, retrying")
    assert d.stop() == 0


def test_check_mode_validates_the_configuration(stack):
    import subprocess
    r = subprocess.run([f"{stack.bin}/mc-smtpd", "-c", stack.conf, "-t"],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "is valid" in r.stdout


def test_json_log_lines(stack, daemon):
    d = daemon("mc-pop3d", env={"MAILCORE_SERVER_LOG_FORMAT": "json"})
    ready = [json.loads(l) for l in d.output().splitlines() if " ready:" in l]
    assert ready and ready[0]["level"] == "info" and ready[0]["proc"] == "mc-pop3d"
