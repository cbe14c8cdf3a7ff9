// Time to first token and decode tokens/s of the same greedy generation, through `llctl generate` (a child
// process; first byte on its stdout) and through the HTTP API with the official openai client (first streamed
// content chunk), measured on one clock, runs interleaved. Prints a table and one JSON line. Run by scripts/bench-http.
// Usage: node bench.mjs BASE_URL API_KEY LLCTL CONTROL_ENDPOINT MODEL MAX_TOKENS RUNS
import { spawn } from "node:child_process";
import OpenAI from "openai";

const [baseURL, apiKey, llctl, endpoint, model, maxText, runsText] = process.argv.slice(2);
const max_tokens = Number(maxText), runs = Number(runsText);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 120000 });
const now = () => performance.now();

function viaLlctl(json = false) {
  return new Promise((resolve, reject) => {
    const t0 = now();
    let first = null, text = "";
    const args = ["--endpoint", endpoint, "generate", "--max-tokens", String(max_tokens), ...(json ? ["--json"] : []), ""];
    const child = spawn(llctl, args);
    child.stdout.on("data", (d) => { if (first === null) first = now(); text += d; });
    child.on("error", reject);
    child.on("close", (code) => code === 0 ? resolve({ ttft: first - t0, total: now() - t0, text: text.replace(/\n$/, "") })
                                           : reject(new Error("llctl exit " + code)));
  });
}

async function viaHttp() {
  const t0 = now();
  let first = null, last = null, text = "", tokens = 0;
  const stream = await client.completions.create({ model, prompt: "", max_tokens, temperature: 0, stream: true,
                                                   stream_options: { include_usage: true } });
  for await (const chunk of stream) {
    const piece = chunk.choices[0]?.text ?? "";
    if (piece && first === null) first = now();
    if (piece) last = now();
    text += piece;
    if (chunk.usage) tokens = chunk.usage.completion_tokens;
  }
  return { ttft: first - t0, total: now() - t0, decode: last - first, tokens, text };
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
await viaHttp(); await viaLlctl();  // warm both paths (connections, caches)
const l = [], h = [], head = [];
for (let i = 0; i < runs; i++) {
  l.push(await viaLlctl());
  h.push(await viaHttp());
  head.push(JSON.parse((await viaLlctl(true)).text).timings);  // as the head stage measures it
}
const same = l.every((r) => r.text === h[0].text) && h.every((r) => r.text === h[0].text);
const tokens = h[0].tokens;
const row = (name, rs, decodeTps) => console.log(`${name.padEnd(22)} ttft ${median(rs.map((r) => r.ttft)).toFixed(1).padStart(7)} ms` +
  `   total ${median(rs.map((r) => r.total)).toFixed(1).padStart(7)} ms   ${decodeTps.toFixed(0).padStart(5)} tokens/s end to end`);
console.log(`${tokens} tokens, greedy, median of ${runs} interleaved runs; identical text: ${same}`);
row("llctl generate", l, tokens / (median(l.map((r) => r.total)) / 1000));
row("HTTP stream (openai)", h, tokens / (median(h.map((r) => r.total)) / 1000));
console.log(`HTTP decode rate (first to last chunk): ${((tokens - 1) / (median(h.map((r) => r.decode)) / 1000)).toFixed(0)} tokens/s`);
console.log(`head stage's own figures (llctl --json): first token after ${(median(head.map((t) => t.prefill_s)) * 1000).toFixed(1)} ms, ` +
  `decode ${median(head.map((t) => t.decode_tokens_per_s)).toFixed(0)} tokens/s`);
console.log(JSON.stringify({
  tokens, runs, identical: same,
  llctl: { ttft_ms: median(l.map((r) => r.ttft)), total_ms: median(l.map((r) => r.total)) },
  head: { prefill_ms: median(head.map((t) => t.prefill_s)) * 1000,
          decode_tokens_per_s: median(head.map((t) => t.decode_tokens_per_s)) },
  http: { ttft_ms: median(h.map((r) => r.ttft)), total_ms: median(h.map((r) => r.total)),
          decode_tokens_per_s: (tokens - 1) / (median(h.map((r) => r.decode)) / 1000) },
}));
