// The shape every fuzz property shares: a name, and a builder that returns
// fast-check's property with its coverage recorded into a Coverage.
// test/fuzz/*.test.ts run each at a few thousand cases; scripts/fuzz.ts runs
// them all at a million and prints the coverage.
import type fc from 'fast-check'
import type { Coverage } from './coverage.js'

export interface FuzzProperty {
  name: string
  build (coverage: Coverage): fc.IPropertyWithHooks<any> | fc.IProperty<any>
}
