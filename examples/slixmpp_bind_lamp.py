"""Alice binds lamp-1 by its verification code (IGRS Fig. 5) and sees it online.
The lamp (added with `hestia device add lamp-1 ... --code 493817`) logs in too, so its
presence has somewhere to come from. Run after examples/slixmpp_newcomer.py.
Usage: python examples/slixmpp_bind_lamp.py [CA_FILE [PORT]] (defaults: hestia-data/ca.pem 5222).
"""
import asyncio, ssl, sys, slixmpp
from slixmpp.xmlstream import ET

NS_RELATION = "urn:igrs:ra:0:relation"
NS_DEVICE = "urn:igrs:ra:0:device"

def client(jid, password, ca):
    c = slixmpp.ClientXMPP(jid, password, ssl_context=ssl.create_default_context(cafile=ca))
    c.enable_direct_tls = False              # STARTTLS on 5222
    return c

async def online(c, port):
    started = asyncio.get_running_loop().create_future()
    c.add_event_handler("session_start", lambda _: started.done() or started.set_result(None))
    c.connect("127.0.0.1", port)
    await started
    await c.get_roster()
    c.send_presence(pstatus="ready")

async def main():
    ca, port = (sys.argv[1:2] or ["hestia-data/ca.pem"])[0], int((sys.argv[2:3] or ["5222"])[0])
    lamp = client("lamp-1@localhost", "lamp-secret-1", ca)
    alice = client("alice@localhost", "wonderland-42", ca)
    seen = asyncio.get_running_loop().create_future()
    def on_presence(p):
        if p["from"].bare == "lamp-1@localhost" and p["type"] == "available" and not seen.done():
            seen.set_result(p)
    alice.add_event_handler("presence_available", on_presence)
    await online(lamp, port)
    await online(alice, port)

    iq = alice.Iq(stype="set", sto="localhost")
    relate = ET.Element(f"{{{NS_RELATION}}}relate", device="lamp-1@localhost")
    ET.SubElement(relate, f"{{{NS_RELATION}}}code").text = "493817"
    iq.append(relate)
    answer = (await iq.send()).xml.find(f"{{{NS_RELATION}}}relate")
    print(f"alice is the lamp's {answer.get('kind')} (right: {answer.get('right')})")

    p = await asyncio.wait_for(seen, 10)
    device = p.xml.find(f"{{{NS_DEVICE}}}device")
    print(f"the lamp is online: type {device.get('type')}, status {p['status']!r}")
    item = alice.client_roster["lamp-1@localhost"]
    print(f"alice's roster: lamp-1@localhost subscription={item['subscription']}")
    for c in (alice, lamp):
        c.disconnect()
        await c.disconnected

asyncio.run(main())
