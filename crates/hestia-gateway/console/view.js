// Rendering of the device list: one card per device with its online status, its properties
// (a control for each one the user may set) and, for an owner or admin, sharing and the
// verification code. Built with DOM calls only: no HTML strings, nothing inline for the CSP.

import * as api from "./api.js";

/** `h("p", {class: "x"}, "text", child)`: an element with attributes and children. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === undefined || v === null) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  el.append(...children.filter((c) => c !== null && c !== undefined));
  return el;
}

/** Says `text` to screen readers (the page's polite live region). */
export function announce(text) {
  const region = document.getElementById("announce");
  region.textContent = "";
  // A fresh text node after clearing makes repeated messages heard again.
  setTimeout(() => { region.textContent = text; }, 50);
}

const RANK = { view: 1, control: 2, admin: 3, owner: 4 };
const mayControl = (device) => RANK[device.right] >= RANK.control;
const mayManage = (device) => RANK[device.right] >= RANK.admin;
let serial = 0;
const NUMBER = new Intl.NumberFormat(undefined, { maximumFractionDigits: 3 });

export function formatValue(prop, value) {
  if (value === undefined || value === null) return "—";
  if (prop.type === "boolean") return value ? "on" : "off";
  const shown = typeof value === "number" ? NUMBER.format(value) : String(value);
  return prop.unit ? `${shown} ${prop.unit}` : shown;
}

/** Where a device of another home (a linked peer gateway, an MQTT cluster) is; this home's
 * own IGRS devices need no such note. */
const elsewhere = (device) => (device.cluster && device.cluster !== "igrs" ? ` · at ${device.cluster}` : "");

/** The card of one device; values are filled in by `loadValues`. */
export function deviceCard(device) {
  const n = ++serial;
  const error = h("p", { class: "error", role: "alert" });
  const props = h("div", { class: "props" },
    ...device.properties.map((p) => propertyRow(device, p, `d${n}-${p.name}`, error)));
  const card = h("li", { class: "device", "data-device": device.id },
    h("article", { "aria-labelledby": `d${n}-name` },
      h("header", {},
        h("h3", { id: `d${n}-name` }, device.name),
        h("span", { class: "status", "data-online": "" })),
      h("p", { class: "meta" }, `${device.type || "device"}${elsewhere(device)} · your right: ${device.right}`),
      device.properties.length ? props : h("p", { class: "meta" }, "This device has not described itself."),
      error,
      mayManage(device) ? sharingPanel(device, n) : null));
  setOnline(card, device.online);
  return card;
}

export function setOnline(card, online) {
  const status = card.querySelector("[data-online]");
  status.textContent = online ? "online" : "offline";
  status.className = `status ${online ? "online" : "offline"}`;
  card.dataset.isOnline = String(online);
}

function propertyRow(device, prop, id, error) {
  const unit = prop.unit ? ` (${prop.unit})` : "";
  const writable = prop.access !== "read" && mayControl(device);
  const row = h("div", { class: "prop", "data-property": prop.name });
  if (!writable) {
    row.append(h("span", { id: `${id}-label` }, prop.name),
      h("output", { "aria-labelledby": `${id}-label`, "data-value": "" }, "—"));
    return row;
  }
  const label = h("label", { for: id }, `${prop.name}${unit}`);
  const put = async (value, control) => {
    error.textContent = "";
    if (prop.needsConfirmation &&
        !window.confirm(`Set ${prop.name} of ${device.name} to ${formatValue(prop, value)}?`)) {
      restore(control, row.dataset.current);
      announce(`${prop.name} not changed`);
      return;
    }
    control.disabled = true;
    try {
      const answer = await api.setProperty(device.id, prop.name, value, prop.needsConfirmation);
      showValue(row, prop, answer.value);
      announce(`${device.name}: ${prop.name} set to ${formatValue(prop, answer.value)}`);
    } catch (e) {
      error.textContent = `Could not set ${prop.name}: ${e.message}`;
      restore(control, row.dataset.current);
    } finally {
      control.disabled = false;
    }
  };
  if (prop.type === "boolean") {
    const input = h("input", { id, type: "checkbox", role: "switch", class: "switch", "data-value": "" });
    input.addEventListener("change", () => put(input.checked, input));
    row.append(label, input);
  } else if (prop.type === "enum") {
    const select = h("select", { id, "data-value": "" },
      ...prop.values.map((v) => h("option", { value: v }, v)));
    select.addEventListener("change", () => put(select.value, select));
    row.append(label, select);
  } else {
    const numeric = prop.type === "integer" || prop.type === "number";
    const input = h("input", {
      id, "data-value": "", type: numeric ? "number" : "text",
      min: prop.min, max: prop.max, maxlength: prop.maxLength,
      step: prop.type === "integer" ? 1 : numeric ? "any" : undefined,
      inputmode: prop.type === "integer" ? "numeric" : numeric ? "decimal" : undefined,
    });
    const hint = numeric && prop.min !== undefined && prop.max !== undefined
      ? h("span", { class: "meta" }, `${prop.min}–${prop.max}`) : null;
    // novalidate: the server is the judge, and its message is the one shown.
    const form = h("form", { novalidate: true, "aria-label": `Set ${prop.name}` },
      input, h("button", { type: "submit" }, "Set"), hint);
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const raw = input.value.trim();
      put(numeric ? Number(raw) : raw, input);
    });
    row.append(label, form);
  }
  return row;
}

function restore(control, current) {
  if (current === undefined) return;
  const value = JSON.parse(current);
  if (control.type === "checkbox") control.checked = value === true;
  else control.value = value;
}

/** Shows a value in a property row, whatever its control. */
export function showValue(row, prop, value) {
  row.dataset.current = JSON.stringify(value);
  const el = row.querySelector("[data-value]");
  if (el.tagName === "OUTPUT") el.textContent = formatValue(prop, value);
  else if (el.type === "checkbox") el.checked = value === true;
  else el.value = value;
}

/** Reads every readable property of an online device into its card. */
export async function loadValues(card, device) {
  if (!device.online) return;
  const error = card.querySelector(".error");
  await Promise.all(device.properties.filter((p) => p.access !== "write").map(async (p) => {
    try {
      const answer = await api.getProperty(device.id, p.name);
      showValue(card.querySelector(`[data-property="${p.name}"]`), p, answer.value);
    } catch (e) {
      error.textContent = `Could not read ${p.name}: ${e.message}`;
    }
  }));
}

function sharingPanel(device, n) {
  const error = h("p", { class: "error", role: "alert" });
  const list = h("ul", { class: "shares", "aria-label": "People with access" });
  const requests = h("ul", { class: "shares", "aria-label": "Requests" });
  const reload = async () => {
    error.textContent = "";
    try {
      const answer = await api.shares(device.id);
      list.replaceChildren(...answer.shares.map((s) => shareItem(s)));
      requests.replaceChildren(...answer.requests.map((r) => requestItem(r)));
      requests.hidden = answer.requests.length === 0;
    } catch (e) {
      error.textContent = `Could not load sharing: ${e.message}`;
    }
  };
  const act = async (what, done) => {
    error.textContent = "";
    try {
      await what();
      announce(done);
      await reload();
    } catch (e) {
      error.textContent = e.message;
    }
  };
  const shareItem = (s) => s.right === "owner"
    ? h("li", {}, `${s.userId} — owner`)
    : h("li", {}, `${s.userId} — ${s.right}`,
      h("button", { type: "button", class: "secondary",
        onclick: () => act(() => api.unshare(device.id, s.userId), `${device.name} no longer shared with ${s.userId}`) },
      `Stop sharing with ${s.userId}`));
  const requestItem = (r) => h("li", {}, `${r.userId} asks for ${r.right ?? "access"}`,
    ...["view", "control"].map((right) => h("button", { type: "button",
      onclick: () => act(() => api.share(device.id, r.userId, right), `${device.name} shared with ${r.userId} (${right})`) },
    `Share with ${r.userId} at ${right}`)),
    h("button", { type: "button", class: "secondary",
      onclick: () => act(() => api.unshare(device.id, r.userId), `request of ${r.userId} declined`) },
    `Decline ${r.userId}`));
  const user = h("input", { id: `d${n}-share-user`, autocomplete: "off", required: true });
  const right = h("select", { id: `d${n}-share-right` },
    h("option", { value: "view" }, "view"), h("option", { value: "control" }, "control"));
  const form = h("form", { class: "inline", novalidate: true, "aria-label": `Share ${device.name}` },
    h("label", { for: user.id }, "User", user),
    h("label", { for: right.id }, "Right", right),
    h("button", { type: "submit" }, "Share"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const who = user.value.trim();
    act(() => api.share(device.id, who, right.value), `${device.name} shared with ${who} (${right.value})`);
  });
  const code = h("output", { class: "code", "aria-label": "New verification code" });
  const reset = h("button", { type: "button", class: "secondary" }, "Reset verification code");
  reset.addEventListener("click", () => act(async () => {
    const answer = await api.resetCode(device.id);
    code.textContent = answer.code;
  }, "verification code reset"));
  const details = h("details", {},
    h("summary", {}, "Sharing and verification code"),
    list, requests, form, h("div", { class: "inline" }, reset, code), error);
  details.addEventListener("toggle", () => { if (details.open) reload(); });
  return details;
}
