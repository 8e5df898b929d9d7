#!/usr/bin/env python3
"""Prints the markdown table of a bench/run.sh result directory: raw figures, per
server-CPU-second figures, and Hestia's ratios to ejabberd and Prosody."""

import json
import sys
from pathlib import Path

SERVERS = ["hestia", "prosody", "ejabberd"]


def load(out: Path):
    data = {}
    for f in out.glob("*.json"):
        server, _, name = f.stem.partition("-")
        text = f.read_text().strip()
        if not text:
            continue
        try:
            data.setdefault(server, {})[name] = json.loads(text.splitlines()[-1])
        except json.JSONDecodeError:
            pass
    return data


def get(d, *path):
    for p in path:
        if not isinstance(d, dict) or p not in d or d[p] is None:
            return None
        d = d[p]
    return d


def fmt(v, digits=0):
    if v is None:
        return "–"
    if isinstance(v, str):
        return v
    if digits == 0:
        return f"{v:,.0f}"
    return f"{v:,.{digits}f}"


# (label, scenario, path, digits, higher_is_better); path None is the latency cell, a list of
# paths is one cell of several figures (the ratio uses the first).
ROWS = [
    ("XEP-0077 registrations/s", "register", ("registrations_per_sec",), 0, True),
    ("messages/s, 50 pairs × 10 in flight (both directions)", "messages", ("per_sec",), 0, True),
    ("messages per server-CPU-second, same run", "messages", ("per_server_cpu_sec",), 0, True),
    ("server CPU % of a core, same run", "messages", ("server_cpu_util",), 0, None),
    ("generator CPU % of a core, same run", "messages", ("generator_cpu_util",), 0, None),
    ("latency p50 / p99 / p99.9 (ms), same run", "messages", None, 1, False),
    ("messages lost (sent − received)", "messages", ("lost",), 0, None),
    ("light load (10 pairs × 1): messages/s", "messages-light", ("per_sec",), 0, True),
    ("light load: messages per server-CPU-second", "messages-light", ("per_server_cpu_sec",), 0, True),
    ("light load: latency p50 / p99 / p99.9 (ms)", "messages-light", None, 3, False),
    ("IQ round trips/s, 50 pairs × 10 in flight", "iq", ("per_sec",), 0, True),
    ("IQ round trips per server-CPU-second", "iq", ("per_server_cpu_sec",), 0, True),
    ("IQ latency p50 / p99 (ms)", "iq", None, 1, False),
    ("presence updates delivered/s, 100 users × 10 devices", "presence", ("deliveries_per_s",), 0, True),
    ("presence updates delivered per server-CPU-second", "presence", ("deliveries_per_server_cpu_s",), 0, True),
    ("presence delivery latency p50 / p99 (ms)", "presence", None, 1, False),
    ("presence deliveries lost", "presence", ("lost",), 0, None),
    ("unavailable after a TCP drop, p50 / max (ms)", "presence", [("unavailable_p50_ms",), ("unavailable_max_ms",)], 1, False),
    ("messages/s with XEP-0198 (messages-sm, same load)", "messages-sm", ("per_sec",), 0, True),
    ("messages-sm per server-CPU-second", "messages-sm", ("per_server_cpu_sec",), 0, True),
    ("messages-sm latency p50 / p99 / p99.9 (ms)", "messages-sm", None, 1, False),
    ("messages-sm with durable delivery (Hestia only) per server-CPU-second", "messages-durable", ("per_server_cpu_sec",), 0, True),
    ("messages-durable latency p50 / p99 / p99.9 (ms)", "messages-durable", None, 1, False),
    ("multicast (XEP-0033): deliveries/s, 10 senders × 50 recipients", "multicast", ("deliveries_per_s",), 0, True),
    ("multicast: deliveries per server-CPU-second", "multicast", ("deliveries_per_server_cpu_s",), 0, True),
    ("multicast: latency to each recipient p50 / p99 (ms)", "multicast", None, 1, False),
    ("multicast: deliveries lost", "multicast", ("lost",), 0, None),
    ("client-side fan-out (50 single messages): deliveries per server-CPU-second", "fanout", ("deliveries_per_server_cpu_s",), 0, True),
    ("client-side fan-out: latency p50 / p99 (ms)", "fanout", None, 1, False),
    ("offline: messages stored/s (20 pairs × 500)", "offline", ("stored_per_sec",), 0, True),
    ("offline: messages delivered/s at the next login", "offline", ("delivered_per_sec",), 0, True),
    ("offline: stored and delivered per server-CPU-second", "offline", ("per_server_cpu_sec",), 0, True),
    ("offline: lost / duplicated", "offline", [("lost",), ("duplicates",)], 0, None),
    ("offline with durable delivery (Hestia only): stored and delivered per server-CPU-second", "offline-durable", ("per_server_cpu_sec",), 0, True),
    ("logins/s (SCRAM, 50 in flight)", "login", ("logins_per_sec",), 0, True),
    ("logins per server-CPU-second", "login", ("logins_per_server_cpu_sec",), 0, True),
    ("login latency p50 / p99 (ms)", "login", None, 1, False),
    ("login: mechanism", "login", ("mechanism",), 0, None),
    ("KiB of server RSS per idle connection, no TLS", "idle", ("kib_per_connection",), 1, False),
    ("KiB per idle connection, STARTTLS", "idle-tls", ("kib_per_connection",), 1, False),
    ("idle connections held (max-connections run)", "max-connections", ("connections",), 0, True),
]


def latency_cell(r, digits, with_p999):
    lat = get(r, "latency")
    if not lat:
        return "–"
    keys = ["p50_ms", "p99_ms"] + (["p999_ms"] if with_p999 else [])
    return " / ".join(fmt(lat.get(k), digits) for k in keys)


def main():
    out = Path(sys.argv[1])
    data = load(out)
    servers = [s for s in SERVERS if s in data]
    head = "| figure | " + " | ".join(servers) + " | Hestia ÷ ejabberd | Hestia ÷ Prosody |"
    print(head)
    print("|" + "---|" * (len(servers) + 3))
    for label, scenario, path, digits, better in ROWS:
        cells, values = [], {}
        for s in servers:
            r = get(data, s, scenario)
            if path is None:
                cells.append(latency_cell(r, digits, scenario.startswith("messages")))
                values[s] = get(r, "latency", "p99_ms")
            elif isinstance(path, list):
                vs = [get(r, *p) for p in path]
                values[s] = vs[0] if isinstance(vs[0], (int, float)) else None
                cells.append("–" if all(v is None for v in vs) else " / ".join(fmt(v, digits) for v in vs))
            else:
                v = get(r, *path)
                values[s] = v if isinstance(v, (int, float)) else None
                cells.append(fmt(v, digits))
        if all(c == "–" for c in cells):
            continue
        ratios = []
        for other in ("ejabberd", "prosody"):
            h, o = values.get("hestia"), values.get(other)
            if better is None or not h or not o:
                ratios.append("")
            elif better:
                ratios.append(f"{h / o:,.1f}×")
            elif o >= h:
                ratios.append(f"{o / h:,.1f}× less")
            else:
                ratios.append(f"{h / o:,.1f}× more")
        print(f"| {label} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    # Stream management's cost on routing: messages-sm against messages, per server-CPU-second.
    costs = []
    for s in servers:
        plain = get(data, s, "messages", "per_server_cpu_sec")
        sm = get(data, s, "messages-sm", "per_server_cpu_sec")
        costs.append(f"{100 * (1 - sm / plain):.0f} %" if plain and sm else "–")
    if any(c != "–" for c in costs):
        label = "XEP-0198 cost: 1 − messages-sm ÷ messages, per server-CPU-second"
        print(f"| {label} | " + " | ".join(costs) + " |  |  |")


if __name__ == "__main__":
    main()
