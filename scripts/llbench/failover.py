"""Failover figures (issue: losing devices): the longest pause in a client's stream when a stage is SIGKILLed and
when it is frozen (SIGSTOP), whether the text still equals the local run, and what an exact replay of a long session
costs. Real daemons (llbench.cluster.Cluster), a random dim-512 model, sampled decoding; the victim is hit once the
head has produced a given number of tokens."""
import json
import os
import signal
import subprocess
import time

from .cluster import LLCTL, llctl_json

PROMPT = "The brave little robot"


def _head_tokens(endpoint):
    return int(llctl_json(endpoint, "plan").get("stage", {}).get("tokens_generated", 0))


def _local(package, tokens, temperature, seed, extra=()):
    r = subprocess.run([LLCTL, "generate", "--local", "--speculate", "off", "--model", package, "--threads", "1", "--json", "--max-tokens",
                        str(tokens), "--temperature", str(temperature), "--seed", str(seed), *extra, PROMPT],
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout)["tokens"]


def one_loss(cluster, package, how, tokens=300, after=90, temperature=0.8, seed=11, ignore_eos=False):
    """Generates on `cluster` (model loaded) and hits the second stage with `how` ('kill' or 'stop') once the head
    has produced `after` tokens. Returns the client's longest pause, the time from the signal to the end, and
    whether the tokens equal the local run's. ignore_eos: always `tokens` tokens (a long session on purpose)."""
    extra = ["--ignore-eos"] if ignore_eos else []
    lead = cluster.endpoint_of(cluster.leader())
    plan = llctl_json(lead, "plan")
    victim = [s["device"] for s in plan["stages"][1:]][0]
    base = _head_tokens(lead)
    gen = subprocess.Popen([LLCTL, "--endpoint", lead, "generate", "--json", "--max-tokens", str(tokens),
                            "--temperature", str(temperature), "--seed", str(seed), *extra, PROMPT],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120 + 0.2 * after
    while _head_tokens(lead) < base + after and time.time() < deadline and gen.poll() is None:
        time.sleep(0.05)
    pid = cluster.pid_of(victim)
    hit = time.time()
    os.kill(pid, signal.SIGKILL if how == "kill" else signal.SIGSTOP)
    out, err = gen.communicate(timeout=300)
    done = time.time()
    if how == "stop":
        os.kill(pid, signal.SIGCONT)
    if gen.returncode != 0:
        return {"how": how, "victim": victim, "error": err.strip()[-300:]}
    result = json.loads(out)
    return {"how": how, "victim": victim, "after_tokens": after, "tokens": len(result["tokens"]),
            "longest_pause_s": result["timings"]["longest_pause_s"], "signal_to_done_s": done - hit,
            "identical_to_local": result["tokens"] == _local(package, tokens, temperature, seed, extra)}


def replay_cost(package, generated=1000):
    r = subprocess.run([LLCTL, "bench", "--local", "--model", package, "--threads", "1", "--prompt-tokens", "24",
                        "--tokens", "8", "--replay", str(generated), "--json"], capture_output=True, text=True,
                       check=True)
    return json.loads(r.stdout)["replay"]
