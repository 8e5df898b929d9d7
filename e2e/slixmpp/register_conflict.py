"""Registering a username that is taken fails with <conflict/> (XEP-0077 §3.1)."""

from hestia_e2e import Client, IqError, PASSWORD, check, jid, run

USER = "slix_taken"  # created by the driver beforehand


class Registering(Client):
    def __init__(self):
        super().__init__(jid(USER), "another password", plugins=("xep_0030", "xep_0004", "xep_0066", "xep_0077"))
        self.condition = None
        self.add_event_handler("register", self.on_register)

    async def on_register(self, _form):
        iq = self.Iq()
        iq["type"] = "set"
        iq["register"]["username"] = USER
        iq["register"]["password"] = self.password
        try:
            await iq.send()
            self.condition = "success"
        except IqError as e:
            self.condition = e.iq["error"]["condition"]
        # Stop here: logging in with a password that was not set must not be attempted.
        self.disconnect()


async def main():
    c = Registering()
    c.start()
    await c.wait_closed()
    check("duplicate registration answered with conflict", c.condition == "conflict", str(c.condition))

    owner = Client(jid(USER), PASSWORD)
    outcome = await owner.login()
    check("original owner still logs in with the original password", outcome == "online", outcome)
    await owner.quit()


run(main)
