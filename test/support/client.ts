// A small API client for tests: keeps the session cookie and sends the CSRF header, like the web UI will.
export interface Reply<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export class ApiClient {
  private cookie: string | undefined;
  csrf: string | undefined;
  token: string | undefined;

  constructor(readonly base: string) {}

  async request<T = any>(method: string, path: string, body?: unknown, opts: { contentType?: string; headers?: Record<string, string> } = {}): Promise<Reply<T>> {
    const headers: Record<string, string> = { ...opts.headers };
    if (this.cookie) headers.cookie = this.cookie;
    if (this.csrf && method !== 'GET') headers['x-csrf-token'] = this.csrf;
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let payload: RequestInit['body'];
    if (Buffer.isBuffer(body) || typeof body === 'string') {
      payload = body as string;
      headers['content-type'] = opts.contentType ?? 'text/csv';
    } else if (body !== undefined) {
      payload = JSON.stringify(body);
      headers['content-type'] = 'application/json';
    }
    const res = await fetch(this.base + path, { method, headers, body: payload });
    const setCookie = res.headers.get('set-cookie');
    if (setCookie) this.cookie = setCookie.split(';')[0];
    const type = res.headers.get('content-type') ?? '';
    const text = await res.text();
    const parsed = type.includes('json') && text ? JSON.parse(text) : text;
    return { status: res.status, body: parsed as T, headers: res.headers };
  }

  get<T = any>(path: string) {
    return this.request<T>('GET', path);
  }
  post<T = any>(path: string, body?: unknown, opts?: { contentType?: string }) {
    return this.request<T>('POST', path, body, opts);
  }
  patch<T = any>(path: string, body?: unknown) {
    return this.request<T>('PATCH', path, body);
  }
  delete<T = any>(path: string) {
    return this.request<T>('DELETE', path);
  }

  async login(username: string, password: string): Promise<Reply> {
    const r = await this.post('/api/v1/auth/login', { username, password });
    if (r.status === 200) this.csrf = r.body.csrfToken;
    return r;
  }

  /** Creates a user as this (admin) client and returns a logged-in client for it, password already changed. */
  async userClient(username: string, role: 'admin' | 'technician' | 'viewer'): Promise<ApiClient> {
    const temp = `temp-${username}-password`;
    const created = await this.post('/api/v1/users', { username, role, password: temp });
    if (created.status !== 201) throw new Error(`cannot create ${username}: ${JSON.stringify(created.body)}`);
    const c = new ApiClient(this.base);
    await c.login(username, temp);
    const changed = await c.post('/api/v1/auth/password', { currentPassword: temp, newPassword: `${temp}-changed` });
    if (changed.status !== 204) throw new Error(`cannot change password: ${JSON.stringify(changed.body)}`);
    return c;
  }
}
