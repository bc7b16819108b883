import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'out/', 'sample/', 'demo-output/', 'runs/', '.cache/'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      eqeqeq: ['error', 'always'],
    },
  },
  {
    files: ['src/cli/**/*.ts', 'src/protocol/**/*.ts', 'src/worker/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: [{ name: 'vscode', message: 'core, cli, protocol and the worker never import vscode' }] }] },
  },
  {
    // The core owns its domain types: the protocol imports the core, never the reverse.
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [{ name: 'vscode', message: 'core, cli, protocol and the worker never import vscode' }],
          patterns: [{ group: ['**/protocol/**', '**/extension/**', '**/cli/**', '**/worker/**'], message: 'the core imports nothing from the front ends or the protocol' }],
        },
      ],
    },
  },
  {
    // Job resolution and run replay are unit-tested outside VS Code.
    files: ['src/extension/training/jobRequest.ts', 'src/extension/training/runReplay.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: [{ name: 'vscode', message: 'training job resolution never imports vscode' }] }] },
  },
  {
    // The panel's page runs in a browser: it shares only the protocol with the host.
    files: ['webview/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/src/core/**', '**/src/extension/**', '**/src/cli/**', 'node:*', 'vscode'], message: 'the webview imports only src/protocol and browser packages' }] },
      ],
    },
  },
  {
    files: ['**/*.mjs', 'bin/*'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', require: 'readonly', __dirname: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
