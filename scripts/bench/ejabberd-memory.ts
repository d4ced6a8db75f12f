// One memory reading of the benchmark's ejabberd, taken inside the node.
import { sleep, type Ejabberd } from '../../test/helpers/ejabberd.js'

export interface EjabberdMemory {
  /** erlang:memory(total) as ejabberd left it, before any forced GC, bytes. */
  totalBeforeGc: number
  /**
   * After the GC: processes_used + system, i.e. erlang:memory(total) less the
   * free blocks of the process allocators' pools, which stay allocated once
   * sessions end (so a later phase would get them for free).
   */
  total: number
  /** erlang:memory(total) after the GC, free pool blocks included. */
  allocated: number
  /** erlang:memory(processes_used). */
  processes: number
  ets: number
  binary: number
  /** system less ets and binary: ports and their driver buffers, code, atoms, … */
  otherSystem: number
  /** Blocks of driver_alloc, part of otherSystem: the port drivers' own state, e.g. each TCP socket's inet driver. */
  driverAlloc: number
  processCount: number
  portCount: number
  /** GC rounds until the processes' memory stopped shrinking (a round shrinks a heap only part of the way). */
  gcRounds: number
  /** megaphone_session processes. */
  linkSessions: ProcessGroup
  /** The c2s process of each session in ejabberd_sm (megaphone_ctl:session_pids/0). */
  c2s: ProcessGroup
  /** ejabberd_bosh processes: mod_bosh's session, the socket of its c2s. */
  boshSessions: ProcessGroup
  /** ejabberd_http processes: one per HTTP connection, blocked in mod_bosh while its request is held. */
  httpConnections: ProcessGroup
}

/** The process groups of a reading, in the order MEASURE returns them. */
const GROUPS = ['linkSessions', 'c2s', 'boshSessions', 'httpConnections'] as const
type GroupName = typeof GROUPS[number]

export interface ProcessGroup {
  count: number
  /** Memory of the group before the forced GC, then after it, bytes. */
  bytesBeforeGc: number
  bytes: number
  /** Processes in erlang:hibernate/3. */
  hibernated: number
}

// ejabberd's caches (auth, roster, privacy, …) are bounded and shared: they are
// cleared before every reading, so that whichever phase runs first does not pay
// for filling them. Then every process is garbage-collected, the evaluating
// process last, in rounds until the processes' memory shrinks by less than
// 0.5% (one collection leaves a heap sized for the garbage it had: an idle TCP
// c2s goes from about 66 KiB to 13 KiB in one round and to 6 KiB in the next).
// erlang:memory/0 is read before the per-process breakdown allocates its
// lists, which live inside funs so that the bindings do not keep them alive.
const MEASURE = `
  [ets_cache:clear(C) || C <- ets_cache:all()],
  TotalBefore = erlang:memory(total),
  Hibernated = fun(P) -> erlang:process_info(P, current_function) =:= {current_function, {erlang, hibernate, 3}} end,
  Mem = fun(Ps) -> lists:sum([B || P <- Ps, {memory, B} <- [erlang:process_info(P, memory)]]) end,
  ByModule = fun(Mod) -> [P || P <- erlang:processes(),
                                case proc_lib:initial_call(P) of {Mod, _, _} -> true; _ -> false end] end,
  Groups = fun() -> [ByModule(megaphone_session),
                     megaphone_ctl:session_pids(),
                     ByModule(ejabberd_bosh), ByModule(ejabberd_http)] end,
  Before = (fun() -> [Mem(Ps) || Ps <- Groups()] end)(),
  GcRounds = (fun Round(I, Prev) ->
                  _ = [erlang:garbage_collect(P) || P <- erlang:processes()],
                  true = erlang:garbage_collect(),
                  Now = erlang:memory(processes),
                  case I >= 6 orelse Prev - Now < Prev div 200 of
                    true -> I;
                    false -> Round(I + 1, Now)
                  end
              end)(1, erlang:memory(processes)),
  M = erlang:memory(),
  G = fun(K) -> proplists:get_value(K, M) end,
  DriverAlloc = lists:sum([S || {instance, _, Props} <- erlang:system_info({allocator, driver_alloc}),
                                 {K, L} <- Props, lists:member(K, [mbcs, sbcs, mbcs_pool]),
                                 {blocks, Bs} <- L, {_, BL} <- Bs, {size, S, _, _} <- BL]),
  After = (fun() -> lists:append([[length(Ps), B, Mem(Ps), length([x || P <- Ps, Hibernated(P)])]
                                  || {Ps, B} <- lists:zip(Groups(), Before)]) end)(),
  list_to_tuple([TotalBefore, G(total), G(processes), G(processes_used), G(ets), G(binary), G(system), DriverAlloc,
                 erlang:system_info(process_count), erlang:system_info(port_count), GcRounds | After]).`

/** Eleven figures, then count, bytes before GC, bytes, hibernated for each group. */
const FIELDS = 11 + 4 * GROUPS.length

export async function measureEjabberd (server: Ejabberd): Promise<EjabberdMemory> {
  const text = await server.evalErlang(MEASURE)
  const n = (text.match(/\d+/g) ?? []).map(Number)
  if (!text.startsWith('{') || n.length !== FIELDS) throw new Error(`unexpected memory reading from ejabberd: ${text}`)
  const [totalBeforeGc, total, , processesUsed, ets, binary, system, driverAlloc, processCount, portCount, gcRounds,
    ...groups] = n as [number, ...number[]]
  const group = (i: number): ProcessGroup =>
    ({ count: groups[4 * i]!, bytesBeforeGc: groups[4 * i + 1]!, bytes: groups[4 * i + 2]!, hibernated: groups[4 * i + 3]! })
  return {
    totalBeforeGc,
    total: processesUsed! + system!,
    allocated: total!,
    processes: processesUsed!,
    ets: ets!,
    binary: binary!,
    otherSystem: system! - ets! - binary!,
    driverAlloc: driverAlloc!,
    processCount: processCount!,
    portCount: portCount!,
    gcRounds: gcRounds!,
    ...Object.fromEntries(GROUPS.map((name, i) => [name, group(i)])) as Record<GroupName, ProcessGroup>
  }
}

export interface Reading extends EjabberdMemory {
  /** Readings the medians were taken over. */
  readings: number
  /** False if processes of ended sessions were still running when the wait ran out. */
  settled: boolean
}

const median = (xs: number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

function medianGroup (gs: ProcessGroup[]): ProcessGroup {
  return {
    count: median(gs.map((g) => g.count)),
    bytesBeforeGc: gs[0]!.bytesBeforeGc,
    bytes: median(gs.map((g) => g.bytes)),
    hibernated: median(gs.map((g) => g.hibernated))
  }
}

/**
 * Waits (up to `waitMs`) until at most `maxProcesses` processes run, since
 * those of ended sessions take a moment to exit, then takes `count` readings
 * and returns the median of each figure: a reading now and then catches some
 * process mid-work, a few hundred KiB off. The "before GC" figures are the
 * first reading's: later ones see what the forced collections left.
 */
export async function reading (
  server: Ejabberd,
  opts: { maxProcesses?: number, count?: number, waitMs?: number } = {}
): Promise<Reading> {
  const { maxProcesses = Infinity, count = 5, waitMs = 30_000 } = opts
  const deadline = Date.now() + waitMs
  let first = await measureEjabberd(server)
  while (first.processCount > maxProcesses && Date.now() < deadline) {
    await sleep(500)
    first = await measureEjabberd(server)
  }
  const all = [first]
  while (all.length < count) all.push(await measureEjabberd(server))
  const m = (key: Exclude<keyof EjabberdMemory, GroupName>): number => median(all.map((r) => r[key]))
  return {
    totalBeforeGc: first.totalBeforeGc,
    total: m('total'),
    allocated: m('allocated'),
    processes: m('processes'),
    ets: m('ets'),
    binary: m('binary'),
    otherSystem: m('otherSystem'),
    driverAlloc: m('driverAlloc'),
    processCount: m('processCount'),
    portCount: m('portCount'),
    gcRounds: m('gcRounds'),
    ...Object.fromEntries(GROUPS.map((name) => [name, medianGroup(all.map((r) => r[name]))])) as Record<GroupName, ProcessGroup>,
    readings: all.length,
    settled: first.processCount <= maxProcesses
  }
}

/** ejabberd's version, the OTP release and the ERTS version, e.g. `ejabberd 23.01-1, OTP 25 (ERTS 13.1.5)`. */
export async function ejabberdVersion (server: Ejabberd): Promise<string> {
  const text = await server.evalErlang(
    '{ejabberd_option:version(), erlang:system_info(otp_release), erlang:system_info(version)}.')
  const m = /^\{<<"([^"]*)">>,"([^"]*)","([^"]*)"\}$/.exec(text)
  return m === null ? text : `ejabberd ${m[1]}, OTP ${m[2]} (ERTS ${m[3]})`
}

/** The operating system's pid of ejabberd's VM (beam.smp), for readings from /proc. */
export async function ejabberdOsPid (server: Ejabberd): Promise<number> {
  const printed = await server.evalErlang('os:getpid().')
  const pid = Number(printed.replace(/"/g, ''))
  if (!Number.isSafeInteger(pid)) throw new Error(`ejabberd's pid: ${printed}`)
  return pid
}
