"""What splitting a model costs beyond its links (issue 18): one stream's ms/token on 1, 3 and 4 stages of the same
model on full-speed devices, without link emulation (the ring's own overhead) and with emulated links (the excess
over one stage against what the links alone explain: bytes / bandwidth + latency per hop), and the aggregate tokens/s
of 4 and 8 concurrent sessions on each. Every daemon runs one compute thread (--threads 1), so a stage is one core's
work and two cores can run two stages at once. Rounds interleave the stage counts; each keeps its best."""
from . import measure as m
from .cluster import ROOT, model_need

PRESET = "stories42M,n_layers=12,vocab_size=512,context_length=512"  # a random dim-512, 12-layer model (150 MB)
GOALS = {"ratio_3": 1.10, "ratio_4": 1.15, "links_excess": 1.10}


def _devices(package, stages, bandwidth, latency):
    need = model_need(package, 8)  # the plan admits the 8 sessions measured, with their KV
    # Budgets of 1.15/N of the need: a plan must use all N devices.
    return [{"name": f"ov{i}", "cpu_share": 1.0, "memory_budget": int(need * 1.15 / stages), "bandwidth": bandwidth,
             "latency": latency} for i in range(stages)]


def _one(bench, package, stages, bandwidth, latency, sessions):
    devices = _devices(package, stages, bandwidth, latency)
    with bench.cluster({"devices": devices}, rebalance=False, extra_args=["--threads", "1"]) as c:
        plan = c.load(package, max_sessions=8)
        row = {"stages": len(plan["stages"]), "head": plan["stages"][0]["device"],
               "ms_per_token": m.decode_ms_per_token(c.endpoints[0], bench.tokens, bench.repeats),
               "predicted_ms_per_token": plan["one_stream_s_per_token"] * 1e3}
        for s in sessions:
            row[f"tokens_per_s_{s}_sessions"] = m.aggregate_tokens_per_s(c.endpoints[0], s, bench.tokens)
        if bandwidth > 0 or latency > 0:
            hops = m.bytes_per_token_per_hop(c, bench.tokens)
            row["hops"] = hops
            # What the links alone explain per token: each hop's bytes at the link's bandwidth, plus its latency.
            row["links_ms"] = sum(h["bytes_per_token"] / bandwidth * 1e3 + latency * 1e3 for h in hops)
    return row


def measure(bench, log):
    package = m.export_synthetic(ROOT, PRESET, bench.cache)
    counts = [1, 3] if bench.quick else [1, 3, 4]
    sessions = [4] if bench.quick else [4, 8]
    rounds = 1 if bench.quick else 2
    out = {"model": PRESET + " (synthetic, 150 MB fp32)", "threads": 1, "goals": GOALS}
    for label, bandwidth, latency in [("no_emulation", 0, 0), ("links_100mbit_2ms", 12.5e6, 0.002)]:
        best = {}
        for _ in range(rounds):
            for n in counts:
                row = _one(bench, package, n, bandwidth, latency, sessions if label == "no_emulation" else [])
                keep = best.get(n)
                if keep is None or row["ms_per_token"] < keep["ms_per_token"]:
                    for k, v in (keep or {}).items():  # the best aggregate figures of all rounds
                        if k.startswith("tokens_per_s") and v > row.get(k, 0):
                            row[k] = v
                    best[n] = row
                else:
                    for k, v in row.items():
                        if k.startswith("tokens_per_s") and v > keep.get(k, 0):
                            keep[k] = v
                log(f"overhead: {label}: {n} device(s), {row['stages']} stage(s): {row['ms_per_token']:.1f} ms/token"
                    + (f", links explain {row['links_ms']:.1f} ms" if "links_ms" in row else ""))
        rows = [best[n] for n in counts]
        one = rows[0]["ms_per_token"]
        for r in rows:
            r["vs_1_stage"] = r["ms_per_token"] / one
            if "links_ms" in r and r["stages"] > 1:
                r["excess_ms"] = r["ms_per_token"] - one
                # Beyond one stage, the links add the hops; one stage's own return hop is in both.
                r["excess_vs_links"] = r["excess_ms"] / max(r["links_ms"] - rows[0].get("links_ms", 0), 1e-9)
        out[label] = rows
    return out
