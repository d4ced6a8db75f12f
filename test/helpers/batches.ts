// Many clients, a bounded number at a time: the machine has two cores shared with other runs.

/** Runs `fn` on every item, at most `limit` at a time; resolves in item order. */
export async function inBatches<T, R> (items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = []
  for (let i = 0; i < items.length; i += limit) out.push(...await Promise.all(items.slice(i, i + limit).map(fn)))
  return out
}
