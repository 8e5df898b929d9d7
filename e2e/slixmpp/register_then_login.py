"""XEP-0077 in-band registration through slixmpp's xep_0077 plugin, then login with the new
account (the same stream goes on to SASL after registering, as slixmpp does), then a fresh
login on a second connection."""

from hestia_e2e import Client, IqError, check, jid, run, server_ping

USER = "slix_newcomer"
NEW_PASSWORD = "fresh secret 1"


class Registering(Client):
    def __init__(self):
        super().__init__(jid(USER), NEW_PASSWORD, plugins=("xep_0030", "xep_0004", "xep_0066", "xep_0077", "xep_0199"))
        self.registered = None
        self.add_event_handler("register", self.on_register)

    async def on_register(self, form):
        # `form` is the server's answer to the registration form request.
        fields = form["register"]["fields"]
        check("registration form offers username and password",
              {"username", "password"} <= fields, str(fields))
        iq = self.Iq()
        iq["type"] = "set"
        iq["register"]["username"] = self.boundjid.user
        iq["register"]["password"] = self.password
        try:
            await iq.send()
            self.registered = True
        except IqError as e:
            self.registered = False
            check("in-band registration", False, e.iq["error"]["condition"])


async def main():
    c = Registering()
    outcome = await c.login()
    check("in-band registration", c.registered is True, f"registered={c.registered}")
    check("login right after registering", outcome == "online", outcome)
    if outcome == "online":
        check("bound to the new account", c.boundjid.bare == jid(USER), str(c.boundjid))
        check("server ping after registering", await server_ping(c))
    await c.quit()

    again = Client(jid(USER), NEW_PASSWORD, plugins=("xep_0199",))
    outcome = await again.login()
    check("fresh login with the registered password", outcome == "online", outcome)
    await again.quit()


run(main)
