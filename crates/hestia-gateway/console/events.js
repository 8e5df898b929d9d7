// Live updates: the console subscribes to each device's `online`, `property` and described
// events (POST …/subscriptions) and reads the user's Server-Sent Events stream (GET …/events)
// with fetch() and a stream reader, since EventSource cannot send the bearer token. A dropped
// stream reconnects with Last-Event-ID; subscriptions are renewed before they expire.

import * as api from "./api.js";

const EXPIRES_IN = 3600;
const RETRY_MS = 3000;

export class Live {
  /** `onEvent(body)` gets each notification's body; `onState(text)` what to tell the person. */
  constructor(onEvent, onState) {
    this.onEvent = onEvent;
    this.onState = onState;
    this.abort = null;
    this.subscriptions = [];
    this.lastEventId = null;
    this.renewTimer = null;
    this.stopped = true;
  }

  async start(devices) {
    await this.stop();
    this.stopped = false;
    try {
      await this.subscribeAll(devices);
    } catch (e) {
      this.stopped = true;
      this.onState(e.status === 404 && e.message === "no such resource"
        ? "Live updates are not available on this server; use Refresh."
        : `Live updates failed: ${e.message}`);
      return false;
    }
    this.renewTimer = setInterval(() => this.subscribeAll(devices).catch(() => {}), EXPIRES_IN * 900);
    this.read();
    return true;
  }

  async subscribeAll(devices) {
    const old = this.subscriptions;
    // In parallel: a linked home's device makes its subscription at that home's gateway.
    const made = devices.flatMap((d) => ["online", "property", ...(d.events ?? [])].map((event) =>
      api.request("POST", `${api.userPath()}/subscriptions`, { deviceId: d.id, event, expiresIn: EXPIRES_IN })));
    this.subscriptions = (await Promise.all(made)).map((s) => s.subscriptionId);
    await Promise.all(old.map((id) => this.cancel(id)));
  }

  cancel(id) {
    return api.request("DELETE", `${api.userPath()}/subscriptions/${encodeURIComponent(id)}`)
      .catch(() => {});
  }

  async stop() {
    this.stopped = true;
    clearInterval(this.renewTimer);
    this.abort?.abort();
    const ids = this.subscriptions;
    this.subscriptions = [];
    if (api.session()) await Promise.all(ids.map((id) => this.cancel(id)));
  }

  async read() {
    while (!this.stopped) {
      this.abort = new AbortController();
      try {
        const headers = { Accept: "text/event-stream", Authorization: `Bearer ${api.session()?.token}` };
        if (this.lastEventId) headers["Last-Event-ID"] = this.lastEventId;
        const response = await fetch(`${api.userPath()}/events`, { headers, signal: this.abort.signal });
        if (response.status === 401) {
          this.onState("Live updates stopped: sign in again.");
          return;
        }
        if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
        this.onState("Live updates are on.");
        await this.consume(response.body.getReader());
      } catch (e) {
        if (this.stopped) return;
        this.onState(`Live updates interrupted (${e.message}); reconnecting…`);
      }
      await new Promise((r) => setTimeout(r, RETRY_MS));
    }
  }

  /** Splits the stream into SSE messages (blank-line separated) and hands on each body. */
  async consume(reader) {
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const message = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        this.dispatch(message);
      }
    }
  }

  dispatch(message) {
    const data = [];
    for (const line of message.split("\n")) {
      if (line.startsWith("id:")) this.lastEventId = line.slice(3).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
    if (data.length === 0) return;
    try {
      const envelope = JSON.parse(data.join("\n"));
      if (envelope.type === "event" && envelope.body) this.onEvent(envelope.body, envelope.timestamp);
    } catch {
      // A message that is not an envelope (a comment, a keep-alive) carries nothing for us.
    }
  }
}
