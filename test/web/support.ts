// What the browser tests share: a page with its errors collected, the login through the form, the page
// check (screenshots, axe, nothing sideways on a phone), and the inventory fixture (a school room and its
// PCs, named ROOM-01…, with MACs from one prefix).
import type { BrowserContext, Page } from 'playwright-core';
import { expect } from 'vitest';
import type { TestApp } from '../support/app.js';
import { checkPage as checkBothWidths, type TestBrowser } from '../support/browser.js';

export const actor = { userId: null, name: 'test', ip: null };

/** A new context and page on `baseURL`; `errors` collects the page's uncaught errors (a test expects none). */
export async function openPage(tb: TestBrowser, baseURL: string): Promise<{ ctx: BrowserContext; page: Page; errors: string[] }> {
  const ctx = await tb.context(baseURL);
  const page = await ctx.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  return { ctx, page, errors };
}

/** Logs in with the login form (French) and waits for the rooms page. */
export async function login(page: Page, username: string, password: string): Promise<void> {
  await page.goto('/login');
  await page.getByLabel('Identifiant').fill(username);
  await page.getByLabel('Mot de passe').fill(password);
  await page.getByRole('button', { name: 'Se connecter' }).click();
  await page.getByRole('heading', { name: 'Salles' }).waitFor();
}

/**
 * A school room with `pcs` PCs named `<name>-01`…, their MACs `<mac>:01`… (mac: five octets, e.g.
 * '02:5e:20:00:00', or the MAC of PC n). Returns the room's id and the PCs' ids and names.
 */
export async function seedRoom(app: TestApp, name: string, pcs: number, mac: string | ((n: number) => string)): Promise<{ roomId: number; hostIds: number[]; names: string[] }> {
  const c = app.container;
  const roomId = (await c.inventory.createRoom(actor, { name })).id;
  const hostIds: number[] = [];
  const names: string[] = [];
  for (let n = 1; n <= pcs; n++) {
    const two = String(n).padStart(2, '0');
    const h = await c.inventory.createHost(actor, { name: `${name}-${two}`, mac: typeof mac === 'string' ? `${mac}:${two}` : mac(n), roomId });
    hostIds.push(h.id);
    names.push(h.name);
  }
  return { roomId, hostIds, names };
}

/** A PC of no room (a reference PC to capture from, or one just registered). */
export async function seedLoosePc(app: TestApp, name: string, mac: string): Promise<{ id: number; mac: string }> {
  const h = await app.container.inventory.createHost(actor, { name, mac, roomId: null });
  return { id: h.id, mac: h.mac };
}

/** A user who may log in at once (no forced password change). */
export async function seedUser(app: TestApp, username: string, role: 'admin' | 'technician' | 'viewer', password: string): Promise<void> {
  const c = app.container;
  await c.accounts.createUser(actor, { username, role, password });
  await c.database.db.updateTable('users').set({ must_change_password: 0 }).where('username', '=', username).execute();
}

// Run in the page (a string: the tests type-check without DOM globals). The document's scrolling width
// against its visible width; every element whose right edge passes the viewport, unless a box that
// clips or scrolls sideways holds it (the room plan scrolls in its own region, a dialog in itself); and
// every table wrap that scrolls sideways (a table that should become cards).
const SIDEWAYS = `(() => {
  const d = document, root = d.scrollingElement, vw = root.clientWidth;
  const held = (el) => {
    for (let a = el.parentElement; a && a !== d.body && a !== d.documentElement; a = a.parentElement)
      if (getComputedStyle(a).overflowX !== 'visible') return true;
    return false;
  };
  const name = (el) => el.tagName.toLowerCase() + (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\\s+/).join('.') : '')
    + (el.dataset.testid ? '[' + el.dataset.testid + ']' : '') + ' "' + (el.textContent || '').trim().slice(0, 40) + '"';
  const wide = [...d.body.querySelectorAll('*')].filter((el) => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.right > vw + 1 && !held(el) && !(el.parentElement && el.parentElement.getBoundingClientRect().right > vw + 1 && !held(el.parentElement));
  }).map(name);
  const tables = [...d.querySelectorAll('.table-wrap')].filter((w) => w.scrollWidth > w.clientWidth + 1).map((w) => w.getAttribute('aria-label'));
  return { scrollWidth: root.scrollWidth, clientWidth: vw, wide, tables };
})()`;

export interface Sideways {
  scrollWidth: number;
  clientWidth: number;
  /** The outermost elements that pass the viewport's right edge: tag.classes[testid] "text…". */
  wide: string[];
  /** The labels of the table wraps that scroll sideways. */
  tables: string[];
}

/** What scrolls or sticks out sideways at the page's current width. */
export async function sideways(page: Page): Promise<Sideways> {
  return (await page.evaluate(SIDEWAYS)) as Sideways;
}

/**
 * Screenshots at 1280 and 375 px and axe at each (test/support/browser.ts), then, at 375 px, nothing
 * scrolls sideways: not the page, not a table, no element wider than the phone.
 */
export async function checkPage(page: Page, name: string): Promise<void> {
  await checkBothWidths(page, name);
  await page.setViewportSize({ width: 375, height: 812 });
  const found = await sideways(page);
  await page.setViewportSize({ width: 1280, height: 900 });
  expect(found, `${name} at 375 px`).toEqual({ scrollWidth: 375, clientWidth: 375, wide: [], tables: [] });
}

/** The focused element: its text, and whether it is inside a confirmation (role alertdialog). */
export async function focused(page: Page): Promise<{ text: string; inConfirm: boolean }> {
  return (await page.evaluate(`(() => {
    const el = document.activeElement;
    return { text: (el && el.textContent || '').trim(), inConfirm: !!(el && el.closest('[role=alertdialog]')) };
  })()`)) as { text: string; inConfirm: boolean };
}
