// The device portal in real headless Chromium: log in, provision slot 2, see
// it in the table, make a token, destroy the slot, log out. A screenshot of
// each page goes to $SHOTS. Exits non-zero on the first failed expectation.
import { chromium } from "playwright-core";

const url = process.env.PORTAL_URL, password = process.env.PORTAL_PASSWORD;
const key = process.env.DEVICE_KEY, shots = process.env.SHOTS;
const fail = (m) => { console.error("FAIL: " + m); process.exitCode = 1; throw new Error(m); };

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 420, height: 900 } });
  const page = await ctx.newPage();
  const responses = [];
  page.on("response", async (r) => { try { responses.push(await r.text()); } catch (e) {} });
  await page.goto(url);
  await page.waitForSelector("#loginform");
  await page.screenshot({ path: `${shots}/1-login.png`, fullPage: true });

  await page.fill("#password", "not the password");
  await page.click("#loginform button");
  await page.waitForFunction(() => document.getElementById("msg").textContent.includes("wrong password"), null, { timeout: 15000 });
  await page.fill("#password", password);
  await page.click("#loginform button");
  await page.waitForSelector("#app:not(.hidden)");
  await page.waitForSelector("#slots tbody tr");
  await page.screenshot({ path: `${shots}/2-slots.png`, fullPage: true });
  if (!(await page.textContent("#tpm")).includes("software TPM")) fail("TPM info missing");

  await page.selectOption("#pslot", "2");
  await page.fill("#phost", "portal-hub.example");
  await page.fill("#pdev", "portal-device");
  await page.fill("#pkey", key);
  await page.click("#provform button");
  await page.waitForSelector('#slots tr[data-slot="2"] td:nth-child(3):text("portal-device")');
  if ((await page.inputValue("#pkey")) !== "") fail("the key stayed in the form");
  await page.screenshot({ path: `${shots}/3-provisioned.png`, fullPage: true });

  await page.selectOption("#tslot", "2");
  await page.fill("#tvalid", "600");
  await page.click("#tokform button");
  await page.waitForSelector("#token:not(.hidden)");
  const token = await page.textContent("#token");
  if (!token.startsWith("SharedAccessSignature sr=portal-hub.example/devices/portal-device&sig=")) fail("token: " + token);
  console.log("TOKEN " + token);
  await page.screenshot({ path: `${shots}/4-token.png`, fullPage: true });

  page.once("dialog", (d) => d.accept());
  await page.click('#slots tr[data-slot="2"] button.danger');
  await page.waitForSelector('#slots tr[data-slot="2"] td:nth-child(4):text("no")');
  await page.screenshot({ path: `${shots}/5-destroyed.png`, fullPage: true });

  await page.click("#logout");
  await page.waitForSelector("#login:not(.hidden)");
  await page.screenshot({ path: `${shots}/6-logged-out.png`, fullPage: true });
  const r = await page.evaluate(async () => (await fetch("/api/iot/tpm/settings")).status);
  if (r !== 401) fail("API still answers after logout: " + r);
  if (responses.some((t) => t.includes(key))) fail("the key came back in a response");
  console.log("browser: all steps passed");
} finally {
  await browser.close();
}
