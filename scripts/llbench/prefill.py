"""Chunked prefill figures (issue 18, "Prefill"): on three real daemons (llbench.cluster.Cluster, loopback,
--threads 1) holding a dim-512, 12-layer model with a 1,100-token context, the time to first token of a 512-token
prompt with the prompt cut into chunks of C tokens and as one step (--prefill-chunk 0), and the decode ms/token of two
running sessions while 512-token prompts are prefilled back to back, against the same two sessions alone.

`measure(root, cache)` returns the figures as a dict (scripts/bench calls it); `python3 -m llbench.prefill` (from
scripts/) prints them. Figures from a shared machine are noisy: every one is the median of its repeats."""
import argparse
import concurrent.futures
import json
import os
import statistics
import subprocess
import sys
import threading

from . import measure as m
from .cluster import LLCTL, Cluster, llctl, model_need

SPEC = "stories42M,n_layers=12,vocab_size=512,context_length=1100"
SENTENCE = "Once upon a time there was a little girl named Lily who liked to play in the park with her dog. "
DECODE_PROMPTS = ["The brave little robot", "Tom had a red ball"]


def _local_prompt_tokens(package, text):
    r = subprocess.run([LLCTL, "generate", "--local", "--speculate", "off", "--model", package, "--threads", "1", "--json", "--max-tokens",
                        "0", text], capture_output=True, text=True, check=True)
    return len(json.loads(r.stdout)["prompt_tokens"])


def prompt_of(package, tokens):
    """A text that the package's tokenizer makes into at most `tokens` tokens (BOS included), a few fewer at worst."""
    per = _local_prompt_tokens(package, SENTENCE * 10) / 10.0
    text = SENTENCE * int(tokens / per + 2)
    n = _local_prompt_tokens(package, text)
    while n > tokens:  # trim by characters, proportionally, then one word at a time
        cut = max(1, int((n - tokens) * len(text) / n)) if n - tokens > 4 else 0
        text = text[: len(text) - cut] if cut else text.rsplit(" ", 1)[0]
        n = _local_prompt_tokens(package, text)
    return text, n


def _generate(endpoint, prompt, tokens, ignore_eos=False):
    args = ["generate", "--json", "--max-tokens", str(tokens)] + (["--ignore-eos"] if ignore_eos else []) + [prompt]
    return json.loads(llctl(endpoint, *args))


def ttft_s(endpoint, prompt, repeats):
    """Median of the head's time to first token (its `prefill_s`: admission to the first sampled token)."""
    return statistics.median(_generate(endpoint, prompt, 1)["timings"]["prefill_s"] for _ in range(repeats))


def decode_ms(endpoint, tokens, long_prompt=None):
    """ms/token of two sessions decoding `tokens` tokens at once (median of the two); with `long_prompt`, prompts
    of it are prefilled back to back (one at a time) for as long as the two decode."""
    stop = threading.Event()
    prefills = []

    def prefill_loop():
        while not stop.is_set():
            prefills.append(_generate(endpoint, long_prompt, 1)["timings"]["prefill_s"])

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        runs = [pool.submit(_generate, endpoint, p, tokens, True) for p in DECODE_PROMPTS]
        loop = pool.submit(prefill_loop) if long_prompt else None
        results = [r.result() for r in runs]
        stop.set()
        if loop:
            loop.result()
    per_token = [1000.0 * r["timings"]["decode_s"] / max(1, len(r["tokens"]) - 1) for r in results]
    return statistics.median(per_token), len(prefills)


def measure(root, cache, chunks=(0, 32), repeats=3, decode_tokens=60, prompt_tokens=512, log=print):
    package = m.export_synthetic(root, SPEC, cache)
    prompt, n = prompt_of(package, prompt_tokens)
    need = model_need(package, sessions=3)
    devices = [{"name": f"dev{i}", "cpu_share": 1.0, "memory_budget": int(need * 0.4), "bandwidth": 0, "latency": 0}
               for i in range(3)]
    out = {"model": SPEC + " (synthetic)", "prompt_tokens": n, "repeats": repeats, "decode_tokens": decode_tokens,
           "load_average_at_start": os.getloadavg()[0], "by_chunk": {}}
    for chunk in chunks:
        extra = ["--threads", "1", "--prefill-chunk", str(chunk)]
        state = os.path.join(root, "build", "bench-prefill")
        with Cluster({"devices": devices}, state_dir=state, tag="llp", rebalance=False, profile_seconds=0.2,
                     extra_args=extra).start() as c:
            plan = c.load(package, max_sessions=3)
            ep = c.endpoint_of(c.leader())
            _generate(ep, prompt, 1)  # warm-up: first calls of freshly loaded modules are slow
            row = {"stages": len(plan["stages"]), "ttft_s": ttft_s(ep, prompt, repeats)}
            row["decode_ms_alone"], _ = decode_ms(ep, decode_tokens)
            row["decode_ms_during_prefill"], row["prefills_during_decode"] = decode_ms(ep, decode_tokens, prompt)
            row["decode_slowdown"] = row["decode_ms_during_prefill"] / row["decode_ms_alone"]
        log(f"prefill: chunk {chunk}: {row}")
        out["by_chunk"][str(chunk)] = row
    base = out["by_chunk"].get("0")
    for key, row in out["by_chunk"].items():
        if base and key != "0":
            row["ttft_vs_one_step"] = row["ttft_s"] / base["ttft_s"]
    return out


def main():
    p = argparse.ArgumentParser(description="time to first token and decode under prefill, chunked and not")
    p.add_argument("--chunks", default="0,32", help="chunk sizes to compare, comma-separated (0 = one step)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--decode-tokens", type=int, default=60)
    p.add_argument("--models", default=os.path.join(m_root(), "build", "models"), help="where packages are cached")
    a = p.parse_args()
    try:
        chunks = [int(x) for x in a.chunks.split(",") if x.strip()]
    except ValueError:
        sys.exit(f"prefill: --chunks must be integers, got {a.chunks!r}")
    out = measure(m_root(), a.models, chunks=chunks, repeats=a.repeats, decode_tokens=a.decode_tokens,
                  log=lambda s: print(s, file=sys.stderr, flush=True))
    print(json.dumps(out, indent=1))


def m_root():
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


if __name__ == "__main__":
    main()
