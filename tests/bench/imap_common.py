"""Shared by imap-load.py and imap-idle.py (Python 3 stdlib only): the
bench messages (the same bytes for every server), filling mailboxes
over IMAP APPEND or SMTP, the memory (RSS, PSS) and CPU time of a
server's process tree read from /proc, and the ratio tables."""
import datetime
import imaplib
import os
import random
import re
import smtplib
import socket
import threading
import time

WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf",
         "hotel", "india", "juliet"]
VOCAB = ("lorem ipsum dolor sit amet consectetur adipiscing elit sed do "
         "eiusmod tempor incididunt ut labore et dolore magna aliqua enim "
         "minim veniam quis nostrud exercitation ullamco laboris nisi "
         "aliquip commodo consequat duis aute irure reprehenderit").split()
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
          "Oct", "Nov", "Dec"]


def user_name(u, domain):
    """The login of user number u (1-based)."""
    return f"user{u}@{domain}"


def password(u):
    """The password of user number u (the same on every server)."""
    return f"bench-pw-{u}"


def base_day():
    """Today at 12:00 UTC: message j of the fill is dated j days before."""
    d = datetime.datetime.now(datetime.timezone.utc)
    return d.replace(hour=12, minute=0, second=0, microsecond=0)


def imap_date(d):
    """An IMAP date (SEARCH SINCE) of a datetime."""
    return f"{d.day:02d}-{MONTHS[d.month - 1]}-{d.year}"


def internal_date(d):
    """A quoted IMAP date-time (APPEND) of a datetime in UTC."""
    return f'"{imap_date(d)} {d:%H:%M:%S} +0000"'


def message(u, j, size, domain, subject=None, tag="", days=None):
    """Message j of user u: headers, then text lines up to about size
    bytes. The subject holds WORDS[j % 10] (SEARCH SUBJECT finds M/10);
    the Date is days (default j) days before today."""
    rnd = random.Random(u * 1000003 + j)
    if subject is None:
        subject = f"bench {WORDS[j % len(WORDS)]} message {j}"
    date = base_day() - datetime.timedelta(days=j if days is None else days)
    head = (f"From: Bench Sender <sender@client.bench.invalid>\r\n"
            f"To: <{user_name(u, domain)}>\r\n"
            f"Subject: {subject}\r\n"
            f"Date: {date:%a, %d %b %Y %H:%M:%S +0000}\r\n"
            f"Message-ID: <bench.{u}.{j}{tag}@client.bench.invalid>\r\n"
            f"MIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=us-ascii\r\n\r\n")
    out, n = [head], len(head)
    while n < size:
        line = " ".join(rnd.choice(VOCAB) for _ in range(11)) + "\r\n"
        out.append(line)
        n += len(line)
    return "".join(out).encode()


def connect(port, u, domain, timeout=60, nodelay=False):
    """A logged-in imaplib client on 127.0.0.1:port (with TCP_NODELAY
    when nodelay; imaplib's default is Nagle on)."""
    c = imaplib.IMAP4("127.0.0.1", port, timeout=timeout)
    if nodelay:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    typ, dat = c.login(user_name(u, domain), password(u))
    if typ != "OK":
        raise imaplib.IMAP4.error(f"LOGIN: {dat}")
    return c


def fill_user(u, args, errors):
    """APPENDs (or sends through SMTP) the M messages of user u."""
    base = base_day()
    if args.fill == "smtp":
        with smtplib.SMTP("127.0.0.1", args.smtp_port, timeout=60) as s:
            for j in range(args.msgs):
                s.sendmail("sender@client.bench.invalid",
                           [user_name(u, args.domain)],
                           message(u, j, args.size, args.domain))
        return
    c = connect(args.port, u, args.domain,
                nodelay=getattr(args, "nodelay", False))
    try:
        for j in range(args.msgs):
            when = internal_date(base - datetime.timedelta(days=j))
            typ, dat = c.append("INBOX", None, when,
                                message(u, j, args.size, args.domain))
            if typ != "OK":
                errors.append(f"APPEND user{u} #{j}: {typ} {dat}")
                return
    finally:
        try:
            c.logout()
        except Exception:
            pass


def fill(args, threads=10):
    """Fills every user's INBOX with the same M messages, THREADS users
    at a time; returns (seconds, errors). Afterwards checks with STATUS
    that each INBOX holds exactly M messages."""
    errors, users = [], list(range(1, args.users + 1))
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                if not users:
                    return
                u = users.pop(0)
            try:
                fill_user(u, args, errors)
            except Exception as e:  # noqa: BLE001 - reported, not hidden
                errors.append(f"fill user{u}: {type(e).__name__}: {e}")

    t0 = time.monotonic()
    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    secs = time.monotonic() - t0
    if not errors:
        errors += check_counts(args, args.msgs)
    return secs, errors


def check_counts(args, want, wait=30.0):
    """Errors for every INBOX that does not hold want messages (SMTP
    delivery is acknowledged when stored, but waits a little anyway)."""
    bad, deadline = {}, time.monotonic() + wait
    for u in range(1, args.users + 1):
        while True:
            c = connect(args.port, u, args.domain)
            typ, dat = c.status("INBOX", "(MESSAGES)")
            c.logout()
            m = re.search(rb"MESSAGES (\d+)", dat[0] or b"")
            n = int(m.group(1)) if m else -1
            if n == want or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        if n != want:
            bad[u] = n
    return [f"user{u}: INBOX has {n} messages, not {want}"
            for u, n in bad.items()]


# --- /proc -----------------------------------------------------------------

def _children_map():
    """ppid -> [pid] of every process."""
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
        except OSError:
            continue
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    return kids


def tree(roots):
    """The pids of the roots and all their descendants."""
    kids, out, todo = _children_map(), [], list(roots)
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def memory(roots):
    """(RSS KiB, PSS KiB, process count) of the roots' process trees."""
    rss = pss = n = 0
    for p in tree(roots):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
            n += 1
        except OSError:
            pass
    return rss, pss, n


def cpu_seconds(roots):
    """CPU seconds used by the roots' process trees, including the
    children they have reaped (utime + stime + cutime + cstime)."""
    hz, t = os.sysconf("SC_CLK_TCK"), 0
    for p in tree(roots):
        try:
            with open(f"/proc/{p}/stat") as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        t += sum(int(x) for x in fields[11:15])
    return t / hz


class Sampler(threading.Thread):
    """Samples memory(roots) every interval seconds and keeps the peaks."""

    def __init__(self, roots, interval=0.5):
        super().__init__(daemon=True)
        self.roots, self.interval = roots, interval
        self.peak_rss = self.peak_pss = self.peak_procs = 0
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.is_set():
            self.sample()
            self.stopped.wait(self.interval)

    def sample(self):
        rss, pss, n = memory(self.roots)
        self.peak_rss = max(self.peak_rss, rss)
        self.peak_pss = max(self.peak_pss, pss)
        self.peak_procs = max(self.peak_procs, n)

    def stop(self):
        self.stopped.set()
        self.join()
        self.sample()


# --- report ----------------------------------------------------------------

FMT = "{:<60} {:>10} {:>10} {:>7}"


def fmt(v, spec):
    """v formatted with spec, or "-" when missing."""
    return "-" if v is None else format(v, spec)


def ratio(a, b):
    """a / b with two decimals, or "-"."""
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.2f}"


def row(label, a, b, spec=".0f", with_ratio=True):
    """One line of a ratio table: label, mailcore, dovecot, ratio."""
    print(FMT.format(label, fmt(a, spec), fmt(b, spec),
                     ratio(a, b) if with_ratio else ""))
