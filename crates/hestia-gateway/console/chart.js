// A small line chart of a numeric property's recent values, as inline SVG built with DOM calls
// (no library, nothing inline for the CSP). Its accessible name says the range in words.

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 300;
const HEIGHT = 80;
const MAX_POINTS = 240;

function svg(tag, attrs = {}) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

export class Chart {
  constructor(name, unit) {
    this.name = name;
    this.unit = unit ?? "";
    this.points = [];
    this.el = svg("svg", { class: "chart", viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", preserveAspectRatio: "none" });
    this.draw();
  }

  set(points) {
    this.points = points.filter((p) => typeof p.value === "number").slice(-MAX_POINTS);
    this.draw();
  }

  add(timestamp, value) {
    if (typeof value !== "number") return;
    this.points.push({ timestamp, value });
    if (this.points.length > MAX_POINTS) this.points.shift();
    this.draw();
  }

  draw() {
    const values = this.points.map((p) => p.value);
    const unit = this.unit ? ` ${this.unit}` : "";
    if (values.length < 2) {
      this.el.replaceChildren();
      this.el.setAttribute("aria-label", `${this.name}: not enough history yet`);
      return;
    }
    const lo = Math.min(...values);
    const hi = Math.max(...values);
    const span = hi - lo || 1;
    const step = WIDTH / (values.length - 1);
    const points = values.map((v, i) =>
      `${(i * step).toFixed(1)},${(HEIGHT - 12 - ((v - lo) / span) * (HEIGHT - 24) + 6).toFixed(1)}`).join(" ");
    const label = (y, text) => { const t = svg("text", { x: 2, y }); t.textContent = text; return t; };
    this.el.replaceChildren(svg("polyline", { points }),
      label(10, `${hi}${unit}`), label(HEIGHT - 2, `${lo}${unit}`));
    this.el.setAttribute("aria-label",
      `${this.name} over the last ${values.length} readings: from ${lo} to ${hi}${unit}, now ${values.at(-1)}${unit}`);
  }
}
