// REST routes for rooms, hosts, CSV import and export.
import { z } from 'zod';
import { decimal, defineRoute, idParam, type AnyRoute } from '../core/route.js';
import { assertImportable, type HostImporter } from './import.js';
import { PLAN_MAX, type InventoryService } from './service.js';

const RoomSchema = z
  .object({ id: z.number().int(), name: z.string(), description: z.string().nullable(), subnet: z.string().nullable().describe("IPv4 subnet (10.1.2.0/24): Wake-on-LAN goes to its directed broadcast too"),
    imageId: z.number().int().nullable().describe('the image a run restores when it names none; null: none set'),
    image: z.string().nullable().describe("that image's name"),
    version: z.number().int().nullable().describe("its version number; null: the image's newest ready version"),
    hostCount: z.number().int(), createdAt: z.string(), updatedAt: z.string() })
  .meta({ id: 'Room' });

const HostSchema = z
  .object({
    id: z.number().int(),
    name: z.string(),
    mac: z.string(),
    roomId: z.number().int().nullable(),
    room: z.string().nullable(),
    ip: z.string().nullable(),
    serial: z.string().nullable(),
    diskSerial: z.string().nullable().describe('serial of the disk restores must target on this PC; null: the client picks the largest internal disk'),
    planRow: z.number().int().nullable().describe("row of the PC's place on its room's plan, from 1; null: not placed"),
    planCol: z.number().int().nullable().describe("column of the PC's place on its room's plan, from 1; null: not placed"),
    notes: z.string().nullable(),
    hardware: z.record(z.string(), z.unknown()).nullable(),
    lastSeenAt: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'Host' });

const LineError = z.object({ line: z.number().int(), code: z.string(), column: z.string().optional(), value: z.string().optional(), message: z.string() });

const ImportReportSchema = z
  .object({
    dryRun: z.boolean(),
    applied: z.boolean(),
    encoding: z.string(),
    separator: z.string(),
    rows: z.number().int(),
    errors: z.array(LineError),
    summary: z.object({ roomsCreated: z.array(z.string()), hostsCreated: z.number().int(), hostsUpdated: z.number().int(), hostsUnchanged: z.number().int() }),
  })
  .meta({ id: 'ImportReport' });

const RoomName = z.string().trim().min(1).max(64);
const Text = (max: number) => z.string().max(max).nullable().optional();
const HostFields = {
  name: z.string().max(64),
  mac: z.string().max(64),
  roomId: z.number().int().positive().nullable().optional(),
  ip: Text(64),
  serial: Text(64),
  diskSerial: Text(128),
  notes: Text(2000),
};

const PlanCell = z.number().int().min(1).max(PLAN_MAX).nullable().optional();

/** The largest CSV file an import reads. */
export const IMPORT_BODY_LIMIT = 4 * 1024 * 1024;

export function inventoryRoutes(inventory: InventoryService, importer: HostImporter): AnyRoute[] {
  return [
    defineRoute({ method: 'get', path: '/api/v1/rooms', summary: 'List rooms with their PC counts', tag: 'inventory', access: 'viewer', response: z.array(RoomSchema), handler: () => inventory.listRooms() }),
    defineRoute({
      method: 'post', path: '/api/v1/rooms', summary: 'Create a room', tag: 'inventory', access: 'technician', status: 201,
      body: z.object({ name: RoomName, description: Text(500), subnet: Text(18).describe('IPv4 subnet, e.g. 10.1.2.0/24 (Wake-on-LAN to its directed broadcast)') }), response: RoomSchema, errors: { 400: 'bad_subnet', 409: 'duplicate_room' },
      handler: ({ auth, body }) => inventory.createRoom(auth!.actor, body),
    }),
    defineRoute({ method: 'get', path: '/api/v1/rooms/:id', summary: 'One room', tag: 'inventory', access: 'viewer', params: idParam, response: RoomSchema, handler: ({ params }) => inventory.getRoom(params.id) }),
    defineRoute({
      method: 'patch', path: '/api/v1/rooms/:id', summary: 'Rename a room, change its description or subnet, or set the image version its runs use', tag: 'inventory', access: 'technician',
      params: idParam, response: RoomSchema,
      body: z.object({
        name: RoomName.optional(), description: Text(500), subnet: Text(18),
        imageId: z.number().int().positive().nullable().optional().describe('the image runs restore when they name none (null: none)'),
        version: z.number().int().positive().nullable().optional().describe("its version (null or absent: the image's newest ready one)"),
      }).strict(),
      errors: { 400: 'bad_subnet | image_required | unknown_image | unknown_version', 409: 'duplicate_room | version_not_ready | version_damaged' },
      handler: ({ auth, params, body }) => inventory.updateRoom(auth!.actor, params.id, body),
    }),
    defineRoute({
      method: 'delete', path: '/api/v1/rooms/:id', summary: 'Delete a room (its PCs become unassigned only with ?hosts=unassign)', tag: 'inventory', access: 'technician',
      params: idParam, query: z.object({ hosts: z.enum(['unassign']).optional() }), response: null, status: 204, errors: { 409: 'room_not_empty' },
      handler: ({ auth, params, query }) => inventory.deleteRoom(auth!.actor, params.id, { unassignHosts: query.hosts === 'unassign' }),
    }),
    defineRoute({
      method: 'get', path: '/api/v1/rooms/:id/hosts', summary: 'The PCs of one room', tag: 'inventory', access: 'viewer',
      params: idParam, response: z.array(HostSchema),
      handler: async ({ params }) => {
        await inventory.assertRoomExists(params.id);
        return inventory.listHosts({ roomId: params.id });
      },
    }),
    defineRoute({
      method: 'get', path: '/api/v1/hosts', summary: 'List PCs; filter by room (an id, or "unassigned") or search text', tag: 'inventory', access: 'viewer',
      query: z.object({ room: z.union([z.literal('unassigned'), decimal('room', 1)]).optional(), q: z.string().max(100).optional() }),
      response: z.array(HostSchema),
      handler: ({ query }) => inventory.listHosts({ roomId: query.room, q: query.q }),
    }),
    defineRoute({
      method: 'post', path: '/api/v1/hosts', summary: 'Add a PC', tag: 'inventory', access: 'technician', status: 201,
      body: z.object(HostFields), response: HostSchema,
      errors: { 400: 'bad_mac | name_too_long | name_invalid | bad_ip | unknown_room', 409: 'duplicate_mac | duplicate_name' },
      handler: ({ auth, body }) => inventory.createHost(auth!.actor, body),
    }),
    defineRoute({
      method: 'get', path: '/api/v1/hosts/export.csv', summary: 'Export every PC as a GLPI-friendly CSV (UTF-8 with BOM, ";")', tag: 'inventory', access: 'viewer',
      response: { mediaType: 'text/csv; charset=utf-8' },
      handler: async ({ res }) => {
        res.set('Content-Disposition', `attachment; filename="roomcast-inventory-${new Date().toISOString().slice(0, 10)}.csv"`);
        return importer.exportCsv();
      },
    }),
    defineRoute({
      method: 'post', path: '/api/v1/hosts/import', summary: 'Import PCs from a CSV file sent as the body; ?dryRun=true reports and writes nothing', tag: 'inventory', access: 'technician',
      rawBody: ['text/csv', 'text/plain', 'application/octet-stream', 'application/vnd.ms-excel'],
      // 10,000 PCs take about 1 MB; a larger body is refused while it is read (413), before parsing.
      bodyLimit: IMPORT_BODY_LIMIT,
      errors: { 413: 'payload_too_large', 422: 'import_rejected' },
      query: z.object({ dryRun: z.enum(['true', 'false', '1', '0']).optional(), fileName: z.string().max(200).optional() }),
      response: ImportReportSchema,
      handler: async ({ auth, body, query }) => {
        const dryRun = query.dryRun === 'true' || query.dryRun === '1';
        const report = await importer.run(auth!.actor, body as Buffer, { dryRun, fileName: query.fileName });
        assertImportable(report);
        return report;
      },
    }),
    defineRoute({
      method: 'post', path: '/api/v1/hosts/move', summary: 'Move PCs to a room (roomId null: unassigned); all or none', tag: 'inventory', access: 'technician',
      body: z.object({ hostIds: z.array(z.number().int().positive()).min(1).max(5000), roomId: z.number().int().positive().nullable() }),
      response: z.array(HostSchema), errors: { 400: 'unknown_host | unknown_room' },
      handler: ({ auth, body }) => inventory.moveHosts(auth!.actor, body.hostIds, body.roomId),
    }),
    defineRoute({ method: 'get', path: '/api/v1/hosts/:id', summary: 'One PC', tag: 'inventory', access: 'viewer', params: idParam, response: HostSchema, handler: ({ params }) => inventory.getHost(params.id) }),
    defineRoute({
      method: 'patch', path: '/api/v1/hosts/:id', summary: 'Change a PC (name, MAC, room, place on the room plan, IP, serial, pinned disk serial, notes)', tag: 'inventory', access: 'technician',
      params: idParam, response: HostSchema,
      body: z.object({ ...HostFields, planRow: PlanCell.describe("row on the room's plan (null: take the PC off the plan)"), planCol: PlanCell.describe("column on the room's plan (null: take the PC off the plan)") }).partial().strict(),
      errors: { 400: 'plan_incomplete | plan_needs_room', 409: 'cell_taken | duplicate_mac | duplicate_name' },
      handler: ({ auth, params, body }) => inventory.updateHost(auth!.actor, params.id, body),
    }),
    defineRoute({
      method: 'delete', path: '/api/v1/hosts/:id', summary: 'Remove a PC from the inventory', tag: 'inventory', access: 'technician',
      params: idParam, response: null, status: 204,
      handler: ({ auth, params }) => inventory.deleteHost(auth!.actor, params.id),
    }),
  ];
}
