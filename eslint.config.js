// ESLint flat config (ESLint 9 + typescript-eslint). `npm run lint` runs `tsc --noEmit` first,
// so type errors are tsc's job; this file is about code smells tsc does not catch.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

// Node.js globals for plain JavaScript files (TypeScript files get theirs from @types/node and tsc;
// typescript-eslint turns `no-undef` off for them). Listed here rather than taken from the
// `globals` package, which is not a direct dependency.
const nodeGlobals = Object.fromEntries(
  [
    'AbortController', 'AbortSignal', 'Buffer', 'URL', 'URLSearchParams', 'TextDecoder', 'TextEncoder',
    'clearImmediate', 'clearInterval', 'clearTimeout', 'console', 'fetch', 'global', 'globalThis',
    'performance', 'process', 'queueMicrotask', 'setImmediate', 'setInterval', 'setTimeout', 'structuredClone',
  ].map((name) => [name, 'readonly']),
);

// The arrows between the parts of services/ (README "Layout"): a wrong import fails `npm run lint`.
// Every group repeats what the wider groups forbid, because a later block replaces an earlier
// block's options for the same rule rather than adding to them.
const DOMAINS = 'accounts|alerts|inventory|tasks|boot|imaging|jobs|system|software';
const up = (what) => `^(\\.\\./)+(${what})(/|\\.js$)`;
const noApp = { regex: up('api|container'), message: 'a domain never imports the HTTP app (services/api) or the composition root (services/container.ts): the app and the root import domains, not the reverse; shared code belongs in services/core' };
const boundaries = (...patterns) => ['error', { patterns }];
const restricted = '@typescript-eslint/no-restricted-imports';

export default defineConfig(
  {
    ignores: ['dist/', 'node_modules/', 'test-results/', 'coverage/', 'data/', 'openapi/', 'test/bench/results/', 'web/dist/', 'web/src/api/schema.d.ts'],
  },
  {
    files: ['**/*.{ts,tsx,js,mjs,cjs}'],
    extends: [js.configs.recommended, tseslint.configs.recommended],
    languageOptions: { ecmaVersion: 2023, sourceType: 'module' },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          args: 'after-used',
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrors: 'all',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          ignoreRestSiblings: true,
        },
      ],
      '@typescript-eslint/no-explicit-any': 'error',
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'no-console': 'off',
      'prefer-const': 'error',
    },
  },
  {
    files: ['**/*.{js,mjs}'],
    languageOptions: { globals: nodeGlobals },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { ...nodeGlobals, require: 'readonly', module: 'writable', exports: 'writable', __dirname: 'readonly', __filename: 'readonly' } },
  },
  {
    // core: imports no domain, no HTTP app, no composition root; Express only for its types (the route kit).
    files: ['services/core/**/*.ts'],
    rules: {
      [restricted]: [
        'error',
        {
          paths: [{ name: 'express', allowTypeImports: true, message: 'core uses only the types of Express (the route kit); the app is services/api' }],
          patterns: [{ regex: up(`${DOMAINS}|api|container`), message: 'core imports no domain, no HTTP app and no composition root: it is what they all share' }],
        },
      ],
    },
  },
  {
    files: [`services/{${DOMAINS.split('|').join(',')}}/**/*.ts`],
    ignores: ['services/*/cli.ts'],
    rules: { [restricted]: boundaries(noApp) },
  },
  {
    // The packet path (proxyDHCP, TFTP) answers from packets and asks the api: no database, no domain state.
    files: ['services/boot/proxydhcp/**/*.ts', 'services/boot/tftp/**/*.ts'],
    rules: {
      [restricted]: boundaries(noApp, {
        regex: '^(\\.\\./)+(imaging|inventory|tasks|accounts|jobs|system|http|core/db)(/|\\.js$)',
        message: "boot's packet path imports no imaging, inventory, tasks or database code: it asks the api (GET /boot/policy) what a PC may boot",
      }),
    },
  },
  {
    // The imaging client runs on the PC, bundled alone: it shares only the image format (and its zstd codec) with the server.
    files: ['services/imaging/client/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      [restricted]: boundaries(
        { regex: '^\\.\\./(?!format\\.js$|zstd\\.js$|windows-facts\\.js$|driver-pack\\.js$)', message: 'the imaging client imports only the shared format (../format.js), codec (../zstd.js), Windows facts (../windows-facts.js) and driver-pack reader (../driver-pack.js) from the server side' },
        { regex: '^(?!node:|zod$|\\.)', message: 'the imaging client is bundled alone onto the PC: Node built-ins and zod only' },
      ),
    },
  },
  {
    // The web UI runs in the browser: it reaches the server through the REST API (the generated
    // schema.d.ts) and socket.io (api/events.ts, checked against the server's map by test/web), never its code.
    files: ['web/src/**/*.{ts,tsx}'],
    rules: {
      [restricted]: boundaries({ regex: '^(\\.\\./)+(services|ops|test)(/|$)', message: 'the web UI imports no server code: use the API client (web/src/api) and its generated types' }),
    },
  },
  {
    // Test helpers and tests poke at untyped JSON answers.
    files: ['test/**', '**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
);
