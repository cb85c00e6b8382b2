// Polls until fn returns a value (not undefined) or the deadline passes; the last error is kept for the message.
// Shared by every test and bench that waits on the control plane, whose state converges asynchronously.
export async function eventually<T>(what: string, fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 30_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
