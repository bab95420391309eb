#!/usr/bin/env python3
"""Markdown tables of a `cookim-load suite` run: scripts/bench-summary.py <suite out dir>."""
import json, os, sys

out = sys.argv[1]
suite = json.load(open(f"{out}/suite.json"))
m = suite["machine"]
print(f"Machine: {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB, Linux {m['kernel']}; {suite['date']}")
systems = ["cookim", "node-ws", "socket-io", "raw"]
def get(profile, system):
    # Per-profile files, so a later run of one system (--systems cookim) updates its rows.
    path = f"{out}/{profile}-{system}.json"
    if not os.path.exists(path):
        return None
    r = json.load(open(path))
    return None if "error" in r["result"] else r["result"]
print()
print("Fan-out, one room of 1,000, one sender (passes: p99 <= 50 ms and >= 95 % delivered):")
print()
print("| system | highest passing msg/s per sweep | p99 ms at 100 msg/s (per sweep) | p99 ms at 200 msg/s | deliveries/s at the highest pass |")
print("|---|---|---|---|---|")
for s in systems:
    r = get("fanout", s)
    if not r:
        continue
    highs = [sw["highest_passing"] for sw in r["sweeps"]]
    def p99_at(rate):
        v = [rd["latency"]["p99_ms"] for sw in r["sweeps"] for rd in sw["rounds"] if rd["offered_rate"] == rate]
        return ", ".join(f"{x:.1f}" for x in v) or "-"
    best = [rd["deliveries_per_s"] for sw in r["sweeps"] for rd in sw["rounds"] if rd["offered_rate"] == sw["highest_passing"]]
    print(f"| {s} | {', '.join(str(int(h)) if h else 'none' for h in highs)} | {p99_at(100.0)} | {p99_at(200.0)} | {max(best):,.0f} |" if best else f"| {s} | none | {p99_at(100.0)} | {p99_at(200.0)} | - |")
rates = sorted({rd["offered_rate"] for s in systems if get("fanout", s) for sw in get("fanout", s)["sweeps"] for rd in sw["rounds"]})
print()
print("p99 in ms per offered rate (lowest-highest over the sweeps that reached it; * = some sweep failed there):")
print()
print("| system | " + " | ".join(f"{r:.0f}/s" for r in rates) + " |")
print("|---|" + "---|" * len(rates))
for s in systems:
    r = get("fanout", s)
    if not r:
        continue
    cells = []
    for rate in rates:
        rounds = [rd for sw in r["sweeps"] for rd in sw["rounds"] if rd["offered_rate"] == rate]
        if not rounds:
            cells.append("-")
            continue
        p = [rd["latency"]["p99_ms"] for rd in rounds]
        failed = any(rd["latency"]["p99_ms"] > 50 or rd["delivered_ratio"] < 0.95 for rd in rounds)
        lo, hi = min(p), max(p)
        cell = f"{lo:.0f}" if round(lo) == round(hi) else f"{lo:.0f}-{hi:.0f}"
        cells.append(cell + ("*" if failed else ""))
    print(f"| {s} | " + " | ".join(cells) + " |")
print()
print("Many small chats (every member sends; latency over all deliveries):")
print()
print("| system | connections | offered msg/s | sent msg/s | delivered | deliveries/s | p50 ms | p99 ms | p99.9 ms | max ms | rejects | dropped |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for profile in ("chats", "cross"):
    for s in systems:
        r = get(profile, s)
        if not r:
            continue
        d, l = r["round"], r["round"]["latency"]
        name = s if profile == "chats" else f"{s}, 3 nodes"
        print(f"| {name} | {r['connect']['open']:,} | {d['offered_rate']:.0f} | {d['sent_per_s']:.0f} | {100*d['delivered_ratio']:.2f} % | {d['deliveries_per_s']:,.0f} | {l['p50_ms']:.2f} | {l['p99_ms']:.2f} | {l['p999_ms']:.2f} | {l['max_ms']:.2f} | {d['rejects']} | {d['dropped']} |")
print()
print("Idle connections (cookim: authenticated /ws-push; peers: a websocket in a room):")
print()
print("| system | connections | KiB per connection (RSS delta) | connects/s | failed | dropped |")
print("|---|---|---|---|---|---|")
for s in systems:
    r = get("idle", s)
    if not r:
        continue
    for l in r["levels"]:
        c = l["connect"]
        print(f"| {s} | {c['open']:,} | {l['rss_per_connection_kib']:.2f} | {c['per_second']:,.0f} | {c['failed']} | {l['dropped']} |")
