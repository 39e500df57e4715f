// Drives the /docs page in headless Chromium as a person would: Authorize
// through the dev issuer's login page (authorization code + PKCE), checking
// that the dialog asks the public client for no client_secret, then
// "Try it out" on GET /orders, expecting 200, and save a screenshot.
//
// usage: node docs.mjs BASE_URL SCREENSHOT.png
import { chromium } from "playwright-core";

const [base, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
  page.setDefaultTimeout(20000);
  await page.goto(base + "/docs");
  await page.click(".btn.authorize");

  const oauth = page.locator(".auth-container", { hasText: "authorizationCode" });
  await oauth.locator("#client_id_authorizationCode").waitFor();
  if (await oauth.locator("#client_secret_authorizationCode").isVisible() ||
      await oauth.getByText("client_secret", { exact: false }).isVisible()) {
    throw new Error("the Authorize dialog asks the public PKCE client for a client_secret");
  }
  await oauth.locator("a", { hasText: /select all/i }).click();
  const [popup] = await Promise.all([
    page.waitForEvent("popup"),
    oauth.locator("button.authorize").click(),
  ]);
  await popup.fill("#subject", "alice");
  await popup.click("#sign-in");
  await oauth.locator("button", { hasText: "Logout" }).waitFor();
  await page.click(".btn-done, button.close-modal");

  const op = page.locator("#operations-orders-getOrders");
  await op.locator(".opblock-summary").click();
  await op.locator(".try-out__btn").click();
  await op.locator(".btn.execute").click();
  const status = op.locator(".live-responses-table .response .response-col_status").first();
  await status.waitFor();
  const code = (await status.innerText()).trim();
  await op.locator(".live-responses-table").scrollIntoViewIfNeeded();
  await page.screenshot({ path: screenshot, fullPage: false });
  if (!code.startsWith("200")) {
    console.error(`GET /orders from /docs answered ${code}; want 200`);
    process.exit(1);
  }
  console.log("docs: authorized through the dev issuer, GET /orders answered 200");
} finally {
  await browser.close();
}
