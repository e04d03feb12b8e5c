import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['node_modules/**', 'grafana/**', 'demo-data/**', 'dashboards/generated/**', 'coverage/**', 'dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly', Buffer: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': ['error', { selector: "MemberExpression[object.object.name='process'][object.property.name='env'][property.name='NODE_ENV']", message: 'Never branch on NODE_ENV (STYLE.md 3).' }]
    }
  },
  {
    // The console's page script runs in the browser, as a classic script (no build step).
    files: ['api/console/public/**/*.js'],
    languageOptions: { sourceType: 'script', globals: { window: 'readonly', document: 'readonly', fetch: 'readonly', EventSource: 'readonly' } }
  },
  {
    files: ['domain/**/*.ts'],
    // The domain depends on nothing but the shipped catalogue data (JSON, no code).
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['../*', '!../catalogue'], message: 'domain/ depends on nothing (DESIGN.md)' }] }] }
  },
  {
    files: ['detectors/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['../ingest/*', '../api/*', '../broker/*', '../simulators/*', '../test/*', 'mqtt', '@influxdata/*', 'node:fs', 'node:net'] }] }
  }
)
