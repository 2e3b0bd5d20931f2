// Loaded before every test file (vitest.config.ts `setupFiles`). Node prints each
// process warning through its own "warning" listener, so a warning a test provokes
// on purpose would show up in `npm test` as if something failed. While a test
// listens for warnings (it captures and asserts them), they are not printed;
// a warning nobody listens for is printed as usual.
const INSTALLED = Symbol.for("koa-io-session.test.quietWarnings");

function printOnlyUncapturedWarnings(): void {
  const state = globalThis as { [INSTALLED]?: true };
  if (state[INSTALLED]) return;
  state[INSTALLED] = true;
  const printers = process.listeners("warning");
  for (const printer of printers) process.off("warning", printer);
  process.on("warning", (warning) => {
    // Only this listener: no test is capturing warnings right now.
    if (process.listenerCount("warning") > 1) return;
    for (const print of printers) print.call(process, warning);
  });
}

printOnlyUncapturedWarnings();

/** A process warning with its code (`KOA_IO_SESSION_…`). */
export type CodedWarning = Error & { code?: string };

/**
 * Records the process warnings with `code` (every warning when omitted) until
 * `stop()`, which waits a turn first: `process.emitWarning` emits on the next tick.
 */
export function captureWarnings(code?: string): { warnings: CodedWarning[]; codes: () => string[]; stop: () => Promise<void> } {
  const warnings: CodedWarning[] = [];
  const listener = (warning: CodedWarning) => {
    if (code === undefined || warning.code === code) warnings.push(warning);
  };
  process.on("warning", listener);
  return {
    warnings,
    codes: () => warnings.map((warning) => warning.code ?? ""),
    stop: async () => {
      await new Promise((done) => setImmediate(done));
      process.off("warning", listener);
    },
  };
}
