"""200 slixmpp clients in one asyncio loop log in at once (accounts made through the admin
API), all bind, the admin API lists 200 sessions, and all log out."""

import asyncio
import json
import os
import time
import urllib.request

from hestia_e2e import ADMIN_TOKEN, HTTP_BASE, Client, WAIT, admin_add_user, check, jid, run

N = int(os.environ.get("CONCURRENT_LOGINS", "200"))
# slixmpp derives SCRAM keys in pure Python (4096 HMACs per login) on the one event loop, so
# the client side, not the server, sets the pace: allow for it.
LOGIN_WAIT = 180


def sessions():
    req = urllib.request.Request(f"{HTTP_BASE}/admin/v1/sessions", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    with urllib.request.urlopen(req, timeout=WAIT) as resp:
        return json.load(resp)["sessions"]


async def main():
    names = [f"slix_crowd{i:03}" for i in range(N)]
    sem = asyncio.Semaphore(8)

    async def add(name):
        async with sem:
            await asyncio.to_thread(admin_add_user, name)

    t0 = time.monotonic()
    await asyncio.gather(*(add(n) for n in names))
    print(f"info: accounts made in {time.monotonic() - t0:.1f}s", flush=True)
    check(f"{N} accounts created through the admin API", True)

    clients = [Client(jid(n, "crowd")) for n in names]
    started = time.monotonic()
    outcomes = await asyncio.gather(*(c.login(LOGIN_WAIT) for c in clients), return_exceptions=True)
    took = time.monotonic() - started
    online = sum(1 for o in outcomes if o == "online")
    others = sorted({str(o) for o in outcomes if o != "online"})
    check(f"{N} concurrent logins all online", online == N, f"{online} online in {took:.1f}s; others: {others}")
    print(f"info: {online} logins in {took:.1f}s", flush=True)

    listed = await asyncio.to_thread(sessions)
    crowd = {s["jid"] for s in listed if s["jid"].startswith("slix_crowd")}
    check(f"admin API lists {N} sessions", len(crowd) == N, str(len(crowd)))
    check("every client bound to its own full JID",
          len({c.boundjid.full for c in clients}) == N and all(c.boundjid.resource == "crowd" for c in clients))

    t0 = time.monotonic()
    await asyncio.gather(*(c.quit() for c in clients))
    print(f"info: logged out in {time.monotonic() - t0:.1f}s", flush=True)
    # The server unbinds each session when it sees the close, just after the client does.
    for _ in range(50):
        remaining = [s for s in await asyncio.to_thread(sessions) if s["jid"].startswith("slix_crowd")]
        if not remaining:
            break
        await asyncio.sleep(0.1)
    check("all sessions gone after logout", not remaining, f"{len(remaining)} left")


run(main)
