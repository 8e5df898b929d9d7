"""Roster and subscription flows driven by slixmpp's own roster code (RFC 6121 §2-§4 on
Hestia's relationship layer): a request accepted by the contact's client (both sides `both`),
a request denied, a request stored for an offline contact and delivered at its login, presence
on graceful logout and on a dropped TCP connection, and probes answered at login."""

import asyncio

from hestia_e2e import Client, WAIT, check, jid, run


class Person(Client):
    """A client whose slixmpp answers subscription requests by `authorize`: True accepts,
    False denies, None leaves them to the test."""

    def __init__(self, user, resource, authorize):
        super().__init__(jid(user, resource))
        self.auto_authorize = authorize
        self.auto_subscribe = False
        self.events = asyncio.Queue()
        for name in ("presence_available", "presence_unavailable", "presence_subscribe",
                     "presence_subscribed", "presence_unsubscribed"):
            self.add_event_handler(name, lambda p, name=name: self.events.put_nowait((name, p)))

    async def arrive(self):
        await self.online(self.boundjid.bare)
        await self.get_roster()
        self.send_presence()
        return self

    async def wait_for(self, event, sender, timeout=WAIT):
        """The next `event` whose sender's bare JID is `sender`; others are skipped."""
        async def scan():
            while True:
                name, p = await self.events.get()
                if name == event and p["from"].bare == sender:
                    return p
        return await asyncio.wait_for(scan(), timeout)

    def subscription(self, contact):
        item = self.client_roster[contact]
        return item["subscription"], item["pending_out"]


async def settled(what, probe, expected):
    """Polls `probe()` until it equals `expected` (roster pushes arrive asynchronously)."""
    for _ in range(WAIT * 10):
        got = probe()
        if got == expected:
            return check(what, True)
        await asyncio.sleep(0.1)
    return check(what, False, f"{got!r} != {expected!r}")


async def main():
    alice_jid, bob_jid, carol_jid, dave_jid = (
        jid(u) for u in ("slix_alice", "slix_bob", "slix_carol", "slix_dave"))
    alice = await Person("slix_alice", "phone", None).arrive()
    bob = await Person("slix_bob", "desk", True).arrive()
    carol = await Person("slix_carol", "desk", False).arrive()

    # Approval: bob's client accepts; the relationship is mutual on both rosters.
    alice.send_presence_subscription(pto=bob_jid)
    await alice.wait_for("presence_subscribed", bob_jid)
    check("alice is told subscribed by bob", True)
    await alice.wait_for("presence_available", bob_jid)
    check("alice sees bob online at once", True)
    await settled("alice's roster: bob both", lambda: alice.subscription(bob_jid), ("both", False))
    await settled("bob's roster: alice both", lambda: bob.subscription(alice_jid), ("both", False))

    # Denial: carol's client refuses; alice learns nothing of carol's presence.
    alice.send_presence_subscription(pto=carol_jid)
    await alice.wait_for("presence_unsubscribed", carol_jid)
    check("alice is told unsubscribed by carol", True)
    await settled("alice's roster: carol none, nothing pending",
                  lambda: alice.subscription(carol_jid), ("none", False))
    seen = [p for name, p in list(alice.events._queue)
            if name == "presence_available" and p["from"].bare == carol_jid]
    check("no presence of carol leaked", not seen, repr(seen))

    # A request to an offline contact waits for her login.
    alice.send_presence_subscription(pto=dave_jid)
    await settled("alice's roster: dave pending", lambda: alice.subscription(dave_jid), ("none", True))
    dave = Person("slix_dave", "tablet", None)
    await dave.arrive()
    await dave.wait_for("presence_subscribe", alice_jid)
    check("dave receives alice's stored request at login", True)
    dave.send_presence(pto=alice_jid, ptype="subscribed")
    await alice.wait_for("presence_subscribed", dave_jid)
    await settled("alice's roster: dave both", lambda: alice.subscription(dave_jid), ("both", False))

    # Graceful logout is broadcast.
    await bob.quit()
    await alice.wait_for("presence_unavailable", bob_jid)
    check("bob's logout reaches alice", True)

    # Probes at login: a new connection of alice learns dave is online.
    tablet = await Person("slix_alice", "tablet", None).arrive()
    await tablet.wait_for("presence_available", dave_jid)
    check("a new connection gets dave's presence at login (probe)", True)

    # A dropped TCP connection is broadcast too.
    dave.abort()
    await alice.wait_for("presence_unavailable", dave_jid)
    check("dave's dropped connection reaches alice as unavailable", True)

    for c in (alice, tablet, carol):
        await c.quit()


run(main)
