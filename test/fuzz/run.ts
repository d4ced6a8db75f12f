// Runs fuzz properties as tap tests: one subtest per property, failing with
// fast-check's report (counterexample, seed and path to replay it).
import fc from 'fast-check'
import type { Test } from 'tap'
import { Coverage } from './coverage.js'
import type { FuzzProperty } from './property.js'

/** `numRuns` cases of each property; MEGAPHONE_FUZZ_SEED replays a reported seed. */
export function runProperties (t: Test, properties: FuzzProperty[], numRuns: number): void {
  const seed = process.env.MEGAPHONE_FUZZ_SEED === undefined ? undefined : Number(process.env.MEGAPHONE_FUZZ_SEED)
  for (const property of properties) {
    t.test(property.name, async (t) => {
      const coverage = new Coverage()
      const result = fc.check(property.build(coverage), { numRuns, ...(seed === undefined ? {} : { seed }) })
      if (result.failed) t.fail(`${fc.defaultReportMessage(result) ?? 'property failed'}\nError: ${String(result.errorInstance)}`)
      else t.equal(result.numRuns, numRuns, `${numRuns} cases`)
    })
  }
}
