const PREFIX = "[koa-io-session]";

/** Prefixes a message so every error of this package is recognisable. */
export function message(text: string): string {
  return `${PREFIX} ${text}`;
}

/** Renders a received value for an error message: strings quoted, objects by kind. */
export function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "function") return "a function";
  if (typeof value === "object") return "an object";
  return String(value);
}

/** `[koa-io-session] Invalid 'name': expected …, received ….` as a TypeError. */
export function invalidType(name: string, expected: string, received: unknown): TypeError {
  return new TypeError(message(`Invalid '${name}': expected ${expected}, received ${describe(received)}.`));
}

/** `[koa-io-session] Invalid 'name': expected …, received ….` as a RangeError. */
export function outOfRange(name: string, expected: string, received: unknown): RangeError {
  return new RangeError(message(`Invalid '${name}': expected ${expected}, received ${describe(received)}.`));
}

/** A plain Error for a state that forbids the call. */
export function stateError(text: string): Error {
  return new Error(message(text));
}
