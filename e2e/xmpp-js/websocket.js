// End-to-end check of XMPP over WebSocket (RFC 7395) with @xmpp/client: alice logs in over
// ws://HTTP_BASE/xmpp-websocket (a loopback WebSocket counts as secure), bob over STARTTLS;
// they exchange messages, alice pings the server, and both close their streams.
// The Rust driver (crates/hestia-server/tests/e2e_xmpp_js.rs) creates ws_alice and ws_bob as
// friends and passes HOST, PORT, DOMAIN, HTTP_BASE, PASSWORD. Node 20 needs
// --experimental-websocket for the global WebSocket xmpp.js uses.
// Prints PASS/FAIL per check; exits 1 on any failure.

import { client, xml } from "@xmpp/client";
import { WAIT_MS, check, checkChat, run, within } from "./checks.js";

const { HOST, PORT, DOMAIN, HTTP_BASE, PASSWORD } = process.env;

/** Starts a client and resolves once it is online; messages are queued for nextMessage(). */
async function online(service, username) {
  const xmpp = client({ service, domain: DOMAIN, username, password: PASSWORD, resource: "node" });
  // As in index.js: xmpp.js's own 2 s per stream open is too short on a loaded CI machine.
  xmpp.timeout = WAIT_MS;
  const inbox = [];
  const waiters = [];
  xmpp.on("stanza", (stanza) => {
    if (!stanza.is("message")) return;
    if (waiters.length > 0) waiters.shift()(stanza);
    else inbox.push(stanza);
  });
  xmpp.nextMessage = () =>
    within(
      new Promise((resolve) => (inbox.length > 0 ? resolve(inbox.shift()) : waiters.push(resolve))),
      `${username} waiting for a message`,
    );
  xmpp.on("error", (err) => console.log(`info: ${username} error: ${err.message ?? err}`));
  const ready = new Promise((resolve) => xmpp.once("online", resolve));
  await within(xmpp.start(), `${username} login`);
  const jid = await within(ready, `${username} online`);
  return { xmpp, jid: jid.toString() };
}

async function main() {
  const wsUrl = `${HTTP_BASE.replace(/^http/, "ws")}/xmpp-websocket`;
  const alice = await online(wsUrl, "ws_alice");
  const bob = await online(`xmpp://${HOST}:${PORT}`, "ws_bob");
  check("alice online over WebSocket", alice.jid === `ws_alice@${DOMAIN}/node`, alice.jid);
  check("bob online over TCP", bob.jid === `ws_bob@${DOMAIN}/node`, bob.jid);

  await checkChat(alice, bob, "from a WebSocket", {
    delivered: "WebSocket -> TCP message delivered",
    stamped: "stamped with alice's full JID",
  });
  await checkChat(bob, alice, "from TCP", { delivered: "TCP -> WebSocket message delivered" });

  try {
    await within(alice.xmpp.iqCaller.get(xml("ping", { xmlns: "urn:xmpp:ping" }), DOMAIN), "ping server");
    check("server answers ping over WebSocket", true);
  } catch (e) {
    check("server answers ping over WebSocket", false, String(e));
  }

  await within(alice.xmpp.stop(), "alice stop");
  check("alice closed her WebSocket stream", alice.xmpp.status === "offline", alice.xmpp.status);
  await within(bob.xmpp.stop(), "bob stop");
}

await run(main);
