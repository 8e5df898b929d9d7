// End-to-end check of Hestia with @xmpp/client (xmpp.js), written on its public API.
// The Rust driver (crates/hestia-server/tests/e2e_xmpp_js.rs) starts an in-process server and
// passes HOST, PORT (STARTTLS), DOMAIN, HTTP_BASE, ADMIN_TOKEN; NODE_EXTRA_CA_CERTS names the
// server's CA so Node's TLS trusts it. Prints PASS/FAIL per check; exits 1 on any failure.

import { client, xml } from "@xmpp/client";

const { HOST, PORT, DOMAIN, HTTP_BASE, ADMIN_TOKEN } = process.env;
const PASSWORD = "xmpp.js secret 1";
const NS = "urn:example:hestia:e2e";
const WAIT_MS = 20_000;

let failures = 0;
function check(name, ok, why = "") {
  if (ok) {
    console.log(`PASS ${name}`);
  } else {
    failures += 1;
    console.log(`FAIL ${name}: ${why}`);
  }
}

function within(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${WAIT_MS} ms`)), WAIT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

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
  xmpp.inbox = [];
  xmpp.waiters = [];
  xmpp.on("stanza", (stanza) => {
    if (!stanza.is("message")) return;
    const waiter = xmpp.waiters.shift();
    if (waiter) waiter(stanza);
    else xmpp.inbox.push(stanza);
  });
  xmpp.nextMessage = () =>
    within(
      new Promise((resolve) => {
        const queued = xmpp.inbox.shift();
        if (queued) resolve(queued);
        else xmpp.waiters.push(resolve);
      }),
      `${username} waiting for a message`,
    );
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

  // Bob answers a custom-namespace IQ with his own handler.
  bob.xmpp.iqCallee.get(NS, "query", (ctx) =>
    xml("query", { xmlns: NS }, ctx.element.text().split("").reverse().join("")));

  await alice.xmpp.send(xml("message", { to: bob.jid, type: "chat" }, xml("body", {}, "hello bob")));
  const msg = await bob.xmpp.nextMessage();
  check("message alice -> bob delivered", msg.getChildText("body") === "hello bob", msg.toString());
  check("message stamped with alice's full JID", msg.attrs.from === alice.jid, msg.attrs.from);

  await bob.xmpp.send(xml("message", { to: alice.jid, type: "chat" }, xml("body", {}, "hello alice")));
  const reply = await alice.xmpp.nextMessage();
  check("reply bob -> alice delivered", reply.getChildText("body") === "hello alice", reply.toString());

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

  await within(alice.xmpp.stop(), "alice stop");
  await within(bob.xmpp.stop(), "bob stop");
}

try {
  await main();
} catch (e) {
  check("scenario completed", false, e.stack ?? String(e));
}
if (failures > 0) console.log(`${failures} check(s) failed`);
process.exit(failures > 0 ? 1 : 0);
