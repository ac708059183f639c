// `npm run test:docker`: the README's `docker compose up -d` on a real Docker engine (test/docker).
// Needs root, Debian's docker.io, docker-compose, debootstrap and curl (or tftp-hpa); .ci/run
// installs them. One file, one fork, long timeouts: a cold run builds base images and the appliance.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/docker/**/*.test.ts'],
    exclude: ['**/node_modules/**', 'dist/**'],
    pool: 'forks',
    fileParallelism: false,
    maxWorkers: 1,
    testTimeout: 15 * 60_000,
    hookTimeout: 5 * 60_000,
    teardownTimeout: 2 * 60_000,
    reporters: process.env.CI ? ['default', ['json', { outputFile: 'test-results/vitest-docker.json' }]] : ['default'],
  },
});
