// The HTTP side of network boot. Firmware-facing routes live under /boot/ (access 'boot': anonymous,
// GET only, rate-limited); the booted client reports under /api/v1/boot/hello with its boot token
// (access 'machine'); people open and close the registration window under /api/v1/boot/registration.
import { z } from 'zod';
import { clientIp, decimal, defineRoute, type AnyRoute } from '../../core/route.js';
import { normalizeMac } from '../../inventory/mac.js';
import { TASK_STATES } from '../../tasks/lifecycle.js';
import { CLIENT_FILES, sendClientFile } from './client-files.js';
import { HardwareFactsSchema } from './facts.js';
import type { HelloService } from './hello.js';
import type { RegistrationWindow } from './registration.js';
import type { BootService } from './service.js';

export interface BootRouteOptions {
  clientDir: string;
  /** Where PCs fetch the client from (scriptBase), or null when not configured. */
  base: () => string | null;
  /** What a client may be told at its hello: poweroff and the running kinds' actions (the task kind registry). */
  helloActions: [string, ...string[]];
}

const RegistrationSchema = z
  .object({ open: z.boolean(), until: z.string().nullable().describe('ISO time the window closes (or closed)') })
  .meta({ id: 'Registration' });

const helloAnswerSchema = (actions: [string, ...string[]]) => z
  .object({
    action: z.enum(actions).describe('what the client does next: the action of its running task\'s kind (capture, restore…), else poweroff'),
    hostId: z.number().int(),
    hostName: z.string(),
    registered: z.boolean().describe('this hello added the PC to the inventory (unassigned)'),
    taskId: z.number().int().nullable(),
    taskState: z.enum(TASK_STATES).nullable(),
    token: z.string().optional().describe('a running task: the task token for /api/v1/client/* (Authorization: Bearer); captures and restores: valid 24 hours'),
  })
  .meta({ id: 'HelloAnswer' });

/** Lenient on purpose: whatever iPXE sends gets a script; what is not valid leads to the exit script. */
const IpxeQuery = z.object({
  mac: z.string().max(64).optional().describe('the booting NIC\'s MAC (aa:bb:cc:dd:ee:ff)'),
  arch: z.string().max(16).optional().describe('PXE client architecture, DHCP option 93 (0 BIOS, 7/9 x64 UEFI)'),
  uuid: z.string().max(64).optional().describe('SMBIOS UUID (option 97); accepted, not used yet'),
});

/** GRUB asks /boot/grub/${net_default_mac}; lenient like IpxeQuery (what is not a MAC exits to the disk). */
const GrubParams = z.object({ mac: z.string().max(64).describe('the booting NIC\'s MAC, as GRUB\'s ${net_default_mac} (aa:bb:cc:dd:ee:ff)') });

const PolicyQuery = z.object({
  mac: z
    .string()
    .max(64)
    .transform((v, ctx) => normalizeMac(v) ?? (ctx.addIssue({ code: 'custom', message: 'a unicast MAC address (aa:bb:cc:dd:ee:ff)' }), z.NEVER)),
  arch: decimal('arch', 0, 65535).optional(),
});

export function bootRoutes(boot: BootService, hellos: HelloService, registration: RegistrationWindow, opts: BootRouteOptions): AnyRoute[] {
  return [
    defineRoute({
      method: 'get', path: '/boot/ipxe', tag: 'boot', access: 'boot',
      summary: 'The iPXE script for a PC: start the roomcast client (open task, or registration), or boot from the local disk',
      query: IpxeQuery, response: { mediaType: 'text/plain; charset=utf-8' },
      handler: async ({ query, req, res }) => {
        const arch = query.arch !== undefined && /^\d{1,5}$/.test(query.arch) ? Number(query.arch) : undefined;
        const decision = await boot.decide(query.mac, arch, clientIp(req));
        res.set('Cache-Control', 'no-store');
        return boot.script(decision, opts.base());
      },
    }),
    defineRoute({
      method: 'get', path: '/boot/grub/:mac', tag: 'boot', access: 'boot',
      summary: 'The GRUB configuration for an x64 UEFI PC on the Secure Boot chain (shim, signed GRUB): the same decision as /boot/ipxe',
      params: GrubParams, response: { mediaType: 'text/plain; charset=utf-8' },
      handler: async ({ params, req, res }) => {
        // Only x64 UEFI PCs are handed shim and GRUB (architecture 7).
        const decision = await boot.decide(params.mac, 7, clientIp(req));
        res.set('Cache-Control', 'no-store');
        return boot.script(decision, opts.base(), 'grub');
      },
    }),
    defineRoute({
      method: 'get', path: '/boot/policy', tag: 'boot', access: 'boot',
      summary: 'Whether the proxyDHCP answers this PC: boot (a known PC, or an unknown one while registration is open) or ignore',
      query: PolicyQuery, response: z.object({ action: z.enum(['boot', 'ignore']) }).meta({ id: 'BootPolicy' }),
      handler: async ({ query, res }) => {
        res.set('Cache-Control', 'no-store');
        return { action: await boot.policy(query.mac, query.arch) };
      },
    }),
    ...CLIENT_FILES.map((name) =>
      defineRoute({
        method: 'get', path: `/boot/client/${name}`, tag: 'boot', access: 'boot',
        summary: `The boot client's ${name === 'vmlinuz' ? 'kernel' : 'initrd'} (Range requests supported)`,
        response: { mediaType: 'application/octet-stream' }, errors: { 404: 'client_missing: build it with bash images/client/build.sh <dir>' },
        handler: ({ req, res }) => sendClientFile(req, res, opts.clientDir, name),
      }),
    ),
    defineRoute({
      method: 'get', path: '/api/v1/boot/registration', tag: 'boot', access: 'viewer',
      summary: 'Whether unknown PCs that network-boot are registered (as unassigned) now, and until when',
      response: RegistrationSchema,
      handler: () => registration.state(),
    }),
    defineRoute({
      method: 'post', path: '/api/v1/boot/registration', tag: 'boot', access: 'technician',
      summary: 'Open the registration window for some minutes: unknown PCs that network-boot report their hardware and are added unassigned',
      body: z.object({ minutes: z.number().int().min(1).max(1440) }), response: RegistrationSchema,
      handler: ({ auth, body }) => registration.open(auth!.actor, body.minutes),
    }),
    defineRoute({
      method: 'delete', path: '/api/v1/boot/registration', tag: 'boot', access: 'technician',
      summary: 'Close the registration window now', response: RegistrationSchema,
      handler: ({ auth }) => registration.close(auth!.actor),
    }),
    defineRoute({
      method: 'post', path: '/api/v1/boot/hello', tag: 'boot', access: 'machine',
      summary: 'A booted roomcast client reports its hardware facts and asks what to do (capture, restore, or power off)',
      body: HardwareFactsSchema, response: helloAnswerSchema(opts.helloActions),
      errors: { 403: 'mac_mismatch | registration_closed | token_elsewhere', 404: 'host_gone', 409: 'task_claimed | not_this_pc', 429: 'rate_limited' },
      handler: ({ machine, body }) => hellos.hello(machine!, body),
    }),
  ];
}
