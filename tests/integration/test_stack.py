"""The dev stack of ops/stack.sh: a real PostgreSQL and Redis on loopback,
with passwords, reporting their status."""
import os
import subprocess

from conftest import OPS


def test_status_reports_both_running(stack):
    out = subprocess.run([os.path.join(OPS, "stack.sh"), "status"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout
    assert f"postgresql: running" in out.stdout
    assert f"127.0.0.1:{stack.pg_port}" in out.stdout
    assert f"redis: running" in out.stdout


def test_start_is_idempotent(stack):
    before = open(os.path.join(stack.state, "pg", "data", "postmaster.pid")).readline()
    subprocess.run([os.path.join(OPS, "stack.sh"), "start"], check=True,
                   capture_output=True)
    after = open(os.path.join(stack.state, "pg", "data", "postmaster.pid")).readline()
    assert before == after


def test_postgresql_needs_the_password_and_listens_on_loopback(stack):
    assert stack.psql("SHOW listen_addresses") == [["127.0.0.1"]]
    bad = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-p", str(stack.pg_port), "-U", "mailcore",
         "-d", "mailcore", "-c", "SELECT 1"],
        env=dict(os.environ, PGPASSWORD="wrong"), capture_output=True, text=True)
    assert bad.returncode != 0
    assert "password authentication failed" in bad.stderr


def test_redis_needs_the_password(stack):
    def cli(*args, password=None):
        env = dict(os.environ)
        env.pop("REDISCLI_AUTH", None)
        if password:
            env["REDISCLI_AUTH"] = password
        return subprocess.run(["redis-cli", "-p", str(stack.redis_port), *args],
                              env=env, capture_output=True, text=True).stdout
    assert "NOAUTH" in cli("PING")
    assert cli("PING", password=stack.redis_password).strip() == "PONG"
