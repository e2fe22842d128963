#!/usr/bin/env python3
"""IMAP IDLE memory benchmark client (stdlib only), run by imap-idle.sh.

  imap-idle.py run --port P --pid PID [...] --deliver smtp:PORT|maildir:DIR
                   --out FILE.json
      fills the users' INBOXes with M messages (APPEND), measures the
      server's processes (RSS, PSS) with no connection, opens C
      connections (LOGIN, SELECT INBOX, IDLE; connection k is user
      (k mod N)+1), measures again once all are idling, delivers one
      message to user1 (SMTP to mc-smtpd, or a file moved into the
      Maildir's new/) and waits for the untagged EXISTS on user1's
      idling connections, then closes everything and measures again.
  imap-idle.py report mailcore.json dovecot.json
      prints the ratio table (either file may be missing)."""
import argparse
import asyncio
import json
import os
import shutil
import smtplib
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import imap_common as ic  # noqa: E402

HANDSHAKES = 50  # connections being set up at once


class Idler:
    """One connection: logs in, selects INBOX, idles, and notes the
    untagged EXISTS responses it gets while idling."""

    def __init__(self, k, args):
        self.k, self.args = k, args
        self.u = k % args.users + 1
        self.reader = self.writer = None
        self.exists_at = None  # monotonic time of the first new EXISTS
        self.exists = None
        self.error = None
        self.idling = False

    async def expect(self, tag):
        """Reads up to the tagged reply; raises unless it is OK."""
        while True:
            line = await self.reader.readline()
            if not line:
                raise ConnectionError(f"closed waiting for {tag}")
            if line.startswith(b"* ") and line.rstrip().endswith(b"EXISTS"):
                self.exists = int(line.split()[1])
            if line.startswith(tag + b" "):
                if not line[len(tag) + 1:].startswith(b"OK"):
                    raise RuntimeError(line.decode(errors="replace").strip())
                return

    async def open(self):
        """Connects and gets to IDLE ("+" continuation)."""
        a = self.args
        self.reader, self.writer = await asyncio.open_connection(
            "127.0.0.1", a.port, limit=1 << 20)
        greeting = await self.reader.readline()
        if not greeting.startswith(b"* OK"):
            raise RuntimeError(f"greeting {greeting!r}")
        user, pw = ic.user_name(self.u, a.domain), ic.password(self.u)
        self.writer.write(f'a1 LOGIN "{user}" "{pw}"\r\n'.encode())
        await self.expect(b"a1")
        self.writer.write(b"a2 SELECT INBOX\r\n")
        await self.expect(b"a2")
        self.writer.write(b"a3 IDLE\r\n")
        while True:
            line = await self.reader.readline()
            if not line:
                raise ConnectionError("closed waiting for IDLE's +")
            if line.startswith(b"+"):
                break
            if line.startswith(b"a3 "):
                raise RuntimeError(line.decode(errors="replace").strip())
        self.idling = True

    async def listen(self):
        """While idling: notes the first EXISTS above the selected count."""
        before = self.exists
        try:
            while True:
                line = await self.reader.readline()
                if not line:
                    return
                if line.startswith(b"* ") and line.rstrip().endswith(
                        b"EXISTS"):
                    n = int(line.split()[1])
                    if before is not None and n > before and \
                            self.exists_at is None:
                        self.exists_at = time.monotonic()
                    self.exists = n
                if line.startswith(b"a3 "):
                    return
        except (ConnectionError, asyncio.CancelledError):
            return

    async def close(self):
        """DONE, LOGOUT, close."""
        try:
            self.writer.write(b"DONE\r\na4 LOGOUT\r\n")
            await asyncio.wait_for(self.writer.drain(), 10)
        except Exception:  # noqa: BLE001 - closing anyway
            pass
        self.writer.close()


async def open_all(args, idlers):
    """Opens every connection, HANDSHAKES at a time; returns errors."""
    sem, errors = asyncio.Semaphore(HANDSHAKES), []

    async def one(idler):
        async with sem:
            try:
                await asyncio.wait_for(idler.open(), 120)
            except Exception as e:  # noqa: BLE001 - counted
                idler.error = f"{type(e).__name__}: {e}"
                errors.append(f"conn {idler.k} user{idler.u}: {idler.error}")

    # Connection 0 (user1, used for the delivery check) goes first.
    await one(idlers[0])
    await asyncio.gather(*(one(i) for i in idlers[1:]))
    return errors


def deliver(args):
    """Delivers one message to user1: SMTP or a file in new/."""
    msg = ic.message(1, 999999, args.size, args.domain,
                     subject="bench idle wake-up", tag=".idle", days=0)
    kind, _, where = args.deliver.partition(":")
    if kind == "smtp":
        with smtplib.SMTP("127.0.0.1", int(where), timeout=30) as s:
            s.sendmail("sender@client.bench.invalid",
                       [ic.user_name(1, args.domain)], msg)
        return
    box = os.path.join(where, ic.user_name(1, args.domain))
    name = f"{int(time.time())}.bench{os.getpid()}.idle"
    tmp = os.path.join(box, "tmp", name)
    with open(tmp, "wb") as f:
        f.write(msg)
    st = os.stat(box)
    os.chown(tmp, st.st_uid, st.st_gid)
    shutil.move(tmp, os.path.join(box, "new", name))


async def settle_memory(roots, secs=2.0):
    """memory(roots) after the server had secs seconds to settle."""
    await asyncio.sleep(secs)
    return ic.memory(roots)


async def run(args):
    res = {"name": args.name, "conns": args.conns, "users": args.users,
           "msgs": args.msgs, "deliver": args.deliver.split(":")[0]}
    # A first login so lazily started parts (auth processes, caches)
    # exist before the baseline.
    c = ic.connect(args.port, 1, args.domain)
    c.select("INBOX")
    c.logout()
    res["base"] = await settle_memory(args.pid)
    res["store_base"] = ic.memory(args.store_pid) if args.store_pid else None
    idlers = [Idler(k, args) for k in range(args.conns)]
    print(f"bench: {args.name}: opening {args.conns} IDLE connections",
          file=sys.stderr)
    t0 = time.monotonic()
    errors = await open_all(args, idlers)
    res["open_secs"] = time.monotonic() - t0
    res["idling"] = sum(1 for i in idlers if i.idling)
    res["errors"] = errors
    listeners = [asyncio.ensure_future(i.listen())
                 for i in idlers if i.idling]
    res["idle"] = await settle_memory(args.pid)
    res["store_idle"] = ic.memory(args.store_pid) if args.store_pid else None
    # New mail for user1: every one of user1's idling connections should
    # see the EXISTS.
    mine = [i for i in idlers if i.u == 1 and i.idling]
    t1 = time.monotonic()
    try:
        await asyncio.get_running_loop().run_in_executor(None, deliver, args)
    except Exception as e:  # noqa: BLE001
        errors.append(f"delivery to user1: {type(e).__name__}: {e}")
    deadline = t1 + args.wake_timeout
    while time.monotonic() < deadline and \
            any(i.exists_at is None for i in mine):
        await asyncio.sleep(0.05)
    woke = [i.exists_at - t1 for i in mine if i.exists_at is not None]
    res["wake"] = {"conns": len(mine), "woke": len(woke),
                   "first": min(woke) if woke else None,
                   "last": max(woke) if woke else None}
    still = sum(1 for i in idlers if i.idling and not i.writer.is_closing()
                and not i.reader.at_eof())
    res["still_open"] = still
    await asyncio.gather(*(i.close() for i in idlers if i.writer))
    for f in listeners:
        f.cancel()
    await asyncio.gather(*listeners, return_exceptions=True)
    res["after"] = await settle_memory(args.pid, 3.0)
    return res


def cmd_run(args):
    print(f"bench: {args.name}: filling {args.users} mailboxes with "
          f"{args.msgs} messages", file=sys.stderr)
    args.fill = "imap"
    secs, errors = ic.fill(args, threads=10)
    if errors:
        print(f"bench: {args.name}: FILL FAILED:", *errors[:10],
              sep="\n    ", file=sys.stderr)
        res = {"name": args.name, "conns": args.conns, "users": args.users,
               "msgs": args.msgs, "errors": errors, "fill_failed": True}
    else:
        res = asyncio.run(run(args))
    with open(args.out, "w") as f:
        json.dump(res, f)
    bad = list(res["errors"])
    if not res.get("fill_failed"):
        if res["idling"] != args.conns:
            bad.append(f"only {res['idling']} of {args.conns} idling")
        if res["still_open"] != res["idling"]:
            bad.append(f"{res['idling'] - res['still_open']} idling "
                       f"connections closed by the server")
        w = res["wake"]
        if w["woke"] != w["conns"]:
            bad.append(f"new mail reached {w['woke']} of user1's "
                       f"{w['conns']} idling connections")
    for e in bad[:15]:
        print(f"bench: {args.name}: ERROR: {e}", file=sys.stderr)
    res["problems"] = bad
    with open(args.out, "w") as f:
        json.dump(res, f)
    return 1 if bad else 0


def load_result(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def cmd_report(args):
    mc, dc = load_result(args.mailcore), load_result(args.dovecot)
    any_r = mc or dc
    if any_r is None:
        print("imap-idle: no results")
        return 1

    def g(r, key, i=None):
        if r is None or r.get(key) is None:
            return None
        return r[key] if i is None else r[key][i]

    def per_conn(r, i):
        if g(r, "idle") is None or not r["idling"]:
            return None
        return (r["idle"][i] - r["base"][i]) / r["idling"]

    def mib(r, key, i):
        v = g(r, key, i)
        return None if v is None else v / 1024

    def wake(r, key):
        w = g(r, "wake")
        return None if w is None else w[key]

    title = (f"imap idle ({any_r['conns']} connections, {any_r['users']} "
             f"users x {any_r['msgs']} msgs)")
    print()
    print(ic.FMT.format(title, "mailcore", "dovecot", "ratio"))
    ic.row("memory per idling connection, PSS KiB", per_conn(mc, 1),
           per_conn(dc, 1), ".1f")
    ic.row("memory per idling connection, RSS KiB", per_conn(mc, 0),
           per_conn(dc, 0), ".1f")
    ic.row("connections idling", g(mc, "idling"), g(dc, "idling"), "d",
           False)
    for label, key in (("no connection", "base"), ("all idling", "idle"),
                       ("after closing them all", "after")):
        ic.row(f"server PSS, MiB: {label}", mib(mc, key, 1),
               mib(dc, key, 1), ".1f")
    for label, key in (("no connection", "base"), ("all idling", "idle"),
                       ("after closing them all", "after")):
        ic.row(f"server RSS, MiB: {label}", mib(mc, key, 0),
               mib(dc, key, 0), ".1f")
    ic.row("server processes while idling", g(mc, "idle", 2),
           g(dc, "idle", 2), "d", False)
    ic.row("seconds to open all connections (LOGIN, SELECT, IDLE)",
           g(mc, "open_secs"), g(dc, "open_secs"), ".1f")
    ic.row("new mail for user1: its idling connections that saw EXISTS",
           wake(mc, "woke"), wake(dc, "woke"), "d", False)
    ic.row("  of", wake(mc, "conns"), wake(dc, "conns"), "d", False)
    ic.row("  seconds until the first saw it", wake(mc, "first"),
           wake(dc, "first"), ".2f")
    ic.row("  seconds until the last saw it", wake(mc, "last"),
           wake(dc, "last"), ".2f")
    print()
    print("memory per connection = (server memory with all idling - with "
          "none) / connections idling;")
    print("ratio = mailcore / dovecot (below 1: mailcore uses less memory, "
          "is faster).")
    if mc and mc.get("store_idle") and mc.get("store_base"):
        d = [(mc["store_idle"][i] - mc["store_base"][i]) / 1024
             for i in (0, 1)]
        print(f"mailcore's PostgreSQL + Redis: PSS {mc['store_idle'][1] / 1024:.1f}"
              f" MiB while idling ({d[1]:+.1f} MiB), RSS "
              f"{mc['store_idle'][0] / 1024:.1f} MiB ({d[0]:+.1f} MiB).")
    bad = False
    for r in (mc, dc):
        if r is not None and r.get("problems"):
            bad = True
            print(f"!!! {r['name']}: {len(r['problems'])} PROBLEM(S): "
                  + "; ".join(r["problems"][:3]))
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--name", required=True)
    r.add_argument("--port", type=int, required=True)
    r.add_argument("--pid", type=int, nargs="+", required=True)
    r.add_argument("--store-pid", type=int, nargs="*")
    r.add_argument("--users", type=int, default=100)
    r.add_argument("--msgs", type=int, default=20)
    r.add_argument("--size", type=int, default=4096)
    r.add_argument("--conns", type=int, default=1000)
    r.add_argument("--domain", default="bench.test")
    r.add_argument("--deliver", required=True,
                   help="smtp:PORT or maildir:DIR (DIR/USER/new)")
    r.add_argument("--wake-timeout", type=float, default=60)
    r.add_argument("--out", required=True)
    p = sub.add_parser("report")
    p.add_argument("mailcore")
    p.add_argument("dovecot")
    args = ap.parse_args()
    return cmd_run(args) if args.cmd == "run" else cmd_report(args)


if __name__ == "__main__":
    sys.exit(main())
