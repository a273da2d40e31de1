// Type-aware linting on top of `tsc --noEmit`: catches floating promises and
// misused async callbacks, the bugs that lose data in a pipeline like this one.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test's describe()/test() return promises the runner awaits.
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'test', 'it'] }] },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // eslint.config.js, and test/docker/tcp-forward.mjs: plain JavaScript run in the image (its node has no tsx).
    files: ['eslint.config.js', 'test/docker/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['test/docker/*.mjs'],
    languageOptions: { globals: { process: 'readonly' } },
  },
);
