// Screenshots of the Dagster UI's global asset lineage (every group expanded) and of asset
// detail pages, in headless Chromium (/usr/bin/chromium) driven by playwright-core.
//
// Usage: node lineage.mjs [BASE_URL] [OUT_DIR]   (default http://127.0.0.1:3111, ./out)
// `make ui-screenshots` starts a webserver on a scratch Dagster home and runs it (run.sh).
// DEBUG=1 prints the fitting steps.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const base = (process.argv[2] || 'http://127.0.0.1:3111').replace(/\/$/, '');
const outDir = process.argv[3] || 'out';
mkdirSync(outDir, { recursive: true });
const out = (name) => join(outDir, name);
const debug = (...a) => process.env.DEBUG && console.log(...a);

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
const context = await browser.newContext({ viewport: { width: 1920, height: 1200 } });
const page = await context.newPage();

async function settle(ms = 1500) {
  await page.waitForLoadState('networkidle').catch(() => {});
  await page.waitForTimeout(ms);
}

// The first-visit "Join the Dagster community" dialog (and any other dialog).
async function dismissModals() {
  for (const name of ['Skip', 'Dismiss', 'Close', 'Got it', 'No thanks']) {
    const b = page.locator('[role=dialog]').getByRole('button', { name, exact: true });
    if (await b.count()) { await b.first().click().catch(() => {}); await page.waitForTimeout(300); }
  }
  if (await page.locator('[role=dialog]').count()) await page.keyboard.press('Escape');
}

// The graph's viewport: the first ancestor of the graph's svg that fits in the window (the svg
// itself is larger than the window, and transformed).
async function viewport() {
  return page.evaluate(() => {
    const svg = [...document.querySelectorAll('svg')].find((s) => s.querySelector('foreignObject'));
    if (!svg) return null;
    let el = svg.parentElement, r = el.getBoundingClientRect();
    while (el.parentElement && (r.x < 0 || r.y < 0 || r.x + r.width > window.innerWidth + 1
      || r.y + r.height > window.innerHeight + 1 || getComputedStyle(el).transform !== 'none')) {
      el = el.parentElement; r = el.getBoundingClientRect();
    }
    // The search bar floats over the top of the graph.
    const bar = [...document.querySelectorAll('button')].find((b) => /Materialize all/.test(b.innerText));
    const top = bar ? Math.max(r.y, bar.getBoundingClientRect().bottom + 8) : r.y;
    return { x: r.x, y: top, width: r.width, height: r.y + r.height - top };
  });
}

// Screenshot with the pointer parked off the graph (hovering a node highlights its edges).
async function shot(file) {
  const vb = await viewport();
  if (vb) await page.mouse.move(vb.x + 4, vb.y + vb.height - 4, { steps: 3 });
  await page.waitForTimeout(600);
  await page.screenshot({ path: out(file), fullPage: true });
}

// The bounding box (screen pixels) of the graph's nodes and group frames; with `groups`, of
// those groups' frames only.
async function graphBox(groups = null) {
  return page.evaluate((groups) => {
    const boxes = [...document.querySelectorAll('foreignObject')]
      .filter((f) => {
        if (!groups) return true;
        const title = (f.firstElementChild?.innerText || '').trim().split('\n')[0];
        return groups.includes(title) && f.getBoundingClientRect().height > 80; // frames, not cards
      })
      .map((f) => f.getBoundingClientRect())
      .filter((r) => r.width > 0);
    if (!boxes.length) return null;
    const x0 = Math.min(...boxes.map((r) => r.x)), y0 = Math.min(...boxes.map((r) => r.y));
    const x1 = Math.max(...boxes.map((r) => r.right)), y1 = Math.max(...boxes.map((r) => r.bottom));
    return { x: x0, y: y0, width: x1 - x0, height: y1 - y0, count: boxes.length };
  }, groups);
}

// Plain wheel pans the graph (0.7 px per unit of delta); ctrl+wheel zooms around the pointer.
async function centre(groups) {
  for (let i = 0; i < 6; i++) {
    const g = await graphBox(groups), vb = await viewport();
    if (!g || !vb) return;
    // A group partly out of view may not be drawn at all: then its box is unknown, keep still.
    if (groups && g.count < groups.length) return;
    const dx = g.x + g.width / 2 - (vb.x + vb.width / 2);
    const dy = g.y + g.height / 2 - (vb.y + vb.height / 2);
    debug('centre', groups, JSON.stringify({ g, vb, dx, dy }));
    if (Math.abs(dx) < 8 && Math.abs(dy) < 8) return;
    await page.mouse.move(vb.x + vb.width / 2, vb.y + vb.height / 2);
    await page.mouse.wheel(dx / 0.7, dy / 0.7);
    await page.waitForTimeout(300);
  }
}
async function zoomStep(delta) {
  const vb = await viewport();
  await page.mouse.move(vb.x + vb.width / 2, vb.y + vb.height / 2);
  await page.keyboard.down('Control');
  await page.mouse.wheel(0, delta);
  await page.keyboard.up('Control');
  await page.waitForTimeout(300);
}
// Dagster draws only the nodes in view: a group must be on screen to be measured, so zoom
// to the whole graph first.
async function hideTree() {
  const treeToggle = page.locator('button:has([aria-label="panel_show_right"])');
  if (await treeToggle.count()) await treeToggle.first().click();
  await settle(800);
}
async function fitGroups(groups) {
  // Reloading refits the whole graph (the expanded groups are in the URL); the asset tree's
  // hidden state is not kept across a reload.
  await page.reload({ waitUntil: 'networkidle' });
  await settle(2000);
  await dismissModals();
  await hideTree();
  await fit();
  await fit(groups);
}
// Zoom (in or out) until these groups (all the graph when null) fill the viewport, centred.
// Past a zoom level Dagster draws the full asset cards (untruncated names), which are larger:
// the box jumps there, hence the bounded loop and the final zoom out when it overflows.
async function fit(groups = null, margin = 0.96) {
  const STEP = 8; // one ctrl+wheel step of 8 is about 8 % of zoom
  let overflowed = false; // once zoomed out to fit, never zoom in again (no ping-pong)
  for (let i = 0; i < 40; i++) {
    await centre(groups);
    const g = await graphBox(groups), vb = await viewport();
    if (!g || !vb) return;
    if (groups && g.count < groups.length) { await zoomStep(STEP); overflowed = true; continue; }
    const ratio = Math.max(g.width / (vb.width * margin), g.height / (vb.height * margin));
    debug('fit', groups, ratio.toFixed(3));
    if (ratio > 1) { await zoomStep(STEP); overflowed = true; }
    else if (ratio * 1.1 < 1 && !overflowed) await zoomStep(-STEP);
    else break;
  }
  await centre(groups);
  await settle(800);
}

// 1. Global asset lineage, every group expanded.
await page.goto(`${base}/asset-groups`, { waitUntil: 'networkidle' });
await settle(2000);
await dismissModals();
{
  const vb = await viewport();
  // The graph's context menu (right-click on the background): "Expand all groups" (⌥E).
  await page.mouse.click(vb.x + vb.width - 80, vb.y + vb.height - 40, { button: 'right' });
  const expand = page.getByRole('menuitem', { name: /Expand all groups/ });
  if (await expand.count()) await expand.first().click();
  else { await page.keyboard.press('Escape'); await page.keyboard.press('Alt+e'); }
  await settle(1500);
}
// The expanded groups are in the URL (?expanded=...): reloading makes the graph fit them.
await page.reload({ waitUntil: 'networkidle' });
await settle(2500);
await dismissModals();
console.log('lineage URL:', page.url());
// The initial fit stops at a minimum zoom: a larger graph is cut off. Fit it ourselves.
await fit();
await shot('lineage-expanded.png');

// The names as drawn in the overview (compact cards), for the log.
const drawn = await page.evaluate(() => [...document.querySelectorAll('foreignObject')]
  .map((f) => (f.firstElementChild?.innerText || '').trim().split('\n')[0]).filter(Boolean));
console.log('drawn at fit:', JSON.stringify(drawn));

// The same, with the app's navigation and the asset tree hidden: the graph gets the full width.
const hideNav = page.getByRole('button', { name: 'Hide navigation' });
if (await hideNav.count()) await hideNav.click();
await hideTree();
await fit();
await shot('lineage-expanded-wide.png');

// 2. Zoomed in: the intermediate models, then the reports and published groups, at a zoom
// where Dagster draws full cards.
await fitGroups(['intermediate']);
await shot('lineage-intermediate-zoom.png');
await fitGroups(['raw', 'staging']);
await shot('lineage-raw-staging-zoom.png');
await fitGroups(['reports', 'published']);
await shot('lineage-reports-published-zoom.png');
await fitGroups(['reports']);
await shot('lineage-reports-zoom.png');
await fitGroups(['published']);
await shot('lineage-published-zoom.png');

// 3. Asset detail pages (overview tab: description, metadata, columns). The page scrolls inside
// its own panel, so a tall window shows all of it in one screenshot.
await page.setViewportSize({ width: 1920, height: 2600 });
for (const [key, file] of [
  ['reports/customer_activity_report', 'asset-reports-customer-activity-report.png'],
  ['published/customer_activity_report', 'asset-published-customer-activity-report.png'],
]) {
  await page.goto(`${base}/assets/${key}`, { waitUntil: 'networkidle' });
  await settle(2500);
  await dismissModals();
  await page.screenshot({ path: out(file), fullPage: true });
  console.log('asset page:', page.url(), '->', file);
}

await browser.close();
