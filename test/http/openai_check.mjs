// Drives lingualinkd's HTTP API with the official `openai` client (test/integration/http_api.sh): lists the models,
// streams a completion and a chat completion (greedy), asks for one whole completion, and checks that a wrong key is
// refused; then runs three sampled completions (temperature 0.8, top_p 0.9, seeds 100..102) at once. Prints one JSON
// object for the shell test to compare with `llctl generate`.
// Usage: node openai_check.mjs BASE_URL API_KEY PROMPT CHAT_CONTENT MAX_TOKENS
import OpenAI from "openai";

const [baseURL, apiKey, prompt, chatContent, maxTokensText] = process.argv.slice(2);
const max_tokens = Number(maxTokensText);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 60000 });

const models = await client.models.list();
const model = models.data[0].id;

let completion = "", completionChunks = 0, completionFinish = null;
const stream = await client.completions.create({ model, prompt, max_tokens, temperature: 0, stream: true });
for await (const chunk of stream) {
  completionChunks++;
  completion += chunk.choices[0]?.text ?? "";
  completionFinish = chunk.choices[0]?.finish_reason ?? completionFinish;
}

let chat = "", chatChunks = 0, chatFinish = null, role = null;
const chatStream = await client.chat.completions.create({
  model, messages: [{ role: "user", content: chatContent }], max_tokens, temperature: 0, stream: true,
});
for await (const chunk of chatStream) {
  chatChunks++;
  role = chunk.choices[0]?.delta?.role ?? role;
  chat += chunk.choices[0]?.delta?.content ?? "";
  chatFinish = chunk.choices[0]?.finish_reason ?? chatFinish;
}

const whole = await client.completions.create({ model, prompt, max_tokens, temperature: 0 });

let wrongKeyStatus = null;
try {
  const intruder = new OpenAI({ baseURL, apiKey: "x".repeat(apiKey.length), maxRetries: 0 });
  await intruder.completions.create({ model, prompt, max_tokens: 1 });
} catch (e) {
  wrongKeyStatus = e.status ?? String(e);
}

// Concurrent, sampled: each must equal its own seeded llctl run (sampling is seeded per position).
const sampledPrompts = ["Lily", "The dog", "One day"];
const sampled = await Promise.all(sampledPrompts.map(async (p, i) => {
  let text = "";
  const s = await client.completions.create({ model, prompt: p, max_tokens, temperature: 0.8, top_p: 0.9, seed: 100 + i,
                                              stream: true });
  for await (const chunk of s) text += chunk.choices[0]?.text ?? "";
  return text;
}));

console.log(JSON.stringify({
  model, sampled, completion, completionChunks, completionFinish, chat, chatChunks, chatFinish, role,
  whole: whole.choices[0].text, wholeFinish: whole.choices[0].finish_reason, usage: whole.usage, wrongKeyStatus,
}));
