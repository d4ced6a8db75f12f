// Arrays a session keeps for hours are replaced, never pushed to: a pushed
// array reserves 17 slots, and 1,000,000 idle sessions pay for each one.

/** The empty array every session starts with; never written to. */
export const NONE: never[] = Object.freeze([]) as unknown as never[]

/** A copy of `list` with `item` at the end, exactly as long as it needs to be. */
export function appended<T> (list: readonly T[], item: T): T[] {
  return [...list, item]
}

/** A copy of `list` without its element at `i` (the shared empty array when none is left). */
export function without<T> (list: readonly T[], i: number): T[] {
  return list.length === 1 ? NONE : [...list.slice(0, i), ...list.slice(i + 1)]
}
