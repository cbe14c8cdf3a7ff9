"""Speculative decoding over the ring (issue 19): greedy decode tokens/s without and with n-gram drafting
(`llctl generate --speculate off|ngram --draft-tokens K --json --ignore-eos`) of the real stories260K and of the
stories110M shape (synthetic), in one process and on rings of real daemons: three full-speed stages with 5 ms links
(the issue's goal: >= 1.8x for stories260K there), hetero-3 with its emulated speeds and links, and uniform-4 (100
Mbit/s, 2 ms; budgets 1.15/4 so that a plan uses all four). Never below 0.95x anywhere is the other goal.

Per row: the acceptance rate (accepted / drafted tokens), tokens per ring trip (decode tokens / decode steps), decode
tokens/s off and on, their ratio, and whether every speculative text is the text without speculation. Each mode's
tokens/s is its decode tokens over its decode seconds summed over all its runs; runs alternate off and on prompt by
prompt (the order flips each time), so that load from elsewhere on the machine falls on both. Every daemon and the
local engine run one compute thread (--threads 1): a stage is one core's work. On the 5 ms ring of stories260K the
full run also tries each K of K_SWEEP against the same interleaved off runs (the default K is chosen from it).

`measure(bench, log)` returns the figures (scripts/bench's section `speculation`); `markdown(section)` its tables;
`python3 -m llbench.speculation --models M --configs C` (from scripts/) measures some rows alone."""
import argparse
import json
import os
import re
import subprocess
import sys

from . import measure as m
from .cluster import LLCTL, ROOT, ClusterError, llctl, load_scenario

GOAL_RING = 1.8  # stories260K, 3 stages, 5 ms links
GOAL_FLOOR = 0.95  # every other row
K_SWEEP = (2, 4, 6, 8)
RING_5MS = "ring-5ms"
CONFIGS = ["local", RING_5MS, "hetero-3", "uniform-4"]
LABELS = {RING_5MS: "3 stages, 5 ms links"}  # older results name the ring by its label


def default_draft_tokens():
    """The engine's default K (src/engine/speculation.h), so that the main rows measure what users get."""
    text = open(os.path.join(ROOT, "src", "engine", "speculation.h")).read()
    found = re.search(r"kDefaultDraftTokens\s*=\s*(\d+)", text)
    return int(found.group(1)) if found else 4


def story_prompts(count):
    """The first sentence of each story of test/eval/plain-stories.txt: openings in the register of TinyStories."""
    text = open(os.path.join(ROOT, "test", "eval", "plain-stories.txt")).read()
    stories = [s.strip() for s in text.split("\n\n") if s.strip()]
    return [re.split(r"(?<=[.!?])\s", s, maxsplit=1)[0] for s in stories][:count]


def stage_need(package, stages):
    """The least budget with which `stages` equal devices hold the package (weights and one session's KV) in a
    contiguous split: the smallest largest part over all splits. A budget just above it forces that many stages
    when fewer cannot hold the model (a fixed fraction of the need does not: shards are coarse)."""
    manifest = m.manifest_of(package)
    ctx = manifest["hyperparameters"]["context_length"]
    sizes = [s["bytes"] + s["kv_bytes_per_token"] * ctx for s in manifest["shards"]]
    best = {(0, 0): 0}  # (shards placed, stages used) -> the smallest largest part
    for i in range(1, len(sizes) + 1):
        for k in range(1, stages + 1):
            best[(i, k)] = min((max(best[(j, k - 1)], sum(sizes[j:i])) for j in range(i) if (j, k - 1) in best),
                               default=float("inf"))
    return best[(len(sizes), stages)]


def _devices(config, package):
    """The devices of a ring configuration (scripts/cluster scenario form)."""
    if config == "hetero-3":
        return load_scenario(os.path.join(ROOT, "config", "scenarios", "hetero-3.json"), package)["devices"]
    if config == "uniform-4":
        base = load_scenario(os.path.join(ROOT, "config", "scenarios", "uniform-4.json"), package)["devices"]
        return [dict(d, memory_budget=int(stage_need(package, 4) * 1.02)) for d in base]
    if config == RING_5MS:
        return [{"name": f"sp{i}", "cpu_share": 1.0, "memory_budget": int(stage_need(package, 3) * 1.02),
                 "bandwidth": 12.5e6, "latency": 0.005} for i in range(3)]
    raise ValueError(config)


def _generate_args(prompt, tokens, mode, k):
    args = ["generate", "--json", "--ignore-eos", "--max-tokens", str(tokens), "--speculate", mode]
    return args + (["--draft-tokens", str(k)] if mode != "off" else []) + [prompt]


def _local_runner(package):
    def run(prompt, tokens, mode, k):
        args = _generate_args(prompt, tokens, mode, k)
        cmd = [LLCTL, args[0], "--local", "--model", package, "--threads", "1"] + args[1:]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise ClusterError(f"llctl generate --local: {r.stderr.strip()}")
        return json.loads(r.stdout)
    return run


def _cluster_runner(endpoint):
    return lambda prompt, tokens, mode, k: json.loads(llctl(endpoint, *_generate_args(prompt, tokens, mode, k)))


def _interleaved(run, prompts, tokens, rounds, variants):
    """Runs every variant ((mode, K); ("off", 0) first) on every prompt, alternating the order; per variant the sums
    of decode tokens, seconds, steps, drafted and accepted tokens, and whether each text equals the off run's."""
    run(prompts[0], 8, "off", 0)  # warm-up: the first calls of freshly loaded modules are slow
    sums = {v: {"tokens": 0, "generated": 0, "decode_s": 0.0, "steps": 0, "drafted": 0, "accepted": 0, "runs": 0,
                "identical": True} for v in variants}
    flip = False
    for _ in range(rounds):
        for prompt in prompts:
            outs = {}
            for v in (reversed(variants) if flip else variants):
                outs[v] = run(prompt, tokens, *v)
            flip = not flip
            for v, out in outs.items():
                s, spec = sums[v], out["speculation"]
                s["tokens"] += len(out["tokens"]) - 1  # decode tokens/s: the first token comes from the prefill
                s["generated"] += len(out["tokens"])  # steps count the prefill's token too (llctl's tokens_per_step)
                s["decode_s"] += out["timings"]["decode_s"]
                s["steps"] += spec["decode_steps"]
                s["drafted"] += spec["drafted"]
                s["accepted"] += spec["accepted"]
                s["runs"] += 1
                s["identical"] = s["identical"] and out["tokens"] == outs[variants[0]]["tokens"]
    return sums


def _figures(off, on, k, goal):
    def rate(s):
        return s["tokens"] / s["decode_s"] if s["decode_s"] > 0 else 0.0
    ratio = rate(on) / rate(off) if rate(off) > 0 else 0.0
    return {"draft_tokens": k, "runs_per_mode": on["runs"], "tokens_per_s_off": rate(off), "tokens_per_s_on": rate(on),
            "ratio": ratio, "goal": goal, "met": ratio >= goal, "identical": on["identical"],
            "acceptance_rate": on["accepted"] / on["drafted"] if on["drafted"] else None,
            "drafted": on["drafted"], "accepted": on["accepted"],
            "tokens_per_trip": on["generated"] / on["steps"] if on["steps"] else None,
            "tokens_per_trip_off": off["generated"] / off["steps"] if off["steps"] else None}


def _one(bench, model, package, config, plan_of, k, sweep):
    p = plan_of(model)
    goal = GOAL_RING if (model == "stories260K" and config == RING_5MS) else GOAL_FLOOR
    variants = [("off", 0), ("ngram", k)] + [("ngram", x) for x in (K_SWEEP if sweep else ()) if x != k]
    row = {"model": model, "config": config, "tokens": p["tokens"], "prompts": len(p["prompts"])}
    if config == "local":
        row["stages"] = 1
        sums = _interleaved(_local_runner(package), p["prompts"], p["tokens"], p["rounds"], variants)
    else:
        with bench.cluster({"devices": _devices(config, package)}, rebalance=False,
                           extra_args=["--threads", "1"]) as c:
            plan = c.load(package)
            row["stages"] = len(plan["stages"])
            row["shards"] = m.shards_per_device(plan)
            sums = _interleaved(_cluster_runner(c.endpoints[0]), p["prompts"], p["tokens"], p["rounds"], variants)
    row.update(_figures(sums[variants[0]], sums[variants[1]], k, goal))
    if sweep:
        row["k_sweep"] = [_figures(sums[variants[0]], sums[("ngram", x)], x, GOAL_FLOOR) for x in K_SWEEP]
    return row


def _describe(row):
    if "error" in row:
        return f"{row['model']}, {label(row['config'])}: failed: {row['error']}"
    acc = "—" if row["acceptance_rate"] is None else f"{row['acceptance_rate']:.2f}"
    trip = "—" if row["tokens_per_trip"] is None else f"{row['tokens_per_trip']:.2f}"
    return (f"{row['model']}, {label(row['config'])} ({row['stages']} stage(s)), K {row['draft_tokens']}: "
            f"acceptance {acc}, {trip} tokens/trip, {row['tokens_per_s_off']:.1f} -> {row['tokens_per_s_on']:.1f} "
            f"tokens/s "
            f"({row['ratio']:.2f}x, goal {row['goal']:.2f}: {'met' if row['met'] else 'MISSED'}), text "
            f"{'identical' if row['identical'] else 'DIFFERS'}")


def measure(bench, log, models=None, configs=None, k=None, rounds=None):
    """Every row of the section (scripts/bench); `models` and `configs` pick some of them, `k` another K, `rounds`
    more runs of each prompt."""
    k = k or default_draft_tokens()
    quick = bench.quick
    plans = {"stories260K": {"tokens": 96 if quick else 160, "prompts": story_prompts(2 if quick else 4),
                             "rounds": 1},
             "bench-stories110M": {"tokens": 96, "prompts": story_prompts(2), "rounds": 1}}
    for plan in plans.values():
        plan["rounds"] = rounds or plan["rounds"]
    models = models or (["stories260K"] if quick else list(plans))
    configs = configs or ([RING_5MS] if quick else CONFIGS)
    out = {"draft_tokens": k, "goals": {"ring_5ms_stories260K": GOAL_RING, "floor": GOAL_FLOOR}, "threads": 1,
           "greedy": True, "plans": {x: plans[x] for x in models}, "rows": []}
    for model in models:
        if model == "stories260K":
            package = os.path.join(ROOT, "build", "models", "stories260K")
            if not os.path.exists(os.path.join(package, "manifest.json")):
                subprocess.run([os.path.join(ROOT, "scripts", "make-test-models"),
                                os.path.join(ROOT, "build", "models")], check=True, capture_output=True)
        else:
            package = m.export_synthetic(ROOT, "stories110M", bench.cache)
        for config in configs:
            try:
                row = _one(bench, model, package, config, plans.get, k,
                           sweep=not quick and model == "stories260K" and config == RING_5MS)
            except ClusterError as e:
                row = {"model": model, "config": config, "error": str(e)}
            log("speculation: " + _describe(row))
            for x in row.get("k_sweep", []):
                log(f"speculation:   K {x['draft_tokens']}: acceptance {x['acceptance_rate'] or 0:.2f}, "
                    f"{x['tokens_per_trip'] or 0:.2f} tokens/trip, {x['tokens_per_s_on']:.1f} tokens/s "
                    f"({x['ratio']:.2f}x of off)")
            out["rows"].append(row)
    return out


def label(config):
    return LABELS.get(config, config)


def model_name(model):
    return "stories110M shape (synthetic)" if model == "bench-stories110M" else model


def markdown(s):
    """The section's tables (report.markdown adds them to the benchmark's page)."""
    g = s["goals"]
    out = [f"**Speculative decoding** (issue 19; greedy, `--speculate ngram --draft-tokens {s['draft_tokens']}` "
           f"against `--speculate off`, {s['threads']} compute thread per daemon, loopback; runs alternate off and "
           f"on; goals: ≥ {g['ring_5ms_stories260K']:.2f}x for stories260K on 3 stages with 5 ms links, never below "
           f"{g['floor']:.2f}x):", "",
           "| model | configuration | stages | tokens × runs | acceptance | tokens per ring trip | tokens/s off | "
           "tokens/s ngram | ratio (goal) | text |", "|---|---|---|---|---|---|---|---|---|---|"]
    for x in s["rows"]:
        if "error" in x:
            out.append(f"| {model_name(x['model'])} | {label(x['config'])} | failed: {x['error'][:100]} "
                       "| | | | | | | |")
            continue
        acc = "—" if x["acceptance_rate"] is None else f"{x['acceptance_rate']:.2f}"
        trip = "—" if x["tokens_per_trip"] is None else f"{x['tokens_per_trip']:.2f}"
        verdict = f"{'≥' if x['met'] else '**<**'} {x['goal']:.2f}"
        out.append(f"| {model_name(x['model'])} | {label(x['config'])} | {x['stages']} | {x['tokens']} × "
                   f"{x['runs_per_mode']} | {acc} | {trip} | {x['tokens_per_s_off']:.1f} | {x['tokens_per_s_on']:.1f} "
                   f"| {x['ratio']:.2f}x ({verdict}) | {'identical' if x['identical'] else '**differs**'} |")
    out.append("")
    for x in s["rows"]:
        if "k_sweep" not in x:
            continue
        out += [f"**Draft length** ({model_name(x['model'])}, {label(x['config'])}, ngram; the same interleaved off "
                f"runs: {x['tokens_per_s_off']:.1f} tokens/s):", "",
                "| K | acceptance | tokens per ring trip | tokens/s | vs off | text |", "|---|---|---|---|---|---|"]
        for y in x["k_sweep"]:
            acc = "—" if y["acceptance_rate"] is None else f"{y['acceptance_rate']:.2f}"
            trip = "—" if y["tokens_per_trip"] is None else f"{y['tokens_per_trip']:.2f}"
            out.append(f"| {y['draft_tokens']} | {acc} | {trip} | {y['tokens_per_s_on']:.1f} | {y['ratio']:.2f}x | "
                       f"{'identical' if y['identical'] else '**differs**'} |")
        out.append("")
    return out


class _Bench:
    """What measure() needs of scripts/bench's Bench, for running some rows alone."""

    def __init__(self, quick, cache):
        self.quick, self.cache = quick, cache

    def cluster(self, scenario, **kw):
        from .cluster import Cluster
        return Cluster(scenario, state_dir=os.path.join(ROOT, "build", "bench-cluster"), tag="lls",
                       profile_seconds=0.3 if self.quick else 1.0, **kw).start()


def main():
    p = argparse.ArgumentParser(description="speculative decoding, off against ngram: some rows of the bench section")
    p.add_argument("--quick", action="store_true", help="fewer prompts, tokens and rounds, no K sweep")
    p.add_argument("--models", help="comma-separated: stories260K, bench-stories110M (default: as scripts/bench)")
    p.add_argument("--configs", help="comma-separated: " + ", ".join(CONFIGS) + " (default: as scripts/bench)")
    p.add_argument("--draft-tokens", type=int, help="K of the main rows (default: the engine's)")
    p.add_argument("--rounds", type=int, help="runs of each prompt in each mode (default: as scripts/bench)")
    p.add_argument("--models-cache", default=os.path.join(ROOT, "build", "models"))
    a = p.parse_args()
    models = a.models.split(",") if a.models else None
    configs = a.configs.split(",") if a.configs else None
    if set(models or []) - {"stories260K", "bench-stories110M"} or set(configs or []) - set(CONFIGS):
        sys.exit(f"speculation: unknown model or configuration in {a.models or ''} {a.configs or ''}")
    out = measure(_Bench(a.quick, a.models_cache), lambda s: print(s, file=sys.stderr, flush=True), models, configs,
                  a.draft_tokens, a.rounds)
    print(json.dumps(out, indent=1))
    print("\n".join(markdown(out)), file=sys.stderr)


if __name__ == "__main__":
    main()
