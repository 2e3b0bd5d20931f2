import type { StoreState } from "../../src/index.js";

/** Resolves on a later turn, so the fake is as asynchronous as a real file. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * A hand-written stand-in for a `@randajan/file-db` linked file (the real
 * package is not installable here): it keeps the file's lines in memory,
 * in the same format, and records every call.
 */
export class FakeFdbFile {
  lines: string[] = [];
  readonly calls: string[] = [];
  /** When set, `write` rejects with it. */
  failWrites: Error | undefined;

  constructor(readonly name: string, readonly options: object | undefined) {}

  async verify(): Promise<true> {
    this.calls.push("verify");
    await nextTurn();
    for (const line of this.lines) JSON.parse(line);
    return true;
  }

  async index(): Promise<Map<string, StoreState>> {
    this.calls.push("index");
    await nextTurn();
    const records = new Map<string, StoreState>();
    for (const line of this.lines) {
      const [id, state] = JSON.parse(line) as [string, StoreState?];
      if (state === undefined) records.delete(id);
      else records.set(id, state);
    }
    return records;
  }

  async write(id: string, state?: StoreState): Promise<void> {
    this.calls.push(state === undefined ? `write ${id} (delete)` : `write ${id}`);
    await nextTurn();
    if (this.failWrites) throw this.failWrites;
    this.lines.push(JSON.stringify(state === undefined ? [id] : [id, state]));
  }

  async optimize(): Promise<void> {
    this.calls.push("optimize");
    const live = await this.index();
    this.calls.pop(); // the inner index() is not the caller's
    this.lines = [...live].map((entry) => JSON.stringify(entry));
  }
}

/** A stand-in for a `@randajan/file-db` instance: `link(name, opt)` and `get(name)`. */
export class FakeFdb {
  readonly files = new Map<string, FakeFdbFile>();
  readonly linkCalls: [string, object | undefined][] = [];

  link(name: string, options?: object): FakeFdbFile {
    this.linkCalls.push([name, options]);
    let file = this.files.get(name);
    if (file === undefined) {
      file = new FakeFdbFile(name, options);
      this.files.set(name, file);
    }
    return file;
  }

  get(name: string): FakeFdbFile | undefined {
    return this.files.get(name);
  }
}
