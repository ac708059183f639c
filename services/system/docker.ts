// The stack's containers as the System view shows them, read through dockerode from the read-only
// socket proxy (docker-proxy.ts). Outside Docker (all-in-one `npm start`) there is nothing to read.
import Docker from 'dockerode';

export interface ContainerView {
  id: string;
  name: string;
  service: string | null;
  image: string;
  state: string;
  status: string;
  health: 'healthy' | 'unhealthy' | 'starting' | 'none';
  restarts: number;
  startedAt: string | null;
  logs: string[];
}

export type ContainersReport =
  | { available: true; project: string | null; containers: ContainerView[] }
  | { available: false; reason: string };

/** Splits Docker's multiplexed log stream (8-byte frame headers) into text; a TTY stream is plain text. */
export function demuxLogs(buf: Buffer): string {
  const parts: Buffer[] = [];
  let i = 0;
  while (i + 8 <= buf.length && buf[i]! <= 2 && buf[i + 1] === 0 && buf[i + 2] === 0 && buf[i + 3] === 0) {
    const size = buf.readUInt32BE(i + 4);
    parts.push(buf.subarray(i + 8, i + 8 + size));
    i += 8 + size;
  }
  return i === 0 ? buf.toString('utf8') : Buffer.concat(parts).toString('utf8');
}

export class SystemService {
  private readonly docker: Docker | undefined;

  constructor(dockerUrl: string | undefined) {
    if (dockerUrl) {
      const u = new URL(dockerUrl);
      this.docker = new Docker({ protocol: u.protocol === 'https:' ? 'https' : 'http', host: u.hostname, port: Number(u.port || 2375), timeout: 8000 });
    }
  }

  async containers(opts: { logLines: number }): Promise<ContainersReport> {
    if (!this.docker) {
      return { available: false, reason: 'roomcast is not running under Docker Compose here (no ROOMCAST_DOCKER_URL), so there are no containers to show' };
    }
    let list: Docker.ContainerInfo[];
    try {
      list = await this.docker.listContainers({ all: true });
    } catch (err) {
      return { available: false, reason: `the Docker socket proxy does not answer (${(err as Error).message}); check the docker-proxy service` };
    }
    const containers = await Promise.all(
      list.map(async (c): Promise<ContainerView> => {
        const container = this.docker!.getContainer(c.Id);
        const info = await container.inspect();
        let logs: string[] = [];
        if (opts.logLines > 0) {
          const raw = (await container.logs({ stdout: true, stderr: true, tail: opts.logLines, timestamps: true, follow: false })) as unknown as Buffer;
          logs = demuxLogs(Buffer.from(raw)).split('\n').filter(Boolean).slice(-opts.logLines);
        }
        const health = info.State.Health?.Status;
        return {
          id: c.Id.slice(0, 12),
          name: (c.Names[0] ?? c.Id).replace(/^\//, ''),
          service: c.Labels['com.docker.compose.service'] ?? null,
          image: c.Image,
          state: c.State,
          status: c.Status,
          health: health === 'healthy' || health === 'unhealthy' || health === 'starting' ? health : 'none',
          restarts: info.RestartCount ?? 0,
          startedAt: info.State.StartedAt && !info.State.StartedAt.startsWith('0001') ? info.State.StartedAt : null,
          logs,
        };
      }),
    );
    containers.sort((a, b) => (a.service ?? a.name).localeCompare(b.service ?? b.name));
    return { available: true, project: list[0]?.Labels['com.docker.compose.project'] ?? null, containers };
  }
}
