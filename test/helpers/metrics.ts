// Reading Megaphone's /metrics in the tests.
import { request } from 'undici'

/** The samples of /metrics at `baseUrl`, by name with labels (e.g. `megaphone_refused_total{kind="session-rate"}`). */
export async function readMetrics (baseUrl: string): Promise<Map<string, number>> {
  const res = await request(`${baseUrl}/metrics`, { headersTimeout: 10_000, bodyTimeout: 10_000 })
  const text = await res.body.text()
  const samples = new Map<string, number>()
  for (const line of text.split('\n')) {
    const m = /^(megaphone_\w+(?:\{[^}]*\})?) (-?\d+(?:\.\d+)?)$/.exec(line)
    if (m !== null) samples.set(m[1] as string, Number(m[2]))
  }
  return samples
}

/** megaphone_refused_total for one kind of refusal. */
export async function refusedTotal (baseUrl: string, kind: string): Promise<number> {
  return (await readMetrics(baseUrl)).get(`megaphone_refused_total{kind="${kind}"}`) ?? 0
}
