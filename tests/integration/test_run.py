"""The README's `make run` (ops/run.sh, after the build): brings up the
stack, the schema, the demo tenant and every frontend on the dev ports,
prints how to log in, stops everything on Ctrl-C and reuses its state on
the next run."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

import ports
from conftest import OPS


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def processes_using(state):
    """PIDs whose command line mentions the state directory."""
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = open(f"/proc/{pid}/cmdline", "rb").read()
            except OSError:
                continue
            if state.encode() in cmd:
                found.append(int(pid))
    return found


class Run:
    def __init__(self, state, env):
        self.out = open(os.path.join(state, "run.out"), "w+")
        self.proc = subprocess.Popen([os.path.join(OPS, "run.sh")], env=env,
                                     stdout=self.out, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def text(self):
        self.out.flush()
        with open(self.out.name) as f:
            return f.read()

    def wait_ready(self, timeout=90):
        deadline = time.monotonic() + timeout
        while "Press Ctrl-C to stop." not in self.text():
            assert self.proc.poll() is None, self.text()
            assert time.monotonic() < deadline, self.text()
            time.sleep(0.1)

    def ctrl_c(self):
        os.killpg(self.proc.pid, signal.SIGINT)
        return self.proc.wait(60)


def inbox_subjects(state, env, user):
    """Subjects in a demo user's INBOX, from the run's own database."""
    sql = ("SELECT m.subject FROM mailbox_messages mm JOIN mailboxes b ON "
           "b.tenant_id = mm.tenant_id AND b.id = mm.mailbox_id JOIN users u "
           "ON u.tenant_id = b.tenant_id AND u.id = b.user_id JOIN messages m "
           "ON m.tenant_id = mm.tenant_id AND m.id = mm.message_id WHERE "
           f"b.name = 'INBOX' AND u.local_part = '{user}' ORDER BY mm.uid")
    password = open(os.path.join(state, "secrets", "pg")).read().strip()
    out = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-p", env["MAILCORE_DEV_PG_PORT"], "-U",
         "mailcore", "-d", "mailcore", "-qAt", "-c", sql],
        env=dict(env, PGPASSWORD=password), capture_output=True, text=True,
        check=True)
    return out.stdout.splitlines()


def curl_api(state, offset, token, method, path, body=None):
    """One REST API call with curl, as the banner shows; (status, JSON)."""
    args = ["curl", "-sS", "--cacert", os.path.join(state, "tls", "ca.pem"),
            "-X", method, "-H", f"Authorization: Bearer {token}",
            "-w", "\n%{http_code}",
            f"https://localhost:{ports.DEV_PORTS['https'] + offset}{path}"]
    if body is not None:
        args += ["-H", "Content-Type: application/json", "-d", json.dumps(body)]
    out = subprocess.run(args, capture_output=True, text=True, timeout=60)
    text, _, status = out.stdout.rpartition("\n")
    return int(status), json.loads(text) if text.strip() else None


def check_api_with_curl(state, offset):
    """The provider token of make run creates a tenant, a domain and users;
    the tenant's admin token manages only its own domain."""
    assert "/secrets/api-token" in open(os.path.join(state, "run.out")).read()
    token = open(os.path.join(state, "secrets", "api-token")).read().strip()
    assert curl_api(state, offset, token, "POST", "/api/v1/tenants",
                    {"name": "acme"})[0] == 201
    assert curl_api(state, offset, token, "POST", "/api/v1/tenants/acme/domains",
                    {"name": "acme.test"})[0] == 201
    for local in ("ann", "ben"):
        status, user = curl_api(state, offset, token, "POST",
                                "/api/v1/domains/acme.test/users",
                                {"local_part": local, "password": "Acme-Passw0rd"})
        assert status == 201 and user["address"] == f"{local}@acme.test", user
    status, tok = curl_api(state, offset, token, "POST", "/api/v1/tokens",
                           {"name": "acme-admin", "role": "tenant",
                            "scope": {"tenant": "acme"}})
    assert status == 201, tok
    admin = tok["token"]
    status, page = curl_api(state, offset, admin, "GET", "/api/v1/domains/acme.test/users")
    assert status == 200 and [u["local_part"] for u in page["items"]] == ["ann", "ben"]
    assert curl_api(state, offset, admin, "PATCH", "/api/v1/domains/acme.test/users/ben",
                    {"display_name": "Ben"})[0] == 200
    for method, path in (("GET", "/api/v1/domains/demo.test/users"),
                         ("GET", "/api/v1/domains/demo.test"),
                         ("DELETE", "/api/v1/domains/demo.test/users/alice"),
                         ("GET", "/api/v1/tenants/demo")):
        status, problem = curl_api(state, offset, admin, method, path)
        assert status == 404 and "items" not in problem, (method, path, problem)


@pytest.fixture
def run_env(stack):
    state = tempfile.mkdtemp(prefix="mailcore-run.")
    os.chmod(state, 0o755)
    env = dict(os.environ, MAILCORE_STATE=state, MAILCORE_STACK_FAST="1",
               MAILCORE_DEV_PG_PORT=str(ports.free_port()),
               MAILCORE_DEV_REDIS_PORT=str(ports.free_port()),
               MAILCORE_DEV_PORT_OFFSET=str(ports.free_offset()))
    yield state, env, stack.bin
    subprocess.run([os.path.join(OPS, "stack.sh"), "stop"], env=env,
                   capture_output=True)
    shutil.rmtree(state, ignore_errors=True)


def check_external_delivery(state, offset, alice_pw, bin_dir):
    """The banner's outbound check: alice submits to example.net, the
    devnet sink receives it DKIM-signed, and mailctl verifies it against
    the key devnet's DNS publishes."""
    sent = subprocess.run(
        ["swaks", "--server", f"127.0.0.1:{ports.DEV_PORTS['submission'] + offset}",
         "--tls", "--auth-user", "alice@demo.test",
         "--auth-password", alice_pw, "--from", "alice@demo.test",
         "--to", "someone@example.net", "--header", "Subject: outbound check"],
        capture_output=True, text=True, timeout=60)
    assert "250 2.0.0 OK" in sent.stdout, sent.stdout + sent.stderr
    path = os.path.join(state, "sink", "0001.eml")
    deadline = time.monotonic() + 30
    while not os.path.exists(path):
        assert time.monotonic() < deadline, open(os.path.join(state, "log",
                                                              "mc-deliverd.log")).read()
        time.sleep(0.1)
    data = open(path, "rb").read()
    assert b"Subject: outbound check" in data
    assert re.search(rb"DKIM-Signature:.*\bd=demo\.test;", data, re.S), data[:800]
    verify = subprocess.run([os.path.join(bin_dir, "mailctl"), "-c",
                             os.path.join(state, "mailcore.conf"), "dkim", "verify", path],
                            capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0 and "result=pass" in verify.stdout, \
        verify.stdout + verify.stderr


def test_make_run_brings_everything_up_and_ctrl_c_stops_it(run_env):
    state, env, bin_dir = run_env
    offset = int(env["MAILCORE_DEV_PORT_OFFSET"])
    run = Run(state, env)
    run.wait_ready()
    text = run.text()
    alice_pw = re.search(r"alice@demo.test\s+password (\S+)", text).group(1)
    assert re.search(r"bob@demo.test\s+password \S+", text)
    for name, port in ports.DEV_PORTS.items():
        assert f"127.0.0.1:{port + offset}" in text, name
        socket.create_connection(("127.0.0.1", port + offset), timeout=5).close()
    users = subprocess.run([os.path.join(bin_dir, "mailctl"), "-c", os.path.join(state, "mailcore.conf"),
                            "user", "list", "demo.test"],
                           capture_output=True, text=True)
    assert [l.split()[0] for l in users.stdout.splitlines()[1:]] == [
        "alice@demo.test", "bob@demo.test"], users.stderr
    # The README's first check: swaks to alice lands in her INBOX.
    sent = subprocess.run(
        ["swaks", "--server", f"127.0.0.1:{ports.DEV_PORTS['smtp'] + offset}",
         "--to", "alice@demo.test", "--from", "someone@example.org",
         "--header", "Subject: make run check"],
        capture_output=True, text=True, timeout=60)
    assert "250 2.0.0 OK" in sent.stdout, sent.stdout + sent.stderr
    assert inbox_subjects(state, env, "alice") == ["make run check"]
    # ... and an IMAP client reads it (the README's curl line)
    read = subprocess.run(
        ["curl", "-sS", "--cacert", os.path.join(state, "tls", "ca.pem"), "-u",
         f"alice@demo.test:{alice_pw}",
         f"imaps://localhost:{ports.DEV_PORTS['imaps'] + offset}/INBOX;UID=1"],
        capture_output=True, text=True, timeout=60)
    assert "Subject: make run check" in read.stdout, read.stderr
    local = os.path.join(state, "mbsync-alice")
    os.makedirs(local)
    rc = os.path.join(state, "mbsyncrc")
    with open(rc, "w") as f:
        f.write(f"IMAPAccount a\nHost localhost\nPort {ports.DEV_PORTS['imaps'] + offset}\n"
                f"User alice@demo.test\nPass {alice_pw}\nSSLType IMAPS\n"
                f"CertificateFile {os.path.join(state, 'tls', 'ca.pem')}\n\n"
                f"IMAPStore r\nAccount a\n\nMaildirStore l\nPath {local}/\n"
                f"Inbox {local}/INBOX\n\nChannel c\nFar :r:\nNear :l:\n"
                f"Patterns INBOX\nCreate Near\nSyncState *\n")
    synced = subprocess.run(["mbsync", "-c", rc, "-a"], capture_output=True, text=True,
                            timeout=60, env=dict(env, HOME=state))
    assert synced.returncode == 0, synced.stderr
    got = [open(os.path.join(local, "INBOX", d, n)).read()
           for d in ("new", "cur") for n in os.listdir(os.path.join(local, "INBOX", d))]
    assert len(got) == 1 and "Subject: make run check" in got[0]
    check_api_with_curl(state, offset)
    check_external_delivery(state, offset, alice_pw, bin_dir)
    pg_pid = int(open(os.path.join(state, "pg", "data", "postmaster.pid")).readline())
    redis_pid = int(open(os.path.join(state, "redis", "redis.pid")).read())

    assert run.ctrl_c() == 0, run.text()
    assert not alive(pg_pid) and not alive(redis_pid)
    assert processes_using(state) == []
    for port in ports.DEV_PORTS.values():
        assert ports.is_free(port + offset)

    # A second run reuses the state: same database, same demo passwords.
    run = Run(state, env)
    run.wait_ready()
    assert f"alice@demo.test    password {alice_pw}" in run.text()
    assert inbox_subjects(state, env, "alice") == ["make run check"]
    assert run.ctrl_c() == 0
    assert processes_using(state) == []
