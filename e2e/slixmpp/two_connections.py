"""Two connections of one user are both addressable by their full JIDs, for messages and
for IQs (XEP-0199 pings answered by each connection's slixmpp)."""

from hestia_e2e import Client, IqError, IqTimeout, WAIT, check, jid, run


async def main():
    phone = await Client(jid("slix_multi", "phone"), plugins=("xep_0199",)).online("phone")
    laptop = await Client(jid("slix_multi", "laptop"), plugins=("xep_0199",)).online("laptop")
    peer = await Client(jid("slix_peer", "desk"), plugins=("xep_0199",)).online("peer")
    check("two connections bound with distinct full JIDs",
          phone.boundjid.full != laptop.boundjid.full and phone.boundjid.bare == laptop.boundjid.bare,
          f"{phone.boundjid} {laptop.boundjid}")

    for target, other in ((phone, laptop), (laptop, phone)):
        name = target.boundjid.resource
        peer.send_message(mto=target.boundjid.full, mbody=f"for {name}", mtype="chat")
        msg = await target.next_message()
        check(f"message to /{name} arrives there", msg["body"] == f"for {name}", msg["body"])
        check(f"message to /{name} is from the sender's full JID",
              msg["from"].full == peer.boundjid.full, msg["from"].full)
        try:
            await peer.plugin["xep_0199"].send_ping(target.boundjid.full, timeout=WAIT)
            check(f"IQ to /{name} answered by that connection", True)
        except (IqError, IqTimeout) as e:
            check(f"IQ to /{name} answered by that connection", False, repr(e))
        check(f"message to /{name} not copied to the other connection", other.inbox.empty())

    for c in (phone, laptop, peer):
        await c.quit()


run(main)
