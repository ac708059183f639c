// Where the real test services are. Defaults match the dev and CI machines.
export const PG_ADMIN_URL = process.env.ROOMCAST_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.ROOMCAST_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const DIALECTS = ['sqlite', 'postgres'] as const;
export type TestDialect = (typeof DIALECTS)[number];
