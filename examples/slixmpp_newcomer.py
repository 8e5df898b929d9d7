"""Registers alice@localhost in-band (XEP-0077), logs in over STARTTLS and pings the server.
Usage: python examples/slixmpp_newcomer.py [CA_FILE [PORT]] (defaults: hestia-data/ca.pem 5222).
"""
import asyncio, ssl, sys, slixmpp

class Newcomer(slixmpp.ClientXMPP):
    def __init__(self, ca, port):
        super().__init__("alice@localhost", "wonderland-42",
                         ssl_context=ssl.create_default_context(cafile=ca))
        self.enable_direct_tls = False       # STARTTLS on 5222
        self.register_plugin("xep_0077")     # in-band registration
        self.register_plugin("xep_0199")     # ping
        self.add_event_handler("register", self.on_register)
        self.add_event_handler("session_start", self.on_start)
        self.port = port

    async def on_register(self, _form):
        iq = self.Iq()
        iq["type"] = "set"
        iq["register"]["username"] = self.boundjid.user
        iq["register"]["password"] = self.password
        await iq.send()

    async def on_start(self, _event):
        print("logged in as", self.boundjid)
        rtt = await self.plugin["xep_0199"].ping(self.boundjid.domain)
        print(f"the server answered a ping in {rtt * 1000:.1f} ms")
        self.disconnect()

async def main():
    client = Newcomer(*(sys.argv[1:2] or ["hestia-data/ca.pem"]), int((sys.argv[2:3] or ["5222"])[0]))
    client.connect("127.0.0.1", client.port)
    await client.disconnected

asyncio.run(main())
