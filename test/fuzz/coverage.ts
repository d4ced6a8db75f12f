// What a fuzz run covered: per property, counts of the kinds of cases it
// generated (which error codes, which commands, how many chunks) and the
// largest values it saw (buffered bytes, sequence length). The tests keep
// them to themselves; scripts/fuzz.ts prints them.

export class Coverage {
  readonly #counts = new Map<string, Map<string, number>>()
  readonly #maxima = new Map<string, number>()

  /** One more case of `kind` in `group` (e.g. group 'error', kind 'bad-id'). */
  count (group: string, kind: string, n = 1): void {
    let byKind = this.#counts.get(group)
    if (byKind === undefined) {
      byKind = new Map()
      this.#counts.set(group, byKind)
    }
    byKind.set(kind, (byKind.get(kind) ?? 0) + n)
  }

  /** Keeps the largest `value` seen under `name`. */
  max (name: string, value: number): void {
    if (value > (this.#maxima.get(name) ?? -Infinity)) this.#maxima.set(name, value)
  }

  get (group: string, kind: string): number { return this.#counts.get(group)?.get(kind) ?? 0 }
  maximum (name: string): number | undefined { return this.#maxima.get(name) }

  /** One line per group, kinds by count, most frequent first; then the maxima. */
  lines (): string[] {
    const out: string[] = []
    for (const [group, byKind] of [...this.#counts].sort(([a], [b]) => a.localeCompare(b))) {
      const kinds = [...byKind].sort(([, a], [, b]) => b - a).map(([k, n]) => `${k} ${n}`)
      out.push(`${group}: ${kinds.join(', ')}`)
    }
    for (const [name, value] of [...this.#maxima].sort(([a], [b]) => a.localeCompare(b))) out.push(`max ${name}: ${value}`)
    return out
  }
}

/** 0, 1, 2-3, 4-7, …: a bucket for a count, so distributions stay short. */
export function bucket (n: number): string {
  if (n < 2) return String(n)
  const low = 2 ** Math.floor(Math.log2(n))
  return `${low}-${2 * low - 1}`
}
