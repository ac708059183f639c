import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['services/**/*.test.ts', 'test/integration/**/*.test.ts', 'test/web/**/*.test.ts'],
    exclude: ['**/node_modules/**', 'dist/**', 'test/lab/**', 'test/bench/**'],
    globalSetup: ['test/support/global-setup.ts', 'test/support/web-build.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: process.env.CI ? ['default', ['json', { outputFile: 'test-results/vitest.json' }]] : ['default'],
  },
});
