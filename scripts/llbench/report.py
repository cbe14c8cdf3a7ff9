"""The benchmark's Markdown tables, gnuplot figure and README section, from the results JSON of scripts/bench."""
import os
import shutil
import subprocess
import tempfile

from . import speculation

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def _mb(x):
    return f"{x / 1e6:,.0f} MB"


def _memory_cells(x):
    """KV, peak RSS, bound and verdict of a memory row (rows of results from before the bound have no KV)."""
    if "bound_bytes" not in x:
        return f"? | {_mb(x['peak_rss_bytes'])} | ? | ?"
    return (f"{_mb(x['kv_bytes'])} | {_mb(x['peak_rss_bytes'])} | {_mb(x['bound_bytes'])} | "
            f"{'yes' if x['within_bound'] else '**no**'}")


def machine_line(r):
    mc = r["machine"]
    return (f"{mc['nproc']} cores ({mc['cpu']}), {mc['ram_bytes'] / 2**30:.0f} GiB RAM, {mc['os']}, kernel "
            f"{mc['kernel']}; commit {mc['commit']}, {r['date']}, mode {r['mode']}"
            f"{', --quick' if r['quick'] else ''}, {r['seconds'] / 60:.1f} min"
            + (f"; load average {mc['load_average_at_start']:.1f} at the start, {mc['load_average_at_end']:.1f} at the "
               f"end (other work on the machine)" if "load_average_at_end" in mc else ""))


def _goal(x):
    """Predicted over measured, and whether it is within the goal (older results have no ratio)."""
    if "predicted_over_measured" not in x:
        return "—"
    return f"{x['predicted_over_measured']:.2f}x {'✓' if x['within_goal'] else '✗'}"


def _calibration_note(rows):
    sources = sorted({x.get("prediction_source", "start-up profile") for x in rows})
    profile = ", ".join(f"{x['profile_predicted_ms_per_token']:.1f}" for x in rows
                        if "profile_predicted_ms_per_token" in x)
    note = f"Predictions: {'; '.join(sources)} (docs/placement.md, \"Calibration\")"
    return note + (f"; the start-up profile alone predicted {profile} ms/token." if profile else ".")


def markdown(r):
    out = [f"# Benchmark {r['date']}", "", f"Machine: {machine_line(r)}.", ""]
    sm = r.get("speed_model")
    if sm:
        out += [f"Speed model: synthetic {sm['preset']} shape, {_mb(sm['weight_bytes'])} of fp32 weights, "
                f"{_mb(sm['need_bytes'])} with the KV cache of its context. One-stream figures decode "
                f"{r['tokens']} tokens; ratios are measured within this run, absolute times are this machine's.", ""]
    if "correctness" in r:
        c = r["correctness"]
        out += [f"**Correctness**: stories260K over the {c['stages']} stages of {c['scenario']} (emulated speeds and "
                f"links): {c['tokens']} tokens of {len(c['prompts'])} prompts "
                f"{'identical to' if c['identical_to_local'] else '**differ from**'} the local run.", ""]
    if "overhead" in r:
        o = r["overhead"]
        g = o["goals"]
        plain, links = o["no_emulation"], o["links_100mbit_2ms"]
        out += [f"**What a split costs** ({o['model']}, full-speed devices, {o['threads']} compute thread each, "
                "loopback; goals of issue 18 beside each figure):", "",
                "| stages | ms/token, no link emulation | vs 1 stage (goal) | tokens/s, 4 sessions | tokens/s, 8 sessions "
                "| ms/token, 100 Mbit/s 2 ms links | excess over 1 stage | links explain | excess / links (goal) |",
                "|---|---|---|---|---|---|---|---|---|"]
        for a, b in zip(plain, links):
            goal = {3: g["ratio_3"], 4: g["ratio_4"]}.get(a["stages"])
            vs = f"{a['vs_1_stage']:.2f}x" + (f" ({'≤' if a['vs_1_stage'] <= goal else '**>**'} {goal:.2f})" if goal else "")
            tps = [a.get(f"tokens_per_s_{s}_sessions") for s in (4, 8)]
            base = [plain[0].get(f"tokens_per_s_{s}_sessions") for s in (4, 8)]
            cells = []
            for t, b0 in zip(tps, base):
                if t is None:
                    cells.append("—")
                elif a["stages"] == 1 or b0 is None:
                    cells.append(f"{t:.1f}")
                else:
                    cells.append(f"{t:.1f} ({t / b0:.2f}x of 1 stage{'' if t >= b0 else ', **below**'})")
            if b["stages"] > 1 and "excess_vs_links" in b:
                ok = b["excess_vs_links"] <= g["links_excess"]
                link_cells = (f"{b['excess_ms']:.1f} ms | {b['links_ms'] - links[0].get('links_ms', 0):.1f} ms | "
                              f"{b['excess_vs_links']:.2f} ({'≤' if ok else '**>**'} {g['links_excess']:.2f})")
            else:
                link_cells = "— | — | —"
            out.append(f"| {a['stages']} | {a['ms_per_token']:.1f} | {vs} | {cells[0]} | {cells[1]} | "
                       f"{b['ms_per_token']:.1f} | {link_cells} |")
        out.append("")
    if "prefill" in r:
        pf = r["prefill"]
        out += [f"**Chunked prefill** ({pf['model']}, 3 full-speed stages, 1 compute thread each; a "
                f"{pf['prompt_tokens']}-token prompt; median of {pf['repeats']}; goals of issue 18 beside each figure):",
                "", "| prefill | time to first token | vs one step (goal ≤ 0.60) | decode ms/token, 2 sessions alone | "
                "while long prompts prefill | slowdown (goal ≤ 1.20) |", "|---|---|---|---|---|---|"]
        for key, x in pf["by_chunk"].items():
            name = "one step" if key == "0" else f"chunks of {key}"
            vs = x.get("ttft_vs_one_step")
            vs_cell = f"{vs:.2f}x ({'met' if vs <= 0.6 else '**missed**'})" if vs else "1.00x"
            slow = x["decode_slowdown"]
            out.append(f"| {name} | {x['ttft_s']:.2f} s | {vs_cell} | {x['decode_ms_alone']:.0f} | "
                       f"{x['decode_ms_during_prefill']:.0f} | {slow:.2f}x ({'met' if slow <= 1.2 else '**missed**'}) |")
        out.append("")
    if "scaling" in r:
        rows = r["scaling"]["rows"]
        one = rows[0]
        out += [f"**Scaling** ({r['scaling']['scenario']}; 100 Mbit/s, 2 ms links):", "",
                "| devices | stages | ms/token (measured) | ms/token (predicted) | predicted / measured (goal: within 15 %) "
                "| tokens/s, 4 sessions | ms/token vs 1 device |",
                "|---|---|---|---|---|---|---|"]
        for x in rows:
            out.append(f"| {x['devices']} | {x['stages']} | {x['ms_per_token']:.1f} | {x['predicted_ms_per_token']:.1f} "
                       f"| {_goal(x)} | {x['tokens_per_s_4_sessions']:.1f} | {x['ms_per_token'] / one['ms_per_token']:.2f}x |")
        out += ["", _calibration_note(rows)]
        out.append("")
        if any("memory" in x for x in rows):
            out += ["**Scaling: peak RSS per device** (after the 4-session run; bound 1.2 × (shards + KV for 4 "
                    "sessions) + 150 MB):", "",
                    "| devices | device | shard bytes held | KV bytes held | peak RSS | bound | within |",
                    "|---|---|---|---|---|---|---|"]
            out += [f"| {x['devices']} | {d['device']} | {_mb(d['shard_bytes'])} | {_memory_cells(d)} |"
                    for x in rows for d in x.get("memory", [])]
            out.append("")
    if "policies" in r:
        p = r["policies"]
        devs = ", ".join(f"{d['name']} {d['cpu_share']:g}x speed / {_mb(d['memory_budget'])} / "
                         f"{d['bandwidth'] * 8 / 1e6:g} Mbit/s {d['latency'] * 1e3:g} ms" for d in p["devices"])
        opt = next((x for x in p["policies"] if x["policy"] == "optimal" and "error" not in x), None)
        head = f"; head (the leader, elected): {opt['head']}" if opt and "head" in opt else ""
        out += [f"**Placement policies, measured live** on {p['scenario']} ({devs}{head}):", "",
                "| policy | shards per device | ms/token (measured) | ms/token (predicted) "
                "| predicted / measured (goal: within 15 %) | measured vs GLPK plan |",
                "|---|---|---|---|---|---|"]
        for x in p["policies"]:
            name = {"optimal": "GLPK plan", "equal": "equal split", "memory": "memory-proportional",
                    "flops": "FLOP/s-proportional"}[x["policy"]]
            if "error" in x:
                out.append(f"| {name} | — | does not fit: {x['error'].split(': ', 1)[-1][:80]} | | | |")
                continue
            shards = ", ".join(f"{d} {n}" for d, n in x["shards"].items())
            ratio = f"{x['ms_per_token'] / opt['ms_per_token']:.2f}x" if opt else "—"
            out.append(f"| {name} | {shards} | {x['ms_per_token']:.1f} | {x['predicted_ms_per_token']:.1f} "
                       f"| {_goal(x)} | {ratio} |")
        out += ["", _calibration_note([x for x in p["policies"] if "error" not in x])]
        out.append("")
        if "concurrency" in p:
            base = p["concurrency"][0]["tokens_per_s"]
            out += ["**Pipelined throughput** (GLPK plan, concurrent sessions):", "",
                    "| sessions | tokens/s | vs 1 session |", "|---|---|---|"]
            out += [f"| {x['sessions']} | {x['tokens_per_s']:.1f} | {x['tokens_per_s'] / base:.2f}x |"
                    for x in p["concurrency"]]
            out.append("")
        if "bytes_per_token_per_hop" in p:
            out += ["**Bytes per token per hop** (GLPK plan, one stream, prefill included):", "",
                    "| from | to | bytes/token |", "|---|---|---|"]
            out += [f"| {x['from']} | {x['to']} | {x['bytes_per_token']:,.0f} |" for x in p["bytes_per_token_per_hop"]]
            out.append("")
        if "memory" in p:
            out += ["**Peak RSS per device against what it holds** (GLPK plan, after the concurrency runs; bound "
                    "1.2 × (shards + KV) + 150 MB):", "",
                    "| device | budget | shard bytes held | KV bytes held | peak RSS | bound | within |",
                    "|---|---|---|---|---|---|---|"]
            out += [f"| {x['device']} | {_mb(x['budget_bytes'])} | {_mb(x['shard_bytes'])} | {_memory_cells(x)} |"
                    for x in p["memory"]]
            out.append("")
    if "balance" in r:
        b = r["balance"]
        out += ["**Load-balancing recovery** (3 equal devices, budgets 0.6x; the device with the most layers slowed "
                "to 0.25x):", "", "| cluster | tokens/s | vs slowed |", "|---|---|---|",
                f"| slowed, before the re-plan{' (the measurement overlapped the cool-down end)' if b.get('slowed_measure_overlapped_cooldown') else ''} | {b['slowed_tokens_per_s']:.1f} | 1.00x |",
                f"| after the live re-plan ({'done' if b['replanned'] else 'NOT done'}, "
                f"{b['seconds_to_replan']:.0f} s after the slowdown incl. cool-down) | "
                f"{b['after_replan_tokens_per_s']:.1f} | {b['recovery_ratio']:.2f}x |"]
        if "fresh_plan_tokens_per_s" in b:
            out.append(f"| a fresh plan knowing the slow device | {b['fresh_plan_tokens_per_s']:.1f} | "
                       f"{b['fresh_plan_tokens_per_s'] / b['slowed_tokens_per_s']:.2f}x |")
        out.append("")
    if "big" in r:
        g = r["big"]
        one, three = g["1_stage"], g["3_stage"]
        out += [f"**~1B Llama shape** ({g['model']}, {_mb(g['weight_bytes'])} fp32):", "",
                "| stages | ms/token (measured) | ms/token (predicted) | peak RSS per daemon |", "|---|---|---|---|",
                f"| 1 | {one['ms_per_token']:.0f} | {one['predicted_ms_per_token']:.0f} | "
                f"{', '.join(_mb(x) for x in one['peak_rss_bytes'])} |",
                f"| 3 | {three['ms_per_token']:.0f} | {three['predicted_ms_per_token']:.0f} | "
                f"{', '.join(_mb(x) for x in three['peak_rss_bytes'])} |", ""]
    if "int8" in r:
        f, q = r["int8"]["fp32"], r["int8"]["int8"]
        out += [f"**int8 against fp32** ({f['model']}; package {_mb(f['package_bytes'])} fp32, "
                f"{_mb(q['package_bytes'])} int8: {q['package_bytes'] / f['package_bytes']:.2f}x):", "",
                "| stages | ms/token fp32 | ms/token int8 | int8 vs fp32 | peak RSS per daemon fp32 | int8 | vs fp32 (max) |",
                "|---|---|---|---|---|---|---|"]
        for n in (1, 3):
            a, b = f[f"{n}_stage"], q[f"{n}_stage"]
            out.append(f"| {n} | {a['ms_per_token']:.0f} | {b['ms_per_token']:.0f} | "
                       f"{b['ms_per_token'] / a['ms_per_token']:.2f}x | {', '.join(_mb(x) for x in a['peak_rss_bytes'])} | "
                       f"{', '.join(_mb(x) for x in b['peak_rss_bytes'])} | "
                       f"{max(b['peak_rss_bytes']) / max(a['peak_rss_bytes']):.2f}x |")
        out.append("")
    if "failover" in r:
        f = r["failover"]
        out += [f"**Losing a stage mid-generation** ({f['model']}, 3 devices with budgets 0.75x: two stages and a "
                "spare; temperature 0.8, seed 11):", "",
                "| stage | longest pause in the stream | signal to done | text vs local run |", "|---|---|---|---|"]
        for c in f["cases"]:
            what = {"kill": "SIGKILL", "stop": "SIGSTOP (heartbeat timeout 3 s)"}.get(c["how"], c["how"])
            if "error" in c:
                out.append(f"| {what} | failed: {c['error']} | | |")
                continue
            when = "" if "after" in what else f" after {c['after_tokens']} tokens"
            out.append(f"| {what}{when} | {c['longest_pause_s']:.2f} s | "
                       f"{c['signal_to_done_s']:.1f} s | {'identical' if c['identical_to_local'] else 'DIFFERENT'} |")
        if "replay" in f:
            rp = f["replay"]
            out += ["", f"Exact replay of a session of {rp['generated_tokens']} generated tokens: {rp['exact_s']:.2f} s "
                    f"(one prefill of the same tokens, not exact: {rp['one_prefill_s']:.2f} s; "
                    f"{rp['exactness_cost']:.1f}x)."]
        out.append("")
    if "speculation" in r:
        out += speculation.markdown(r["speculation"])
    return "\n".join(out) + "\n"


def plot(r, stem):
    """A 2x2 PNG (SVG if the PNG terminals are missing); returns its path, or None without gnuplot."""
    gnuplot = shutil.which("gnuplot")
    if not gnuplot:
        return None
    terms = subprocess.run([gnuplot, "-e", "set terminal"], capture_output=True, text=True)
    text = terms.stdout + terms.stderr
    term, ext = ("pngcairo size 1400,1000 font ',10'", "png") if "pngcairo" in text else ("svg size 1400,1000", "svg")
    out = f"{stem}.{ext}"
    tmp = tempfile.mkdtemp(prefix="ll-plot-")
    panels = []
    if "scaling" in r:
        with open(f"{tmp}/scaling.dat", "w") as f:
            for x in r["scaling"]["rows"]:
                f.write(f"{x['devices']} {x['ms_per_token']} {x['predicted_ms_per_token']} {x['tokens_per_s_4_sessions']}\n")
        panels.append(f"""set title 'Scaling: uniform devices'; set xlabel 'devices'; set ylabel 'ms/token (one stream)'
set y2label 'tokens/s (4 sessions)'; set y2tics; set ytics nomirror; set xtics 1; set yrange [0:*]; set y2range [0:*]
plot '{tmp}/scaling.dat' u 1:2 w lp lw 2 t 'ms/token measured', '' u 1:3 w lp dt 2 t 'ms/token predicted', \\
     '' u 1:4 axes x1y2 w lp lw 2 t 'tokens/s, 4 sessions'
unset y2tics; unset y2label; set ytics mirror; set xtics autofreq""")
    if "policies" in r:
        names = {"optimal": "GLPK", "equal": "equal", "memory": "memory", "flops": "FLOP/s"}
        with open(f"{tmp}/policies.dat", "w") as f:
            for x in r["policies"]["policies"]:
                if "error" not in x:
                    f.write(f"{names[x['policy']]} {x['ms_per_token']} {x['predicted_ms_per_token']}\n")
        panels.append(f"""set title 'Placement on hetero-3: measured vs predicted'; set xlabel ''; set ylabel 'ms/token'
set style data histograms; set style histogram clustered gap 1; set style fill solid 0.7 border -1; set yrange [0:*]
plot '{tmp}/policies.dat' u 2:xtic(1) t 'measured', '' u 3 t 'predicted'
set style data lines""")
        if "concurrency" in r["policies"]:
            with open(f"{tmp}/conc.dat", "w") as f:
                for x in r["policies"]["concurrency"]:
                    f.write(f"{x['sessions']} {x['tokens_per_s']}\n")
            panels.append(f"""set title 'Pipelined throughput (GLPK plan, hetero-3)'; set xlabel 'concurrent sessions'
set ylabel 'tokens/s'; set logscale x 2; set yrange [0:*]
plot '{tmp}/conc.dat' u 1:2 w lp lw 2 t 'aggregate tokens/s'
unset logscale x""")
        if "memory" in r["policies"]:
            with open(f"{tmp}/mem.dat", "w") as f:
                for x in r["policies"]["memory"]:
                    f.write(f"{x['device']} {x['shard_bytes'] / 1e6} {x['peak_rss_bytes'] / 1e6} {x['budget_bytes'] / 1e6} "
                            f"{x.get('bound_bytes', 0) / 1e6}\n")
            panels.append(f"""set title 'Peak RSS per device vs its shards (GLPK plan)'; set xlabel ''; set ylabel 'MB'
set style data histograms; set style histogram clustered gap 1; set style fill solid 0.7 border -1; set yrange [0:*]
plot '{tmp}/mem.dat' u 2:xtic(1) t 'shard bytes', '' u 3 t 'peak RSS', '' u 4 t 'budget', '' u 5 t 'bound'
set style data lines""")
    if not panels:
        return None
    script = f"set terminal {term}\nset output '{out}'\nset key top left\nset grid\n" \
             f"set multiplot layout 2,2 title 'lingualinked benchmark {r['date']} — {r['machine']['nproc']} cores'\n" + \
             "\n".join(panels) + "\nunset multiplot\n"
    res = subprocess.run([gnuplot], input=script, capture_output=True, text=True)
    shutil.rmtree(tmp, ignore_errors=True)
    if res.returncode != 0:
        print(f"bench: gnuplot failed: {res.stderr.strip()}")
        return None
    return out


def update_readme(path, r, stem_rel):
    text = open(path).read()
    if BEGIN not in text or END not in text:
        print(f"bench: {path} has no {BEGIN} ... {END} section; not updated")
        return
    body = markdown(r).split("\n", 2)[2]  # without the title line
    ext = "png" if os.path.exists(os.path.join(os.path.dirname(path), stem_rel + ".png")) else "svg"
    section = (f"{BEGIN}\n_Generated by `./scripts/bench` from [{stem_rel}.json]({stem_rel}.json); "
               f"figure: [{stem_rel}.{ext}]({stem_rel}.{ext})._\n\n{body}{END}")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    with open(path, "w") as f:
        f.write(text[:start] + section + text[end:])
