// Linked homes (ISO/IEC 10192-4-3 §8–§9): the peer gateways this gateway federates with, the
// person's links in either direction, linking (the browser goes to the peer's consent screen
// and comes back to #federations) and unlinking. The peer's devices then show in the device list
// like any others.

import * as api from "./api.js";
import { announce, h } from "./view.js";

/** Fills the "Linked homes" section; `changed` reloads the device list after an unlink. */
export async function loadFederations(section, changed) {
  const list = section.querySelector("#federations");
  const status = section.querySelector("#federations-status");
  try {
    const [{ peers }, { federations }] = await Promise.all([api.peers(), api.federations()]);
    section.hidden = peers.length === 0 && federations.length === 0;
    const linked = new Set(federations.filter((f) => f.direction === "outbound").map((f) => f.peer));
    const rows = [
      ...federations.map((f) => linkRow(f, status, () => loadFederations(section, changed).then(changed))),
      ...peers.filter((p) => !linked.has(p.name)).map((p) => peerRow(p, status)),
    ];
    list.replaceChildren(...rows);
  } catch (e) {
    status.textContent = `Could not load your linked homes: ${e.message}`;
  }
}

function linkRow(link, status, after) {
  const how = link.direction === "outbound"
    ? `linked as ${link.remoteUser}; its devices are in your list`
    : `${link.remoteUser} there reaches your devices here (linked from ${link.peer})`;
  const since = new Date(link.linkedAt);
  return h("li", { "data-link": link.linkId, "data-peer": link.peer },
    h("strong", {}, link.peer), ` — ${how}, since `,
    h("time", { datetime: since.toISOString() }, since.toLocaleString()), " ",
    h("button", {
      type: "button",
      class: "secondary",
      "aria-label": `Unlink ${link.peer}`,
      onclick: async (ev) => {
        ev.currentTarget.disabled = true;
        try {
          await api.unlink(link.linkId);
          status.textContent = `Unlinked ${link.peer}: its tokens are revoked on both sides.`;
          announce(`Unlinked ${link.peer}`);
          await after();
        } catch (e) {
          status.textContent = `Could not unlink ${link.peer}: ${e.message}`;
          ev.currentTarget.disabled = false;
        }
      },
    }, "Unlink"));
}

function peerRow(peer, status) {
  return h("li", { "data-peer": peer.name },
    h("strong", {}, peer.name), ` (${peer.issuer}) — not linked `,
    h("button", {
      type: "button",
      "aria-label": `Link your account at ${peer.name}`,
      onclick: async () => {
        try {
          const { authorizationUrl } = await api.startLink(peer.name);
          status.textContent = `Going to ${peer.name} to sign in and allow…`;
          window.location.assign(authorizationUrl);
        } catch (e) {
          status.textContent = `Could not link ${peer.name}: ${e.message}`;
        }
      },
    }, "Link your account"));
}
