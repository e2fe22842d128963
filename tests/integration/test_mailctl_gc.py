"""mailctl store gc against the real stack: an old orphan blob (a delivery
whose commit failed) and an old temp file (a crashed writer) under
$MAILCORE_STATE/blobs go; a blob a delivered message uses stays even when
old, and young orphans and temp files stay inside --min-age. Bad
durations are usage errors (exit 2)."""
import hashlib
import os
import re
import time

from smtp_helpers import smtpd_exits_cleanly  # noqa: F401 (autouse fixture)
from smtp_helpers import Tenant, blob, blob_path, mailbox, message, ok, send, start_smtpd

SENDER = "sender@example.org"
GC_LINE = re.compile(r"gc: (\d+) message rows, (\d+) blobs \((\d+) bytes\), "
                     r"(\d+) temp files removed\n")


def write(path, data, age_s=0):
    """Writes data to path, its mtime age_s seconds ago."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    when = time.time() - age_s
    os.utime(path, (when, when))
    return path


def orphan(stack, data, age_s):
    """A blob file no message row names."""
    return write(blob_path(stack, hashlib.sha256(data).hexdigest()), data, age_s)


def test_gc_removes_orphans_and_stale_temp_files(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice = t.user("alice")
    start_smtpd(daemon)
    body = message(uniq)
    send(stack, SENDER, [alice], body)
    [row] = mailbox(stack, alice)
    used = blob_path(stack, row["sha256"])
    os.utime(used, (time.time() - 3600, time.time() - 3600))

    old_data = b"orphan of a failed commit " + uniq.encode()
    old = orphan(stack, old_data, 3600)
    young = orphan(stack, b"orphan in the margin " + uniq.encode(), 0)
    tmp = os.path.join(stack.state, "blobs", "tmp")
    stale = write(os.path.join(tmp, f"blob.{uniq}a"), b"partial", 3600)
    fresh = write(os.path.join(tmp, f"blob.{uniq}b"), b"being written", 0)

    try:
        r = ok(mailctl("store", "gc", "--min-age", "1m"))
        m = GC_LINE.fullmatch(r.stdout)
        assert m, r.stdout
        rows, blobs, freed, temps = map(int, m.groups())
        assert blobs >= 1 and freed >= len(old_data) and temps >= 1, r.stdout
        assert not os.path.exists(old)
        assert not os.path.exists(stale)
        assert os.path.exists(young) and os.path.exists(fresh)
        assert blob(stack, row["sha256"]).endswith(body)
        assert mailbox(stack, alice) == [row]

        r = ok(mailctl("store", "gc", "--min-age", "1m"))
        assert GC_LINE.fullmatch(r.stdout), r.stdout
        assert os.path.exists(used) and os.path.exists(young)
    finally:  # later tests expect no stray files in the shared store
        for path in (old, young, stale, fresh):
            if os.path.exists(path):
                os.unlink(path)


def test_gc_usage_errors(mailctl):
    for args in (["--min-age", "0"], ["--min-age", "30s"], ["--min-age", "soon"],
                 ["extra"], ["--min-age"]):
        r = mailctl("store", "gc", *args)
        assert r.returncode == 2, (args, r.returncode, r.stdout, r.stderr)
        assert r.stderr.count("\n") == 1 and r.stdout == "", (args, r.stderr)
