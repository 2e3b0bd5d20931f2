import { invalidType } from "./errors.js";

/** Readers for option objects: the value of `name`, or the fallback when absent; a wrong type throws naming the option. */

export function readBoolean(opt: Record<string, unknown>, name: string, fallback: boolean): boolean {
  const value = opt[name] ?? fallback;
  if (typeof value !== "boolean") throw invalidType(name, "a boolean", value);
  return value;
}

export function readString(opt: Record<string, unknown>, name: string, fallback: () => string): string {
  const value = opt[name] ?? fallback();
  if (typeof value !== "string" || value === "") throw invalidType(name, "a non-empty string", value);
  return value;
}

export function readPositive(opt: Record<string, unknown>, name: string, fallback: number): number {
  const value = opt[name] ?? fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) throw invalidType(name, "a positive integer", value);
  return value;
}

/** A non-empty array of non-empty strings (copied), or `undefined` when absent. */
export function readStringList(opt: Record<string, unknown>, name: string): string[] | undefined {
  const value = opt[name];
  if (value == null) return undefined;
  if (!Array.isArray(value) || value.length === 0 || !value.every((item) => typeof item === "string" && item !== "")) {
    throw invalidType(name, "a non-empty array of non-empty strings", value);
  }
  return [...value] as string[];
}
