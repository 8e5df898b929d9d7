"""XEP-0198 stream management with slixmpp's own xep_0198 plugin: alice enables it (with
resumption), her TCP connection is cut without a closing tag, bob sends her messages meanwhile
(no error comes back: her session is hibernating, not gone), alice reconnects, the plugin
resumes the session under the same full JID, and each message arrives exactly once."""

import asyncio

from hestia_e2e import WAIT, Client, check, jid, run


def first(loop, client, event):
    """A future resolved by the first `event` on `client`."""
    future = loop.create_future()

    def handler(value):
        if not future.done():
            future.set_result(value)

    client.add_event_handler(event, handler)
    return future


async def main():
    loop = asyncio.get_running_loop()
    alice = Client(jid("slix_sm_alice", "phone"), plugins=("xep_0198",))
    enabled = first(loop, alice, "sm_enabled")
    await alice.online("alice")
    stanza = await asyncio.wait_for(enabled, WAIT)
    check("stream management enabled with a resumption id", bool(stanza["id"]), str(stanza))
    bob = await Client(jid("slix_sm_bob", "desk")).online("bob")
    full = alice.boundjid.full

    bob.send_message(mto=full, mbody="one", mtype="chat")
    msg = await alice.next_message()
    check("message before the drop delivered", msg["body"] == "one", msg["body"])
    # Acknowledge "one" (as the plugin does when asked) before the network goes.
    alice.plugin["xep_0198"].send_ack()
    await asyncio.sleep(0.5)

    alice.abort()
    await alice.wait_closed()
    alice.closed = loop.create_future()
    for text in ("two", "three"):
        bob.send_message(mto=full, mbody=text, mtype="chat")
    await asyncio.sleep(1)
    check("no error for bob while alice is away", bob.inbox.empty())

    resumed = first(loop, alice, "session_resumed")
    alice.start()
    try:
        await asyncio.wait_for(resumed, WAIT)
        check("session resumed", True)
    except asyncio.TimeoutError:
        check("session resumed", False, "no session_resumed event")
        return
    check("same full JID after resumption", alice.boundjid.full == full, alice.boundjid.full)
    got = []
    for _ in range(2):
        got.append((await alice.next_message())["body"])
    check("messages sent while dropped arrive once resumed", got == ["two", "three"], repr(got))
    await asyncio.sleep(1)
    check("nothing delivered twice", alice.inbox.empty(), repr(alice.inbox))

    bob.send_message(mto=full, mbody="four", mtype="chat")
    msg = await alice.next_message()
    check("the resumed session carries on", msg["body"] == "four", msg["body"])
    check("no stray messages for bob", bob.inbox.empty())
    await alice.quit()
    await bob.quit()


run(main)
