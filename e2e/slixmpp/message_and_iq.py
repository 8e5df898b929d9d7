"""Message and IQ round trips between two slixmpp clients, and pings to the server:
a chat message each way, an IQ in a custom namespace answered by the other client's own
handler, XEP-0092 software version and XEP-0199 ping answered by the other client."""

from slixmpp import Iq
from slixmpp.xmlstream import ElementBase, register_stanza_plugin
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import StanzaPath

from hestia_e2e import Client, IqError, IqTimeout, WAIT, check, jid, run, server_ping

NS = "urn:example:hestia:e2e"


class Echo(ElementBase):
    """<query xmlns='urn:example:hestia:e2e'>text</query>"""

    name = "query"
    namespace = NS
    plugin_attrib = "e2e_echo"
    interfaces = {"text"}

    def get_text(self):
        return self.xml.text or ""

    def set_text(self, value):
        self.xml.text = value


register_stanza_plugin(Iq, Echo)

PLUGINS = ("xep_0030", "xep_0092", "xep_0199")


def answer_echo(client):
    def handler(iq):
        reply = iq.reply()
        reply["e2e_echo"]["text"] = iq["e2e_echo"]["text"][::-1]
        reply.send()

    client.register_handler(Callback("e2e echo", StanzaPath("iq@type=get/e2e_echo"), handler))


async def main():
    alice = await Client(jid("slix_alice", "a"), plugins=PLUGINS).online("alice")
    bob = await Client(jid("slix_bob", "b"), plugins=PLUGINS).online("bob")
    bob.plugin["xep_0092"].software_name = "hestia-e2e-bob"
    answer_echo(bob)

    alice.send_message(mto=bob.boundjid.full, mbody="hello bob", mtype="chat")
    msg = await bob.next_message()
    check("message alice -> bob delivered", msg["body"] == "hello bob", msg["body"])
    check("message stamped with alice's full JID", msg["from"].full == alice.boundjid.full, msg["from"].full)
    check("message type kept", msg["type"] == "chat", msg["type"])

    bob.send_message(mto=msg["from"], mbody="hello alice", mtype="chat")
    msg = await alice.next_message()
    check("reply bob -> alice delivered", msg["body"] == "hello alice", msg["body"])

    iq = alice.make_iq_get(ito=bob.boundjid.full)
    iq["e2e_echo"]["text"] = "stressed"
    try:
        result = await iq.send(timeout=WAIT)
        check("custom-namespace IQ answered by bob", result["e2e_echo"]["text"] == "desserts", str(result))
        check("IQ result comes from bob's full JID", result["from"].full == bob.boundjid.full, result["from"].full)
    except (IqError, IqTimeout) as e:
        check("custom-namespace IQ answered by bob", False, repr(e))

    try:
        version = await alice.plugin["xep_0092"].get_version(bob.boundjid.full, timeout=WAIT)
        name = version["software_version"]["name"]
        check("XEP-0092 version query answered by bob", name == "hestia-e2e-bob", name)
    except (IqError, IqTimeout) as e:
        check("XEP-0092 version query answered by bob", False, repr(e))

    try:
        await alice.plugin["xep_0199"].send_ping(bob.boundjid.full, timeout=WAIT)
        check("XEP-0199 ping to bob's full JID answered", True)
    except (IqError, IqTimeout) as e:
        check("XEP-0199 ping to bob's full JID answered", False, repr(e))

    check("alice pings the server", await server_ping(alice))
    check("bob pings the server", await server_ping(bob))

    try:
        version = await alice.plugin["xep_0092"].get_version(alice.boundjid.domain, timeout=WAIT)
        check("server answers XEP-0092", bool(version["software_version"]["name"]), str(version))
    except (IqError, IqTimeout) as e:
        check("server answers XEP-0092", False, repr(e))

    check("no stray messages", alice.inbox.empty() and bob.inbox.empty())
    await alice.quit()
    await bob.quit()


run(main)
