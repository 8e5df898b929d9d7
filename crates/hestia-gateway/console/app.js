// The console's entry: sign-in, the device list, live updates, sign-out. See view.js for the
// cards, events.js for the live stream, chart.js for history and api.js for the CUI calls.

import * as api from "./api.js";
import { Chart } from "./chart.js";
import { Live } from "./events.js";
import { loadFederations } from "./federation.js";
import { announce, deviceCard, h, loadValues, setOnline, showValue } from "./view.js";

const $ = (id) => document.getElementById(id);
/** Device id → { device, card, charts: Map(property → Chart) } of the list shown. */
const shown = new Map();
const live = new Live(onEvent, (text) => { $("events-state").textContent = text; });
/** Properties drawn as a chart of their recent values. */
const CHARTED = ["temperature"];

function show(signedIn) {
  $("sign-in-view").hidden = signedIn;
  $("devices-view").hidden = !signedIn;
  $("who").hidden = !signedIn;
  $("events-view").hidden = !signedIn;
  if (!signedIn) $("federations-view").hidden = true;
  if (signedIn) $("who-name").textContent = api.session().userId;
}

/** The linked homes, and the person's attention on them when back from linking one. */
async function loadLinks() {
  await loadFederations($("federations-view"), loadDevices);
  if (window.location.hash === "#federations" && !$("federations-view").hidden) {
    $("federations-status").textContent = "Linked: the other home's devices are in your list.";
    $("federations-title").scrollIntoView();
    history.replaceState(null, "", window.location.pathname);
  }
}

async function loadDevices() {
  const list = $("devices");
  list.setAttribute("aria-busy", "true");
  try {
    const { devices } = await api.devices();
    const cards = devices.map((d) => [deviceCard(d), d]);
    shown.clear();
    for (const [card, device] of cards) shown.set(device.id, { device, card, charts: new Map() });
    list.replaceChildren(...cards.map(([card]) => card));
    $("devices-empty").hidden = devices.length > 0;
    await Promise.all(cards.map(([card, d]) => loadValues(card, d)));
    announce(`${devices.length} devices loaded`);
    await Promise.all([...shown.values()].map(addCharts));
    await live.start(devices);
  } catch (e) {
    if (e.status === 401) return signOut(e.message);
    list.replaceChildren();
    $("devices-empty").hidden = false;
    $("devices-empty").textContent = `Could not load your devices: ${e.message}`;
  } finally {
    list.removeAttribute("aria-busy");
  }
}

/** A chart for each charted numeric property, filled from the gateway's history. */
async function addCharts(entry) {
  const numeric = entry.device.properties.filter((p) =>
    CHARTED.includes(p.name) && (p.type === "number" || p.type === "integer"));
  for (const p of numeric) {
    try {
      const history = await api.request("GET",
        `${api.devicePath(entry.device.id)}/properties/${p.name}/history`);
      const chart = new Chart(p.name, p.unit);
      chart.set(history.points);
      entry.charts.set(p.name, chart);
      const figure = h("figure", {}, h("figcaption", {}, `${p.name} history`), chart.el);
      entry.card.querySelector(".props").after(figure);
    } catch {
      // No history on this server (or none kept yet): the value alone is shown.
    }
  }
}

function onEvent(body, timestamp) {
  const entry = shown.get(body.deviceId);
  if (!entry) return;
  const { device, card } = entry;
  const payload = body.payload ?? {};
  if (body.event === "online") {
    setOnline(card, payload.online === true);
    announce(`${device.name} is ${payload.online ? "online" : "offline"}`);
    if (payload.online) loadValues(card, { ...device, online: true });
  } else if (body.event === "property") {
    const prop = device.properties.find((p) => p.name === payload.property);
    const row = card.querySelector(`[data-property="${payload.property}"]`);
    if (prop && row) showValue(row, prop, payload.value);
    entry.charts.get(payload.property)?.add(timestamp, payload.value);
  } else {
    const details = typeof payload === "object" && payload !== null
      ? Object.entries(payload).filter(([, v]) => typeof v !== "object")
        .map(([k, v]) => `${k} ${v}`).join(", ")
      : String(payload);
    const at = new Date(timestamp ?? Date.now());
    const item = h("li", { "data-event": body.event },
      h("time", { datetime: at.toISOString() }, at.toLocaleTimeString()),
      ` ${device.name}: ${body.event}${details ? ` (${details})` : ""}`);
    $("events").prepend(item);
    while ($("events").children.length > 50) $("events").lastElementChild.remove();
  }
}

async function signOut(reason) {
  await live.stop();
  // Asked by the person (not after a refusal): end the token on the server too.
  if (reason === undefined) await api.request("POST", "/cui/v1/sign-out").catch(() => {});
  api.forget();
  $("devices").replaceChildren();
  show(false);
  $("sign-in-error").textContent = reason ?? "";
  $("username").focus();
}

$("sign-in").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("sign-in-error").textContent = "";
  try {
    await api.signIn($("username").value.trim(), $("password").value);
    $("password").value = "";
    show(true);
    $("main").focus();
    await Promise.all([loadDevices(), loadLinks()]);
  } catch (e) {
    $("sign-in-error").textContent = e.message;
  }
});
$("sign-out").addEventListener("click", () => signOut());
$("ask").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const device = $("ask-device").value.trim();
  try {
    await api.ask(device, $("ask-right").value);
    $("ask-result").textContent = `Asked for ${device}; its owner decides.`;
  } catch (e) {
    $("ask-result").textContent = `Could not ask for ${device}: ${e.message}`;
  }
});
$("refresh").addEventListener("click", loadDevices);

if (api.session()) {
  show(true);
  loadDevices();
  loadLinks();
} else {
  show(false);
}
