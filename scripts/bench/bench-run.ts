// One benchmark run against its own private ejabberd (link-memory.ts,
// bosh-memory.ts): the server started in .state/bench-<pid> with the users
// registered, baselines that wait for ended sessions' processes to exit, a
// bound on the whole run, and one cleanup whatever ends it (the report,
// a failure, Ctrl-C, SIGTERM, the bound). After a failure or the bound the
// state directory stays, for its logs.
import { join, relative } from 'node:path'
import { PROJECT_ROOT, startEjabberd, stopEjabberd, type Ejabberd } from '../../test/helpers/ejabberd.js'
import { ejabberdVersion, reading, type Reading } from './ejabberd-memory.js'
import { log } from './harness.js'
import type { RunSettings } from './options.js'

/** The users are `${USER_PREFIX}1` … `${USER_PREFIX}${N}`, all with PASSWORD. */
export const USER_PREFIX = 'bench'
export const PASSWORD = 'bench-password'
/** Processes a baseline allows above the idle server's count (the link's, ejabberd's own that come and go). */
const PROCESS_SLACK = 10

export class BenchRun {
  readonly stateDir = join(PROJECT_ROOT, '.state', `bench-${process.pid}`)
  /** Keep the state directory after the run: --keep-state, and set by a failure. */
  keep = false
  readonly #stopOthers: () => Promise<void> | void
  #ejabberd = false
  #server: Ejabberd | undefined
  /** Processes on the idle server before any session. */
  #idleProcessCount = Infinity
  #watchdog: NodeJS.Timeout | undefined
  #cleaningUp: Promise<void> | null = null
  /** Set on SIGINT/SIGTERM: the phase that fails because of the cleanup is not reported as a failure. */
  #interrupted = false

  /** `stopOthers`: stops whatever else the run started (child processes, a link), before ejabberd is. */
  constructor (stopOthers: () => Promise<void> | void) {
    this.#stopOthers = stopOthers
  }

  /** Runs `main`; on a signal or a failure, cleans up and exits. */
  main (main: () => Promise<void>): void {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        this.#interrupted = true
        log(`${signal}: stopping`)
        this.cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143))
      })
    }
    main().catch(async (err: unknown) => {
      if (this.#interrupted) return
      log(`failed: ${err instanceof Error ? err.message : String(err)}`)
      this.keep = true
      await this.cleanup()
      if (this.#ejabberd) log(`state (config, logs) kept in ${relative(PROJECT_ROOT, this.stateDir)}`)
      process.exit(1)
    })
  }

  /** Applies --keep-state, and gives the run up (keeping the state directory) once it lasts over --timeout-s. */
  begin ({ keepState, timeoutMs }: Pick<RunSettings, 'keepState' | 'timeoutMs'>): void {
    this.keep = keepState
    this.#watchdog = setTimeout(() => {
      log(`the run took over ${timeoutMs / 1000} s: giving up`)
      this.keep = true
      this.cleanup().finally(() => process.exit(1))
    }, timeoutMs)
    this.#watchdog.unref()
  }

  /** Starts the run's ejabberd, registers `users` users and (unless told not to) counts the idle server's processes for later baselines. */
  async startEjabberd (users: number, { countProcesses = true }: { countProcesses?: boolean } = {}): Promise<{ server: Ejabberd, version: string }> {
    this.#ejabberd = true
    log(`starting ejabberd in ${relative(PROJECT_ROOT, this.stateDir)}`)
    const server = this.#server = await startEjabberd({ stateDir: this.stateDir, ownerPid: process.pid })
    const version = await ejabberdVersion(server)
    log(`${version}; registering ${users} users`)
    await server.registerUsers(USER_PREFIX, users, PASSWORD)
    // For baseline(): its reading garbage-collects every process, which rss.ts must not.
    if (countProcesses) this.#idleProcessCount = (await reading(server, { count: 1 })).processCount
    return { server, version }
  }

  /** A reading with no session open: first waits for the processes of ended sessions to exit. */
  async baseline (): Promise<Reading> {
    if (this.#server === undefined) throw new Error('baseline before startEjabberd')
    return await reading(this.#server, { maxProcesses: this.#idleProcessCount + PROCESS_SLACK })
  }

  /**
   * Stops the run's ejabberd and starts it again on the same state directory
   * (the users stay registered): a VM that has never held a session, for
   * readings from outside that earlier phases must not inflate (freed memory
   * stays resident). Ports may change.
   */
  async restartEjabberd (): Promise<Ejabberd> {
    if (this.#server === undefined) throw new Error('restartEjabberd before startEjabberd')
    await stopEjabberd(this.stateDir, { keep: true })
    this.#server = await startEjabberd({ stateDir: this.stateDir, ownerPid: process.pid })
    return this.#server
  }

  /** Cleans up, then prints the report on stdout. */
  async finish (report: string): Promise<void> {
    await this.cleanup()
    clearTimeout(this.#watchdog)
    process.stdout.write(`${report}\n`)
  }

  /** Stops everything the run started, once however often it is called. */
  async cleanup (): Promise<void> {
    this.#cleaningUp ??= (async () => {
      try {
        await this.#stopOthers()
      } catch (err) {
        log(`stop failed: ${String(err)}`)
      }
      if (!this.#ejabberd) return
      log(`stopping ejabberd (${relative(PROJECT_ROOT, this.stateDir)})`)
      await stopEjabberd(this.stateDir, { keep: this.keep }).catch((err: unknown) => log(`stop failed: ${String(err)}`))
    })()
    await this.#cleaningUp
  }
}
