// Jest configuration: two projects. `unit` runs the *.test.ts files beside the code (no cluster);
// `integration` runs test/**/*.test.ts (but test/fakes, which need no cluster) against the real test-bed that globalSetup starts once per run.
const swc = ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2023', experimental: { keepImportAttributes: true, emitAssertForImportAttributes: false } }, module: { type: 'es6' } }];
const common = {
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '^.+\\.ts$': swc },
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  testEnvironment: 'node',
  // Never crawl .testbed/ (etcd data dirs hold *.snap files jest would take for snapshots) or dist/.
  roots: ['<rootDir>/operator', '<rootDir>/test', '<rootDir>/cdk8s'],
};
export default {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/operator/**/*.test.ts', '<rootDir>/cdk8s/**/*.test.ts', '<rootDir>/test/fakes/**/*.test.ts'] },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/**/*.test.ts'],
      testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/fakes/'],
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
      slowTestThreshold: 60,
    },
  ],
  testTimeout: 120000,
};
