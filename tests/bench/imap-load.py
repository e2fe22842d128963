#!/usr/bin/env python3
"""IMAP load benchmark client (stdlib only), run by imap-load.sh.

  imap-load.py run --port P --pid PID [...] --out FILE.json
      fills user1..userN's INBOX with the same M messages (APPEND with
      fixed internal dates, or SMTP), then runs C connections for T
      seconds, each repeating a fixed mix (SELECT, FETCH 1:* FLAGS UID
      RFC822.SIZE, UID FETCH BODY.PEEK[] of a random message, UID SEARCH
      SUBJECT and SINCE, UID STORE +/-FLAGS \\Seen, APPEND, UID STORE
      +FLAGS \\Deleted, EXPUNGE) and records latencies, errors (NO, BAD,
      exceptions, wrong results), and the server's CPU time and memory.
  imap-load.py report mailcore.json dovecot.json
      prints the ratio table (either file may be missing).

Each connection is its own process (no GIL between them)."""
import argparse
import json
import multiprocessing as mp
import os
import random
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import imap_common as ic  # noqa: E402

OPS = ["select", "fetch_all", "fetch_body", "search_subject",
       "search_since", "store_seen", "store_unseen", "append",
       "store_deleted", "expunge"]
LABELS = {
    "select": "SELECT INBOX",
    "fetch_all": "FETCH 1:* (FLAGS UID RFC822.SIZE)",
    "fetch_body": "UID FETCH n BODY.PEEK[]",
    "search_subject": "UID SEARCH SUBJECT word",
    "search_since": "UID SEARCH SINCE date",
    "store_seen": "UID STORE n +FLAGS (\\Seen)",
    "store_unseen": "UID STORE n -FLAGS (\\Seen)",
    "append": "APPEND (4 KiB)",
    "store_deleted": "UID STORE new +FLAGS (\\Deleted)",
    "expunge": "EXPUNGE",
}
MAX_ERRORS_KEPT = 50


class Conn:
    """One benchmark connection: its user, its imaplib client, and what
    it measured."""

    def __init__(self, args, index):
        self.args, self.index = args, index
        self.u = index % args.users + 1
        # Results are checked exactly only when no other connection
        # shares the mailbox and the fill set the internal dates.
        self.exclusive = args.conns <= args.users
        self.lat = {op: [] for op in OPS}
        self.errors, self.error_count, self.reconnects = [], 0, 0
        self.rnd = random.Random(index)
        self.seq = 0
        self.c = None
        self.deadline = float("inf")

    def record(self, op, t0):
        """Keeps the latency of an operation that ended in time."""
        t1 = time.perf_counter()
        if time.monotonic() <= self.deadline:
            self.lat[op].append(t1 - t0)

    def error(self, op, text):
        """Counts an error and keeps the first ones."""
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(f"conn {self.index} user{self.u} {op}: "
                               f"{text}"[:300])

    def timed(self, op, fn, *a):
        """Runs one command, records its latency; None after NO/BAD."""
        self.c.untagged_responses.clear()
        t0 = time.perf_counter()
        try:
            typ, dat = fn(*a)
        except self.c.abort:
            raise
        except self.c.error as e:  # BAD or an unexpected response
            self.record(op, t0)
            self.error(op, f"BAD/error: {e}")
            return None
        self.record(op, t0)
        if typ != "OK":
            self.error(op, f"{typ} {dat}")
            return None
        return dat

    def check(self, op, cond, text):
        """Counts a wrong result (exclusive mailboxes only)."""
        if self.exclusive and not cond:
            self.error(op, "wrong result: " + text)

    def one_round(self):
        """One pass of the mix."""
        a, c, M = self.args, self.c, self.args.msgs
        dat = self.timed("select", c.select, "INBOX")
        if dat is None:
            return
        exists = int(dat[0]) if dat and dat[0] else -1
        self.check("select", exists == M, f"EXISTS {exists}, not {M}")
        dat = self.timed("fetch_all", c.fetch, "1:*",
                         "(FLAGS UID RFC822.SIZE)")
        uids = []
        if dat is not None:
            for item in dat:
                line = item[0] if isinstance(item, tuple) else item
                m = re.search(rb"UID (\d+)", line or b"")
                if m:
                    uids.append(int(m.group(1)))
            uids.sort()
            self.check("fetch_all", len(uids) == exists,
                       f"{len(uids)} UIDs for {exists} messages")
        uid = str(self.rnd.choice(uids[:M])) if uids else "1"
        dat = self.timed("fetch_body", c.uid, "FETCH", uid,
                         "(BODY.PEEK[])")
        if dat is not None:
            body = [x[1] for x in dat if isinstance(x, tuple)]
            if not body or len(body[0]) < a.size:
                self.error("fetch_body", f"no or short body for UID {uid}")
        k = self.rnd.randrange(len(ic.WORDS))
        dat = self.timed("search_subject", c.uid, "SEARCH", "SUBJECT",
                         ic.WORDS[k])
        if dat is not None:
            n = len((dat[0] or b"").split())
            want = len(range(k, M, len(ic.WORDS)))
            self.check("search_subject", n == want,
                       f"SUBJECT {ic.WORDS[k]}: {n} hits, not {want}")
        days = self.rnd.randrange(M)
        since = ic.imap_date(ic.base_day() - ic.datetime.timedelta(days=days))
        dat = self.timed("search_since", c.uid, "SEARCH", "SINCE", since)
        if dat is not None and a.fill == "imap":
            n = len((dat[0] or b"").split())
            self.check("search_since", n == days + 1,
                       f"SINCE {since}: {n} hits, not {days + 1}")
        self.timed("store_seen", c.uid, "STORE", uid, "+FLAGS", "(\\Seen)")
        self.timed("store_unseen", c.uid, "STORE", uid, "-FLAGS", "(\\Seen)")
        self.append_and_expunge()

    def append_and_expunge(self):
        """APPENDs a message, marks it \\Deleted and EXPUNGEs it."""
        c, a = self.c, self.args
        self.seq += 1
        msg = ic.message(self.u, a.msgs + self.seq, a.size, a.domain,
                         subject=f"bench appended {self.index}.{self.seq}",
                         tag=f".c{self.index}", days=0)
        dat = self.timed("append", c.append, "INBOX", None, None, msg)
        if dat is None:
            return
        m = re.search(rb"APPENDUID \d+ (\d+)", dat[0] or b"")
        if not m:
            self.error("append", f"no APPENDUID in {dat}")
            return
        new = m.group(1).decode()
        self.timed("store_deleted", c.uid, "STORE", new, "+FLAGS",
                   "(\\Deleted)")
        dat = self.timed("expunge", c.expunge)
        if dat is not None:
            self.check("expunge", dat and dat[0] is not None,
                       "no EXPUNGE response")

    def run(self, start, t_start):
        """Logs in, waits for the common start, loops for T seconds."""
        self.c = ic.connect(self.args.port, self.u, self.args.domain,
                            nodelay=self.args.nodelay)
        start.wait()
        self.deadline = t_start.value + self.args.secs
        while time.monotonic() < self.deadline:
            try:
                self.one_round()
            except Exception as e:  # noqa: BLE001 - counted
                self.error("connection", f"{type(e).__name__}: {e}")
                self.reconnect()
        try:
            self.c.logout()
        except Exception:
            pass

    def reconnect(self):
        """A new connection after an exception (a pause if it fails)."""
        self.reconnects += 1
        try:
            self.c.shutdown()
        except Exception:
            pass
        try:
            self.c = ic.connect(self.args.port, self.u, self.args.domain,
                            nodelay=self.args.nodelay)
        except Exception as e:  # noqa: BLE001
            self.error("connection", f"reconnect: {type(e).__name__}: {e}")
            time.sleep(0.5)

    def result(self):
        return {"lat": self.lat, "errors": self.errors,
                "error_count": self.error_count,
                "reconnects": self.reconnects}


def conn_main(args, index, start, t_start, queue):
    """A connection process: runs, then puts its result on the queue."""
    conn = Conn(args, index)
    try:
        conn.run(start, t_start)
    except Exception as e:  # noqa: BLE001 - login failure etc.
        conn.error("connection", f"{type(e).__name__}: {e}")
    queue.put(conn.result())


def percentile(xs, q):
    """The q-quantile (0..1) of a sorted list, by nearest rank."""
    if not xs:
        return None
    return xs[min(len(xs) - 1, max(0, int(round(q * len(xs) + 0.5)) - 1))]


def run_load(args):
    """Starts C connection processes, lets them run T seconds together,
    and gathers latencies, errors, CPU and memory."""
    start, t_start = mp.Event(), mp.Value("d", 0.0)
    queue = mp.Queue()
    procs = [mp.Process(target=conn_main,
                        args=(args, i, start, t_start, queue))
             for i in range(args.conns)]
    for p in procs:
        p.start()
    time.sleep(min(5.0, 0.5 + 0.1 * args.conns))  # logins
    roots, store = args.pid, args.store_pid or []
    sampler = ic.Sampler(roots)
    cpu0, scpu0 = ic.cpu_seconds(roots), ic.cpu_seconds(store)
    sstore = ic.Sampler(store) if store else None
    sampler.start()
    if sstore:
        sstore.start()
    t_start.value = time.monotonic()
    start.set()
    # Operations count when they end before the deadline; the CPU time
    # is read then, while every connection is still open.
    time.sleep(max(0.0, t_start.value + args.secs - time.monotonic()))
    wall = time.monotonic() - t_start.value
    cpu, scpu = ic.cpu_seconds(roots) - cpu0, ic.cpu_seconds(store) - scpu0
    sampler.stop()
    if sstore:
        sstore.stop()
    results = [queue.get(timeout=300) for _ in procs]
    for p in procs:
        p.join()
    out = {"wall": wall, "cpu": cpu, "store_cpu": scpu if store else None,
           "rss": sampler.peak_rss, "pss": sampler.peak_pss,
           "procs": sampler.peak_procs,
           "store_rss": sstore.peak_rss if sstore else None,
           "store_pss": sstore.peak_pss if sstore else None,
           "errors": [], "error_count": 0, "reconnects": 0, "ops": {}}
    lat = {op: [] for op in OPS}
    for r in results:
        for op in OPS:
            lat[op] += r["lat"][op]
        out["errors"] += r["errors"]
        out["error_count"] += r["error_count"]
        out["reconnects"] += r["reconnects"]
    for op in OPS:
        xs = sorted(lat[op])
        out["ops"][op] = {"n": len(xs), "p50": percentile(xs, 0.5),
                          "p99": percentile(xs, 0.99)}
    out["total_ops"] = sum(len(v) for v in lat.values())
    return out


def cmd_run(args):
    res = {"name": args.name, "users": args.users, "msgs": args.msgs,
           "size": args.size, "conns": args.conns, "secs": args.secs,
           "fill": args.fill, "nodelay": args.nodelay}
    print(f"bench: {args.name}: filling {args.users} mailboxes with "
          f"{args.msgs} messages ({args.fill})", file=sys.stderr)
    cpu0 = ic.cpu_seconds(args.pid)
    secs, errors = ic.fill(args, threads=min(args.users, args.conns))
    res["fill_secs"], res["fill_errors"] = secs, errors
    res["fill_cpu"] = ic.cpu_seconds(args.pid) - cpu0
    if errors:
        print(f"bench: {args.name}: FILL FAILED: {len(errors)} error(s):",
              file=sys.stderr)
        for e in errors[:10]:
            print("   ", e, file=sys.stderr)
        res["load"] = None
    else:
        print(f"bench: {args.name}: {args.conns} connections for "
              f"{args.secs} s", file=sys.stderr)
        res["load"] = run_load(args)
        ld = res["load"]
        if ld["error_count"]:
            print(f"bench: {args.name}: {ld['error_count']} ERRORS during "
                  f"the load; the first:", file=sys.stderr)
            for e in ld["errors"][:15]:
                print("   ", e, file=sys.stderr)
    with open(args.out, "w") as f:
        json.dump(res, f)
    ok = not errors and res["load"]["error_count"] == 0
    return 0 if ok else 1


def load_result(path):
    """A result file, or None when missing or empty."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def report_rows(mc, dc):
    """Prints the table rows from two result dicts (either may be None)."""
    def g(r, *keys):
        for k in keys:
            if r is None:
                return None
            r = r.get(k) if isinstance(r, dict) else None
        return r

    def rate(r, op=None):
        ld = g(r, "load")
        if not ld:
            return None
        n = ld["total_ops"] if op is None else ld["ops"][op]["n"]
        return n / ld["wall"]

    def ms(r, op, q):
        v = g(r, "load", "ops", op, q)
        return None if v is None else v * 1000

    ic.row("operations per second, total", rate(mc), rate(dc))
    for op in OPS:
        ic.row(f"  {LABELS[op]}, /s", rate(mc, op), rate(dc, op), ".1f")
    for op in OPS:
        a50, b50 = ms(mc, op, "p50"), ms(dc, op, "p50")
        a99, b99 = ms(mc, op, "p99"), ms(dc, op, "p99")
        print(ic.FMT.format(
            f"  {LABELS[op]}, p50 / p99 ms",
            f"{ic.fmt(a50, '.1f')}/{ic.fmt(a99, '.1f')}",
            f"{ic.fmt(b50, '.1f')}/{ic.fmt(b99, '.1f')}",
            ic.ratio(a50, b50)))
    ic.row("errors (NO, BAD, exceptions, wrong results)",
           g(mc, "load", "error_count"), g(dc, "load", "error_count"),
           "d", False)
    ic.row("CPU seconds, IMAP server processes", g(mc, "load", "cpu"),
           g(dc, "load", "cpu"), ".1f")

    def per_cpu(r, store):
        ld = g(r, "load")
        if not ld:
            return None
        cpu = ld["cpu"] + ((ld["store_cpu"] or 0) if store else 0)
        return ld["total_ops"] / cpu if cpu else None

    ic.row("operations per server CPU second", per_cpu(mc, False),
           per_cpu(dc, False))
    ic.row("  counting mailcore's PostgreSQL + Redis too",
           per_cpu(mc, True), per_cpu(dc, True))

    def mib(r, key):
        v = g(r, "load", key)
        return None if v is None else v / 1024

    ic.row("peak RSS, MiB (server processes)", mib(mc, "rss"),
           mib(dc, "rss"), ".1f")
    ic.row("peak PSS, MiB (server processes)", mib(mc, "pss"),
           mib(dc, "pss"), ".1f")
    ic.row("server processes", g(mc, "load", "procs"),
           g(dc, "load", "procs"), "d", False)

    def fill_rate(r):
        s = g(r, "fill_secs")
        if s is None or g(r, "fill_errors"):
            return None
        return r["users"] * r["msgs"] / s

    ic.row("fill before the load, messages/s", fill_rate(mc), fill_rate(dc))


def cmd_report(args):
    mc, dc = load_result(args.mailcore), load_result(args.dovecot)
    any_r = mc or dc
    if any_r is None:
        print("imap-load: no results")
        return 1
    title = (f"imap load ({any_r['users']} users x {any_r['msgs']} msgs, "
             f"{any_r['conns']} conns, {any_r['secs']:g} s"
             f"{', NODELAY' if any_r.get('nodelay') else ''})")
    print()
    print(ic.FMT.format(title, "mailcore", "dovecot", "ratio"))
    report_rows(mc, dc)
    print()
    print("ratio = mailcore / dovecot: above 1 is better for mailcore on "
          "rates, below 1 on latencies and memory.")
    st = mc and mc.get("load") and mc["load"]
    if st and st.get("store_rss") is not None:
        print(f"mailcore's PostgreSQL + Redis during the load: peak RSS "
              f"{st['store_rss'] / 1024:.1f} MiB, PSS "
              f"{st['store_pss'] / 1024:.1f} MiB, "
              f"{st['store_cpu']:.1f} CPU seconds.")
    bad = False
    for r in (mc, dc):
        if r is None:
            continue
        n = len(r.get("fill_errors") or []) + (
            (r.get("load") or {}).get("error_count", 0))
        if n or r.get("load") is None:
            bad = True
            print(f"!!! {r['name']}: {n} ERRORS "
                  f"({'fill failed' if r.get('load') is None else 'load'})"
                  f"; its numbers are not trustworthy.")
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--name", required=True)
    r.add_argument("--port", type=int, required=True)
    r.add_argument("--pid", type=int, nargs="+", required=True,
                   help="root pids of the server's processes")
    r.add_argument("--store-pid", type=int, nargs="*",
                   help="PostgreSQL and Redis (reported apart)")
    r.add_argument("--users", type=int, default=20)
    r.add_argument("--msgs", type=int, default=200)
    r.add_argument("--size", type=int, default=4096)
    r.add_argument("--conns", type=int, default=20)
    r.add_argument("--secs", type=float, default=20)
    r.add_argument("--domain", default="bench.test")
    r.add_argument("--fill", choices=["imap", "smtp"], default="imap")
    r.add_argument("--smtp-port", type=int)
    r.add_argument("--nodelay", action="store_true",
                   help="TCP_NODELAY on the client sockets")
    r.add_argument("--out", required=True)
    p = sub.add_parser("report")
    p.add_argument("mailcore")
    p.add_argument("dovecot")
    args = ap.parse_args()
    return cmd_run(args) if args.cmd == "run" else cmd_report(args)


if __name__ == "__main__":
    sys.exit(main())
