// End-to-end check of Hestia with @xmpp/client (xmpp.js), written on its public API: two users
// become friends with RFC 6121 subscriptions, then exchange messages and IQs; one binds a device
// by its verification code (the IGRS relation IQ) and receives the device's presence.
// The Rust driver (crates/hestia-server/tests/e2e_xmpp_js.rs) starts an in-process server and
// passes HOST, PORT (STARTTLS), DOMAIN, HTTP_BASE, ADMIN_TOKEN; NODE_EXTRA_CA_CERTS names the
// server's CA so Node's TLS trusts it. Prints PASS/FAIL per check; exits 1 on any failure.

import { client, xml } from "@xmpp/client";
import { WAIT_MS, check, checkChat, run, within } from "./checks.js";

const { HOST, PORT, DOMAIN, HTTP_BASE, ADMIN_TOKEN } = process.env;
const PASSWORD = "xmpp.js secret 1";
const NS = "urn:example:hestia:e2e";
const NS_RELATION = "urn:igrs:ra:0:relation";
const NS_DEVICE = "urn:igrs:ra:0:device";
const LAMP_CODE = "314159";

async function admin(method, path, body) {
  const res = await fetch(`${HTTP_BASE}/admin/v1${path}`, {
    method,
    headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, "Content-Type": "application/json" },
    body: body && JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`admin ${method} ${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

/** Starts a client for `username` and resolves once it is online. */
async function online(username, resource) {
  const xmpp = client({
    service: `xmpp://${HOST}:${PORT}`,
    domain: DOMAIN,
    username,
    password: PASSWORD,
    resource,
  });
  // xmpp.js gives each stream open 2 s by default; a loaded 2-core CI machine can take longer
  // for a TLS handshake plus SASL, which is not what this test is about.
  xmpp.timeout = WAIT_MS;
  // Every message and presence is kept until a waiter takes it.
  xmpp.inbox = [];
  xmpp.waiters = [];
  xmpp.on("stanza", (stanza) => {
    if (!stanza.is("message") && !stanza.is("presence")) return;
    const i = xmpp.waiters.findIndex((w) => w.want(stanza));
    if (i >= 0) xmpp.waiters.splice(i, 1)[0].resolve(stanza);
    else xmpp.inbox.push(stanza);
  });
  xmpp.waitFor = (want, what) =>
    within(
      new Promise((resolve) => {
        const i = xmpp.inbox.findIndex(want);
        if (i >= 0) resolve(xmpp.inbox.splice(i, 1)[0]);
        else xmpp.waiters.push({ want, resolve });
      }),
      `${username} waiting for ${what}`,
    );
  xmpp.nextMessage = () => xmpp.waitFor((s) => s.is("message"), "a message");
  xmpp.on("error", (err) => console.log(`info: ${username} error: ${err.message ?? err}`));
  const ready = new Promise((resolve) => xmpp.once("online", resolve));
  await within(xmpp.start(), `${username} login`);
  const jid = await within(ready, `${username} online`);
  return { xmpp, jid: jid.toString() };
}

async function main() {
  await admin("POST", "/users", { username: "js_alice", password: PASSWORD });
  await admin("POST", "/users", { username: "js_bob", password: PASSWORD });

  const alice = await online("js_alice", "node");
  const bob = await online("js_bob", "node");
  check("alice online with the requested resource", alice.jid === `js_alice@${DOMAIN}/node`, alice.jid);
  check("bob online", bob.jid === `js_bob@${DOMAIN}/node`, bob.jid);

  const { sessions } = await admin("GET", "/sessions");
  const aliceSession = sessions.find((s) => s.jid === alice.jid);
  check("xmpp.js logged in with SCRAM-SHA-1 over TLS",
    aliceSession?.mechanism === "SCRAM-SHA-1" && aliceSession?.tls === true, JSON.stringify(aliceSession));

  // Stanzas flow only between related accounts: alice and bob become friends first
  // (RFC 6121 subscription; the IRSP makes an accepted request mutual).
  await alice.xmpp.send(xml("presence"));
  await bob.xmpp.send(xml("presence"));
  const bare = (j) => j.split("/")[0];
  await alice.xmpp.send(xml("presence", { to: bare(bob.jid), type: "subscribe" }));
  const ask = await bob.xmpp.waitFor((s) => s.is("presence") && s.attrs.type === "subscribe", "a request");
  check("bob receives alice's subscription request", bare(ask.attrs.from) === bare(alice.jid), ask.toString());
  await bob.xmpp.send(xml("presence", { to: bare(alice.jid), type: "subscribed" }));
  const ok = await alice.xmpp.waitFor((s) => s.is("presence") && s.attrs.type === "subscribed", "approval");
  check("alice is told subscribed", bare(ok.attrs.from) === bare(bob.jid), ok.toString());
  const seen = await alice.xmpp.waitFor(
    (s) => s.is("presence") && !s.attrs.type && bare(s.attrs.from ?? "") === bare(bob.jid), "bob's presence");
  check("alice sees bob online", seen.attrs.from === bob.jid, seen.toString());
  const roster = await within(alice.xmpp.iqCaller.get(xml("query", { xmlns: "jabber:iq:roster" })), "roster");
  const bobItem = roster.getChildren("item").find((i) => i.attrs.jid === bare(bob.jid));
  check("alice's roster holds bob with subscription both", bobItem?.attrs.subscription === "both", roster.toString());

  // Bob answers a custom-namespace IQ with his own handler.
  bob.xmpp.iqCallee.get(NS, "query", (ctx) =>
    xml("query", { xmlns: NS }, ctx.element.text().split("").reverse().join("")));

  await checkChat(alice, bob, "hello bob", {
    delivered: "message alice -> bob delivered",
    stamped: "message stamped with alice's full JID",
  });
  await checkChat(bob, alice, "hello alice", { delivered: "reply bob -> alice delivered" });

  try {
    const answer = await within(
      alice.xmpp.iqCaller.get(xml("query", { xmlns: NS }, "stressed"), bob.jid),
      "custom IQ");
    check("custom-namespace IQ answered by bob", answer.text() === "desserts", answer.toString());
  } catch (e) {
    check("custom-namespace IQ answered by bob", false, String(e));
  }

  try {
    await within(alice.xmpp.iqCaller.get(xml("ping", { xmlns: "urn:xmpp:ping" }), bob.jid), "ping bob");
    check("ping to bob's full JID answered by xmpp.js", true);
  } catch (e) {
    check("ping to bob's full JID answered by xmpp.js", false, String(e));
  }

  try {
    await within(alice.xmpp.iqCaller.get(xml("ping", { xmlns: "urn:xmpp:ping" }), DOMAIN), "ping server");
    check("server answers ping", true);
  } catch (e) {
    check("server answers ping", false, String(e));
  }

  try {
    await within(alice.xmpp.iqCaller.get(xml("query", { xmlns: "urn:example:nobody" }), DOMAIN), "unknown IQ");
    check("server refuses an unknown IQ", false, "got a result");
  } catch (e) {
    check("server refuses an unknown IQ with service-unavailable",
      e.condition === "service-unavailable", `${e.name}: ${e.condition ?? e}`);
  }

  // Code binding (IGRS Fig. 5): alice proves possession of a lamp with its verification code.
  await admin("POST", "/devices", {
    id: "js_lamp", password: PASSWORD, type: "lamp", verification_code: LAMP_CODE,
  });
  const lamp = await online("js_lamp", "fw");
  await lamp.xmpp.send(xml("presence", {}, xml("status", {}, "ready")));
  try {
    const related = await within(alice.xmpp.iqCaller.set(
      xml("relate", { xmlns: NS_RELATION, device: bare(lamp.jid) }, xml("code", {}, LAMP_CODE)),
      DOMAIN), "relate by code");
    check("code accepted: alice is the lamp's owner",
      related.attrs.kind === "owner" && related.attrs.right === "owner", related.toString());
  } catch (e) {
    check("code accepted: alice is the lamp's owner", false, String(e));
  }
  const lampPresence = await alice.xmpp.waitFor(
    (s) => s.is("presence") && !s.attrs.type && s.attrs.from === lamp.jid, "the lamp's presence");
  check("alice receives the lamp's presence with its device type",
    lampPresence.getChild("device", NS_DEVICE)?.attrs.type === "lamp"
      && lampPresence.getChildText("status") === "ready", lampPresence.toString());
  await within(lamp.xmpp.stop(), "lamp stop");
  const gone = await alice.xmpp.waitFor(
    (s) => s.is("presence") && s.attrs.type === "unavailable" && s.attrs.from === lamp.jid, "lamp offline");
  check("alice sees the lamp go offline", Boolean(gone));

  await within(alice.xmpp.stop(), "alice stop");
  await within(bob.xmpp.stop(), "bob stop");
}

await run(main);
