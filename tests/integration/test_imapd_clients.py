"""mc-imapd with the real clients users run: mbsync (isync) syncing
several folders both ways over IMAPS, curl (imap:// with STARTTLS and
imaps://) reading, listing and searching, and fetchmail fetching and
deleting over IMAP. Messages come in through mc-smtpd."""
import email
import os
import subprocess

import pytest

from imap_helpers import deliver, imap, mail  # noqa: F401
from imap_helpers import imapd_exits_cleanly  # noqa: F401 (autouse)


def maildir_messages(folder):
    """The messages of a local Maildir folder as (flags, bytes)."""
    out = []
    for sub in ("new", "cur"):
        d = os.path.join(folder, sub)
        for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            flags = name.split(":2,")[1] if ":2," in name else ""
            with open(os.path.join(d, name), "rb") as f:
                out.append((flags, f.read()))
    return out


def subject(raw):
    return email.message_from_bytes(raw)["Subject"]


@pytest.fixture
def mbsync(mail, stack, tmp_path):
    """Runs mbsync with a private configuration; returns (run, local)."""
    local = tmp_path / "mail"
    local.mkdir()
    rc = tmp_path / "mbsyncrc"
    rc.write_text(
        f"IMAPAccount mc\nHost localhost\nPort {stack.port('imaps')}\n"
        f"User {mail.alice}\nPass {mail.passwords[mail.alice]}\n"
        f"SSLType IMAPS\nCertificateFile {stack.ca}\n\n"
        f"IMAPStore remote\nAccount mc\n\n"
        f"MaildirStore local\nPath {local}/\nInbox {local}/INBOX\n"
        f"SubFolders Verbatim\n\n"
        f"Channel sync\nFar :remote:\nNear :local:\nPatterns *\n"
        f"Create Both\nExpunge Both\nSyncState *\n")

    def run():
        r = subprocess.run(["mbsync", "-c", str(rc), "-a"], capture_output=True,
                           text=True, timeout=60, env=dict(os.environ, HOME=str(tmp_path)))
        assert r.returncode == 0, r.stdout + r.stderr
        return r
    return run, local


def test_mbsync_syncs_folders_both_ways(mail, stack, mbsync):
    run, local = mbsync
    for i in range(3):
        deliver(stack, mail.alice, f"inbox {i}")
    c = imap(stack, mail, mail.alice)
    c.create("Projects")
    c.append("Projects", None, None, b"Subject: plan\r\n\r\nthe plan\r\n")
    c.logout()
    run()
    inbox = maildir_messages(local / "INBOX")
    assert sorted(subject(m) for _, m in inbox) == ["inbox 0", "inbox 1", "inbox 2"]
    assert [subject(m) for _, m in maildir_messages(local / "Projects")] == ["plan"]
    assert (local / "Sent").is_dir() and (local / "Trash").is_dir()
    # local changes: a new folder with a message, a flag, a deletion
    (local / "Notes" / "cur").mkdir(parents=True)
    for d in ("new", "tmp"):
        (local / "Notes" / d).mkdir()
    (local / "Notes" / "cur" / "1.local:2,S").write_bytes(
        b"From: me@example.org\r\nSubject: written offline\r\n\r\nhi\r\n")
    names = sorted(os.listdir(local / "INBOX" / "cur")) + \
        sorted(os.listdir(local / "INBOX" / "new"))
    first = next(p for p in (local / "INBOX" / "cur").iterdir()) \
        if os.listdir(local / "INBOX" / "cur") else next((local / "INBOX" / "new").iterdir())
    seen = first.parent.parent / "cur" / (first.name.split(":2,")[0] + ":2,FS")
    os.rename(first, seen)
    victim = next(p for p in list((local / "INBOX" / "cur").iterdir()) +
                  list((local / "INBOX" / "new").iterdir()) if p != seen)
    victim_subject = subject(victim.read_bytes())
    victim.unlink()
    assert len(names) == 3
    run()
    c = imap(stack, mail, mail.alice)
    assert c.select("Notes")[1] == [b"1"]
    typ, data = c.fetch("1", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert b"written offline" in data[0][1] and b"\\Seen" in data[0][0]
    c.select("INBOX")
    typ, data = c.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    subjects = [d[1] for d in data if isinstance(d, tuple)]
    assert len(subjects) == 2 and not any(victim_subject.encode() in s for s in subjects)
    assert b"\\Flagged" in b"".join(d[0] for d in data if isinstance(d, tuple))
    c.logout()
    run()  # nothing left to do: a third run changes nothing
    assert len(maildir_messages(local / "INBOX")) == 2


def curl(stack, mail, url, *extra):
    r = subprocess.run(["curl", "-sS", "--cacert", stack.ca, "-u",
                        f"{mail.alice}:{mail.passwords[mail.alice]}", *extra, url],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_curl_reads_lists_and_searches(mail, stack):
    raw = deliver(stack, mail.alice, "for curl", body="curl body\r\n")
    deliver(stack, mail.alice, "another one")
    imaps = f"imaps://127.0.0.1:{stack.port('imaps')}"
    listing = curl(stack, mail, imaps + "/")
    assert b"INBOX" in listing and b"\\Sent" in listing
    got = curl(stack, mail, imaps + "/INBOX;UID=1")
    assert got.endswith(raw)
    found = curl(stack, mail, imaps + "/INBOX?SUBJECT%20curl")
    assert found.strip() == b"* SEARCH 1"
    plain = f"imap://127.0.0.1:{stack.port('imap')}"
    got = curl(stack, mail, plain + "/INBOX;UID=2", "--ssl-reqd")
    assert b"another one" in got


def test_fetchmail_fetches_and_deletes_over_imap(mail, stack, tmp_path):
    for i in range(2):
        deliver(stack, mail.alice, f"fm {i}")
    out = tmp_path / "mbox"
    rc = tmp_path / "fetchmailrc"
    rc.write_text(
        f'set no syslog\n'
        f'poll 127.0.0.1 with proto IMAP port {stack.port("imaps")} timeout 15\n'
        f'  user "{mail.alice}" there with password "{mail.passwords[mail.alice]}" '
        f'is "nobody" here\n'
        f'  ssl sslcertck sslcertfile "{stack.ca}" sslcommonname localhost\n'
        f'  fetchall mda "cat >> {out}"\n')
    rc.chmod(0o600)
    r = subprocess.run(["fetchmail", "-f", str(rc), "--nodetach", "-v"],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, HOME=str(tmp_path), FETCHMAILHOME=str(tmp_path)))
    assert r.returncode == 0, r.stdout + r.stderr
    got = out.read_bytes()
    assert got.count(b"Subject: fm ") == 2
    c = imap(stack, mail, mail.alice)
    assert c.select("INBOX")[1] == [b"0"]  # fetched, deleted, expunged
    c.logout()
