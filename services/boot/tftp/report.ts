// What the TFTP server tells the log: one line per transfer's end, and the listener's bind errors.
import type { Logger } from '../../core/logger.js';
import { ERR } from './packets.js';
import type { Outcome } from './transfer.js';

/** One log line for a transfer that ended (fields: client, file, sizes, options, counters). */
export function logOutcome(log: Logger, retries: number, outcome: Outcome, fields: Record<string, unknown>, blocksSent: number): void {
  const what = `${String(fields.file)} to ${String(fields.client)}`;
  switch (outcome.kind) {
    case 'complete':
      log.info({ ...fields, outcome: 'complete' }, `tftp: sent ${what} (${String(fields.bytes)} bytes)`);
      break;
    case 'client-error': {
      // PXE firmware asks for the size (tsize), then aborts with ERROR 8 and asks again: benign.
      const probe = outcome.code === ERR.OPTION_REFUSED || blocksSent === 0;
      log[probe ? 'info' : 'warn'](
        { ...fields, outcome: 'aborted by client', errorCode: outcome.code, errorMessage: outcome.message },
        probe ? `tftp: ${what}: client ended after option negotiation (size query)` : `tftp: ${what}: client aborted (error ${outcome.code})`,
      );
      break;
    }
    case 'timeout':
      log.warn(
        { ...fields, outcome: 'timeout', sendError: outcome.lastSendError },
        `tftp: ${what}: gave up after ${retries} retransmissions without an answer`,
      );
      break;
    case 'socket-error':
      log.warn({ ...fields, outcome: 'socket error', err: outcome.message }, `tftp: ${what}: socket error`);
      break;
    case 'cancelled':
      log.info({ ...fields, outcome: 'cancelled', reason: outcome.reason }, `tftp: ${what}: stopped (${outcome.reason})`);
      break;
  }
}

/** A bind failure, said so that the RN knows what to change. */
export function bindErrorMessage(err: NodeJS.ErrnoException, host: string, port: number): string {
  const where = `${host}:${port}`;
  switch (err.code) {
    case 'EACCES':
      return `cannot listen for TFTP on UDP ${where}: permission denied. Ports below 1024 need root or the CAP_NET_BIND_SERVICE capability (for example \`setcap cap_net_bind_service=ep "$(command -v node)"\`, or the appliance image's node-netboot); for a test, set ROOMCAST_TFTP_PORT to a port above 1023`;
    case 'EADDRINUSE':
      return `cannot listen for TFTP on UDP ${where}: the port is already in use (is another TFTP server running, e.g. tftpd-hpa, atftpd or dnsmasq with enable-tftp?)`;
    case 'EADDRNOTAVAIL':
      return `cannot listen for TFTP on UDP ${where}: ${host} is not an address of this host (check ROOMCAST_TFTP_HOST)`;
    default:
      return `cannot listen for TFTP on UDP ${where}: ${err.message}`;
  }
}
