import { defineConfig } from 'vitest/config';

// unit: pure logic, no services (npm run test:fast). integration + cli: real PostgreSQL (DATABASE_URL, or
// an embedded server the global setup starts) and spawned processes.
export default defineConfig({
  test: {
    reporters: ['default', './test/support/summary-reporter.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    fileParallelism: true,
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      { extends: true, test: { name: 'integration', include: ['test/integration/**/*.test.ts', 'test/cli/**/*.test.ts'] } },
    ],
  },
});
