// The command-line options every benchmark run takes, for node:util parseArgs
// (each entry adds its own to the table), and their checks.
import { parseArgs, type ParseArgsConfig } from 'node:util'

/** Largest --concurrency: logins in flight at once. */
const MAX_CONCURRENCY = 1000

export function positiveInt (name: string, text: string, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(text)
  if (!Number.isSafeInteger(n) || n < 1 || n > max) throw new Error(`--${name}: expected an integer from 1 to ${max}, got ${text}`)
  return n
}

/** The options shared by every benchmark; `timeoutS`: the default bound on the whole run; `sizes`: the default --sizes. */
export function runOptions (timeoutS: number, sizes = '1000,5000') {
  return {
    sizes: { type: 'string', default: sizes },
    'idle-s': { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '100' },
    'timeout-s': { type: 'string', default: String(timeoutS) },
    'keep-state': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false }
  } as const
}

export interface RunSettings {
  /** Session counts to measure, in order. */
  sizes: number[]
  idleMs: number
  concurrency: number
  timeoutMs: number
  keepState: boolean
}

type RunValues = { [K in keyof ReturnType<typeof runOptions>]?: string | boolean }

/** The shared options' values (parseArgs `values`) checked; each size at most `maxSize`. */
function runSettings (args: RunValues, maxSize: number): RunSettings {
  return {
    sizes: String(args.sizes).split(',').map((s) => positiveInt('sizes', s.trim(), maxSize)),
    idleMs: positiveInt('idle-s', String(args['idle-s'])) * 1000,
    concurrency: positiveInt('concurrency', String(args.concurrency), MAX_CONCURRENCY),
    timeoutMs: positiveInt('timeout-s', String(args['timeout-s'])) * 1000,
    keepState: args['keep-state'] === true
  }
}

type Table = ReturnType<typeof runOptions> & NonNullable<ParseArgsConfig['options']>

/**
 * This process's command line read with `options` (runOptions plus the
 * entry's own): null after printing `help` for --help; otherwise the shared
 * settings, checked, and every option's value.
 */
export function readCommandLine<T extends Table> (options: T, help: string, maxSize: number):
{ settings: RunSettings, args: ReturnType<typeof parseArgs<{ options: T }>>['values'] } | null {
  const { values: args } = parseArgs({ options })
  const shared = args as RunValues
  if (shared.help === true) {
    process.stdout.write(help)
    return null
  }
  return { settings: runSettings(shared, maxSize), args }
}
