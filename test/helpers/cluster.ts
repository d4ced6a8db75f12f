// Two managed ejabberd nodes clustered with ejabberd's own clustering
// (join_cluster) on loopback: one cookie, one link secret, each node with its
// megaphone_listener.
import type { Test } from 'tap'
import { copyFileSync, mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { PROJECT_ROOT, startEjabberd, stopEjabberd, waitFor, type Ejabberd } from './ejabberd.js'

/** Two managed ejabberd nodes, b joined to a's cluster; stopped when `t` ends. */
export async function startCluster (t: Test, name: string): Promise<[Ejabberd, Ejabberd]> {
  const dirs = ['a', 'b'].map((n) => join(PROJECT_ROOT, `.state/${name}-${process.pid}-${n}`))
  const [dirA, dirB] = dirs as [string, string]
  t.teardown(async () => {
    for (const dir of dirs) {
      await stopEjabberd(dir, { now: true }).catch(() => {})
      rmSync(dir, { recursive: true, force: true })
    }
  })
  const a = await startEjabberd({ stateDir: dirA, ownerPid: process.pid })
  // One cookie (Erlang distribution) and one link secret for both nodes.
  mkdirSync(dirB, { recursive: true })
  copyFileSync(join(dirA, 'cookie'), join(dirB, 'cookie'))
  copyFileSync(join(dirA, 'secret'), join(dirB, 'secret'))
  const b = await startEjabberd({ stateDir: dirB, ownerPid: process.pid })
  t.equal(b.secret, a.secret, 'one link secret')

  t.match(await b.evalErlang(`ejabberd_admin:join_cluster(<<"${a.node}">>).`, 60_000), /ok/, 'node b joins node a\'s cluster')
  const nodes = async (server: Ejabberd): Promise<number> => Number(await server.evalErlang('length(ejabberd_cluster:get_nodes()).'))
  await waitFor(async () => await nodes(a) === 2 && await nodes(b) === 2, 30_000, 'both nodes to see a cluster of two')
  return [a, b]
}
