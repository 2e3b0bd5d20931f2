import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type HostileServer, type HostileState, startHostileServer } from "../helpers/hostileServer.js";
import { type HostileCase, hostileCase, send } from "./surface.js";

// FUZZ_RUNS=20000 npx vitest run test/fuzz   — a longer run; FUZZ_SEED=<n> replays one.
const RUNS = Number(process.env.FUZZ_RUNS ?? 2000);
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
const TIMEOUT = Math.max(120_000, RUNS * 100);

/** The victim's pair and session must be exactly what they were. */
const victimOf = (state: HostileState) => ({ clientId: state.clientId, session: state.session });

/** Runs `runs` cases against `server`; after each: alive, every answer below 500 (or 101), the victim untouched. */
async function fuzz(server: HostileServer, runs: number, seed: number): Promise<void> {
  const victim = victimOf(await server.state());
  expect(victim).toEqual({ clientId: server.victim.clientId, session: { secret: "victim's" } });
  console.log(`fuzz: ${runs} cases, seed ${seed} (replay with FUZZ_SEED=${seed})`);
  // How deep the cases went (e.g. "polling 200/200": the handshake and the namespace CONNECT answered).
  const reached = new Map<string, number>();
  await fc.assert(
    fc.asyncProperty(hostileCase(server.victim), async (input: HostileCase) => {
      const statuses = await send(server.port, input);
      const kind = `${input.surface} ${statuses.join("/")}`;
      reached.set(kind, (reached.get(kind) ?? 0) + 1);
      const bad = statuses.find((status) => !(status === 101 || (status >= 200 && status < 500)));
      // No answer at all is what a dying server gives: let its exit arrive before telling which.
      if (bad !== undefined) await new Promise((resolve) => setTimeout(resolve, 200));
      if (!server.alive()) throw new Error(`the server died:\n${server.output().slice(-2000)}`);
      if (bad !== undefined) throw new Error(`answered ${bad} (all: ${statuses.join(", ")})`);
      const state = await server.state();
      expect(victimOf(state)).toEqual(victim);
      expect(state.counts).toEqual({ unhandledRejection: 0, uncaughtException: 0, warnings: 0 });
    }),
    // No shrinking: after a crash every further case fails too, so the first counterexample is the one to read.
    { seed, numRuns: runs, endOnFailure: true, verbose: 1 },
  );
  console.log(`fuzz: answers ${[...reached].sort().map(([kind, count]) => `${kind} ×${count}`).join(", ")}`);
}

describe("hostile input fuzz", () => {
  let server: HostileServer | undefined;
  afterAll(() => server?.stop());

  it(`survives ${RUNS} random requests, handshakes and upgrades in a child with no error handlers`, async () => {
    server = await startHostileServer();
    await fuzz(server, RUNS, SEED);
    expect(server.alive()).toBe(true);
    await server.stop();
  }, TIMEOUT);

  it(`counts no unhandled rejection or exception over ${Math.ceil(RUNS / 4)} more cases in a child that counts them`, async () => {
    server = await startHostileServer({ countFaults: true });
    await fuzz(server, Math.ceil(RUNS / 4), SEED + 1);
    expect((await server.state()).counts).toEqual({ unhandledRejection: 0, uncaughtException: 0, warnings: 0 });
  }, TIMEOUT);
});
