import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkIpxeValues, ipxeRenderer, IpxeValueError } from './render.js';

const TOKEN = `${'a'.repeat(40)}.${'b'.repeat(43)}`;
const clientVars = { base: 'http://10.0.0.5:8080', mac: 'aa:bb:cc:dd:ee:ff', token: TOKEN, mode: 'task', imaging: '', tries: 10, delay: 3 };

describe('iPXE renderer', () => {
  const render = ipxeRenderer();

  it('renders the client script with retry loops and the kernel command line', () => {
    const script = render('client', clientVars);
    expect(script.startsWith('#!ipxe\n')).toBe(true);
    expect(script).toContain(
      `kernel http://10.0.0.5:8080/boot/client/vmlinuz initrd=initrd.img roomcast.api=http://10.0.0.5:8080 roomcast.token=${TOKEN} BOOTIF=01-\${netX/mac:hexhyp} roomcast.mode=task console=tty0 console=ttyS0,115200n8 quiet || goto kernel_failed`,
    );
    expect(script).toContain('initrd http://10.0.0.5:8080/boot/client/initrd.img || goto initrd_failed');
    expect(script).toMatch(/:kernel_failed\ninc roomcast_try\niseq \$\{roomcast_try\} 10 && goto give_up \|\|\n.*\nsleep 3\ngoto kernel\n/);
    expect(script).toContain('boot || goto boot_failed');
    expect(script.trimEnd().endsWith('exit')).toBe(true);
    expect(script).not.toContain('imaging');
  });

  it('adds the imaging part (second initrd, named on the command line for EFI) for captures and restores', () => {
    const script = render('client', { ...clientVars, imaging: '1' });
    expect(script).toContain('/boot/client/vmlinuz initrd=initrd.img initrd=imaging.img roomcast.api=');
    expect(script).toMatch(/initrd http:\/\/10\.0\.0\.5:8080\/boot\/client\/initrd\.img \|\| goto initrd_failed\n(#.*\n)?:imaging\ninitrd http:\/\/10\.0\.0\.5:8080\/boot\/client\/imaging\.img \|\| goto imaging_failed\nboot/);
    expect(script).toMatch(/:imaging_failed\ninc roomcast_try\n[^]*goto imaging\n/);
  });

  it('renders the exit script', () => {
    const script = render('exit', { reason: 'no task for this PC' });
    expect(script).toMatch(/^#!ipxe\n/);
    expect(script).toContain('echo roomcast: nothing to do for this PC, booting from disk\n');
    expect(script).toContain('iseq ${platform} pcbios && sanboot --no-describe --drive 0x80 ||\nexit\n');
  });

  it('throws on a missing variable (strict mode)', () => {
    const { token: _token, ...withoutToken } = clientVars;
    expect(() => render('client', withoutToken)).toThrow(/"token" not defined/);
    expect(() => render('exit', {})).toThrow(/"reason" not defined/);
  });

  it('never lets an iPXE metacharacter into a script', () => {
    for (const [name, value] of [
      ['mac', 'aa:bb:cc:dd:ee:ff;shell'],
      ['mac', 'AA:BB:CC:DD:EE:FF'],
      ['base', 'http://evil ||shell'],
      ['base', 'http://host/${x}'],
      ['base', 'https://host'],
      ['base', 'http://host/'],
      ['token', `${TOKEN} shell`],
      ['mode', 'task\nshell'],
      ['imaging', 'yes'],
      ['tries', '10 && shell'],
      ['reason', 'done # shell'],
      ['reason', 'x\nshell'],
    ] as const) {
      expect(() => render('client', { ...clientVars, [name]: value }), `${name}=${value}`).toThrow(IpxeValueError);
    }
    expect(() => checkIpxeValues({ unknown: 'x' })).toThrow(/no pattern/);
  });

  it('compiles with escaping off: quotes and ampersands are not HTML-escaped', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-tpl-'));
    try {
      fs.writeFileSync(path.join(dir, 'client.ipxe.hbs'), '{{base}}');
      fs.writeFileSync(path.join(dir, 'exit.ipxe.hbs'), "echo {{reason}}");
      expect(ipxeRenderer(dir)('exit', { reason: "the PC's (x/y)" })).toBe("echo the PC's (x/y)");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('GRUB renderer (the Secure Boot chain)', () => {
  const render = ipxeRenderer();
  const grubVars = { ...clientVars, server: '10.0.0.5:8080', path: '', bootif: '01-aa-bb-cc-dd-ee-ff', attempts: '1 2 3' };

  it('renders the client configuration: kernel over HTTP with the same command line, retries, then the disk', () => {
    const cfg = render('client', grubVars, 'grub');
    expect(cfg).toContain(
      `  if linux "(http,10.0.0.5:8080)/boot/client/vmlinuz" roomcast.api=http://10.0.0.5:8080 roomcast.token=${TOKEN} BOOTIF=01-aa-bb-cc-dd-ee-ff roomcast.mode=task console=tty0 console=ttyS0,115200n8 quiet; then\n`,
    );
    expect(cfg).toMatch(/\n {4}if initrd "\(http,10\.0\.0\.5:8080\)\/boot\/client\/initrd\.img"; then\n {6}boot\n/);
    expect(cfg).toContain('for roomcast_try in 1 2 3; do\n');
    expect(cfg).toContain('  sleep 3\ndone\n');
    expect(cfg.trimEnd().endsWith('exit')).toBe(true);
    expect(cfg).not.toContain('imaging');
    expect(cfg).not.toMatch(/\{\{|\}\}/);
  });

  it('loads the imaging part as a second initrd for captures and restores', () => {
    const cfg = render('client', { ...grubVars, imaging: '1', path: '/rc' }, 'grub');
    expect(cfg).toContain('    if initrd "(http,10.0.0.5:8080)/rc/boot/client/initrd.img" "(http,10.0.0.5:8080)/rc/boot/client/imaging.img"; then\n');
  });

  it('renders the exit configuration', () => {
    const cfg = render('exit', { reason: 'no task for this PC' }, 'grub');
    expect(cfg).toContain('echo "roomcast: no task for this PC"\necho "roomcast: nothing to do for this PC, booting from disk"\n');
    expect(cfg).toMatch(/\nexit\n$/);
  });

  it('never lets a GRUB metacharacter into a configuration', () => {
    for (const [name, value] of [
      ['server', '10.0.0.5:8080)/x;reboot'],
      ['server', '[fd00::1]:8080'],
      ['server', '${x}'],
      ['path', '/a b'],
      ['path', '/a/'],
      ['bootif', '01-aa-bb-cc-dd-ee-ff"; reboot'],
      ['attempts', '1 2; reboot'],
      ['attempts', ''],
    ] as const) {
      expect(() => render('client', { ...grubVars, [name]: value }, 'grub'), `${name}=${value}`).toThrow(IpxeValueError);
    }
    expect(() => render('exit', { reason: 'x" ; reboot' }, 'grub')).toThrow(IpxeValueError);
  });
});
