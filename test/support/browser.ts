// Browser tests' helper: Debian's chromium driven by playwright-core (no browser download), headless,
// with the flags this machine needs (no background networking: its connections are refused here), a
// fresh profile per launch (playwright's own temporary one) and a context per test; screenshots at 1280 and 375 px wide into
// test-results/web/, and an axe-core check that fails on serious or critical violations.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const hasChromium = fs.existsSync(CHROMIUM);
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SHOTS_DIR = path.join(repo, 'test-results', 'web');
const AXE = path.join(repo, 'node_modules', 'axe-core', 'axe.min.js');

export const WIDTHS = [1280, 375] as const;

export interface TestBrowser {
  browser: Browser;
  /** A new context (its own cookies and storage) on `baseURL`, French by default. */
  context(baseURL: string): Promise<BrowserContext>;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<TestBrowser> {
  // playwright-core gives every launch a fresh, empty profile of its own (a temporary
  // --user-data-dir, removed at close); it refuses one passed in args.
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync',
    ],
  });
  return {
    browser,
    context: (baseURL) => browser.newContext({ baseURL, viewport: { width: 1280, height: 900 }, locale: 'fr-FR', timezoneId: 'Europe/Paris' }),
    close: async () => {
      await browser.close().catch(() => undefined);
    },
  };
}

/** Screenshots of the page as it is, at 1280 px and at 375 px wide: test-results/web/<name>-<width>.png. */
export async function screenshots(page: Page, name: string): Promise<string[]> {
  fs.mkdirSync(SHOTS_DIR, { recursive: true });
  const before = page.viewportSize() ?? { width: 1280, height: 900 };
  const files: string[] = [];
  for (const width of WIDTHS) {
    await page.setViewportSize({ width, height: width === 375 ? 812 : 900 });
    const file = path.join(SHOTS_DIR, `${name}-${width}.png`);
    await page.screenshot({ path: file, fullPage: true });
    files.push(file);
  }
  await page.setViewportSize(before);
  return files;
}

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: Array<{ target: unknown[]; failureSummary?: string }>;
}

/** Runs axe-core in the page; returns the serious and critical violations, readably. */
export async function axeProblems(page: Page): Promise<string[]> {
  const has = await page.evaluate(() => typeof (globalThis as { axe?: unknown }).axe !== 'undefined');
  // Evaluated through the DevTools protocol, not as a <script>: the app's Content-Security-Policy stays on.
  if (!has) await page.evaluate(fs.readFileSync(AXE, 'utf8'));
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(ctx: unknown, opts: unknown): Promise<{ violations: AxeViolation[] }> } }).axe;
    const r = await axe.run((globalThis as unknown as { document: unknown }).document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target, failureSummary: n.failureSummary })) }));
  });
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help}\n${v.nodes.map((n) => `    at ${JSON.stringify(n.target)}: ${(n.failureSummary ?? '').replace(/\n/g, ' ')}`).join('\n')}`);
}

/** Screenshots at both widths, then the accessibility check at each (fails with the violations listed). */
export async function checkPage(page: Page, name: string): Promise<void> {
  await screenshots(page, name);
  const problems: string[] = [];
  for (const width of WIDTHS) {
    await page.setViewportSize({ width, height: 900 });
    for (const p of await axeProblems(page)) problems.push(`[${width}px] ${p}`);
  }
  await page.setViewportSize({ width: 1280, height: 900 });
  if (problems.length) throw new Error(`accessibility problems on ${name} (axe-core, serious or critical):\n${problems.join('\n')}`);
}
