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

const invalid = (name: string, expected: string, received: unknown): string =>
  message(`Invalid '${name}': expected ${expected}, received ${describe(received)}.`);

/** `[koa-io-session] Invalid 'name': expected …, received ….` as a TypeError. */
export function invalidType(name: string, expected: string, received: unknown): TypeError {
  return new TypeError(invalid(name, expected, received));
}

/** The same message as a RangeError. */
export function outOfRange(name: string, expected: string, received: unknown): RangeError {
  return new RangeError(invalid(name, expected, received));
}

/** A plain Error for a state that forbids the call. */
export function stateError(text: string): Error {
  return new Error(message(text));
}
