// The process's open-file limit, and the connection cap below it. Node has
// no getrlimit(); Linux shows the limits of a process in /proc/self/limits.
// Every HTTP connection holds one descriptor; the cap leaves a reserve for
// the rest (links to ejabberd, log files, static files being sent, the
// listening sockets, ejabberd's control, libuv's own), so that a flood of
// connections is refused before the process runs out of descriptors.
import { readFileSync, readdirSync } from 'node:fs'

/** The soft limit on open files from the text of /proc/<pid>/limits; null when absent or unlimited. */
export function parseOpenFilesLimit (limits: string): number | null {
  const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)\s+files\s*$/m.exec(limits)
  if (m === null || m[1] === 'unlimited') return null
  return Number(m[1])
}

/** This process's soft limit on open files; null where /proc is not there (not Linux). */
export function openFilesLimit (): number | null {
  try {
    return parseOpenFilesLimit(readFileSync('/proc/self/limits', 'utf8'))
  } catch {
    return null
  }
}

/** Descriptors this process has open now; null where /proc is not there, or when none is left to read it with. */
export function openFiles (): number | null {
  try {
    return readdirSync('/proc/self/fd').length
  } catch {
    return null
  }
}

/**
 * The most HTTP connections at once: `configured` when set (not 0), else the
 * open-file limit less `reservedFiles`; null (no cap) when the limit is unknown.
 */
export function connectionCap (configured: number, reservedFiles: number, limit: number | null): number | null {
  if (configured > 0) return configured
  if (limit === null) return null
  return Math.max(1, limit - reservedFiles)
}
