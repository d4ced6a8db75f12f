// ESLint (run by `npm run lint` and `npm test`): neostandard's shared config
// with its TypeScript rules, the style fastify, pino and undici use.
import neostandard from 'neostandard'
import globals from 'globals'

export default [
  ...neostandard({ ts: true, ignores: ['dist/**', '.state/**', '.tap/**', 'node_modules/**'] }),
  {
    rules: {
      // `void promise;` marks a promise that is deliberately not awaited
      // (Fastify replies, shutdown chains), as eslint-config-love allows.
      'no-void': ['error', { allowAsStatement: true }],
      // A value and a type of one name (`const X = {…} as const; type X = …`)
      // is the `as const` table pattern; the compiler already rejects real redeclarations.
      '@typescript-eslint/no-redeclare': 'off'
    }
  },
  {
    // The chat page runs in the browser.
    files: ['public/**/*.js'],
    languageOptions: { globals: globals.browser }
  }
]
