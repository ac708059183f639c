// A run with the wake step needs somewhere to send its magic packets. When neither
// ROOMCAST_WOL_INTERFACES nor ROOMCAST_WOL_ADDRESSES is set, and the run's room has no subnet of its
// own, the worker sends nothing: every PC would wait out its attempts and end "did not wake: check
// its BIOS", which blames the PCs for the server's settings, in the morning. So the run is refused at
// once, with what to do, while the person who starts it is still there. (Only "nothing configured"
// is checked here: whether an interface exists is the worker's to say, in its own network namespace.)
import { AppError } from '../core/errors.js';
import type { Step } from './pipeline.js';

export interface WolConfigured {
  interfaces: readonly string[];
  addresses: readonly string[];
}

export function checkWakeConfigured(steps: readonly Step[], wol: WolConfigured, roomSubnets: readonly string[] = []): void {
  if (!steps.includes('wake') || wol.interfaces.length || wol.addresses.length || roomSubnets.length) return;
  throw new AppError(
    400,
    'wake_not_configured',
    'Wake-on-LAN is not configured: set ROOMCAST_WOL_INTERFACES (the interface facing the rooms, e.g. eth0) or ROOMCAST_WOL_ADDRESSES (a room\'s directed broadcast) on the api and the worker, or give the room its subnet, or run without the wake step and start the PCs by hand / ' +
      "le réveil par le réseau (Wake-on-LAN) n'est pas configuré : renseigner ROOMCAST_WOL_INTERFACES ou ROOMCAST_WOL_ADDRESSES, ou le sous-réseau de la salle, ou lancer sans l'étape de réveil et allumer les PC à la main",
  );
}
