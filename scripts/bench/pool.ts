/** Runs `task(i)` for i in 0..count-1 with at most `concurrency` in flight; rejects on the first failure. */
export async function pool (count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0
  let failed = false
  const worker = async (): Promise<void> => {
    while (next < count && !failed) {
      try {
        await task(next++)
      } catch (err) {
        failed = true
        throw err
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker))
}
