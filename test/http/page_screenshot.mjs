// Loads the topology page in headless Chromium (Debian's /usr/bin/chromium, driven by puppeteer-core), waits until
// the page shows the expected number of devices with their ring, saves a screenshot, and prints what the page shows
// as JSON (test/integration/http_api.sh asserts on it).
// Usage: node page_screenshot.mjs URL SCREENSHOT_PATH EXPECTED_DEVICES
import puppeteer from "puppeteer-core";

const [url, out, expectedText] = process.argv.slice(2);
const expected = Number(expectedText);
const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  const failed = [];
  page.on("pageerror", (e) => failed.push(String(e)));
  page.on("requestfailed", (r) => { if (!r.url().startsWith(url.split("#")[0])) failed.push("external: " + r.url()); });
  await page.goto(url, { waitUntil: "domcontentloaded" });
  // The devices appear once the first /api/topology answer is rendered; every planned device shows its layers.
  await page.waitForFunction(
    (n) => document.querySelectorAll("#devices .device").length >= n &&
      document.querySelectorAll("#ring circle").length >= n,
    { timeout: 30000 }, expected);
  const shown = await page.evaluate(() => ({
    devices: [...document.querySelectorAll("#devices .device")].map((d) => d.dataset.name).sort(),
    ringLabels: [...document.querySelectorAll("#ring text")].map((t) => t.textContent),
    model: document.getElementById("model").textContent,
    plan: document.getElementById("plan").textContent,
    status: document.getElementById("status").textContent,
    memoryBars: document.querySelectorAll("#devices .bar div").length,
  }));
  await page.screenshot({ path: out, fullPage: true });
  console.log(JSON.stringify({ ...shown, errors: failed }));
} finally {
  await browser.close();
}
