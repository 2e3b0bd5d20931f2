/** Duration helpers: each returns `n` units in milliseconds. */
export const ms = {
  /** `n` seconds. */
  s: (n = 1): number => n * 1000,
  /** `n` minutes. */
  m: (n = 1): number => n * 60_000,
  /** `n` hours. */
  h: (n = 1): number => n * 3_600_000,
  /** `n` days. */
  d: (n = 1): number => n * 86_400_000,
  /** `n` weeks. */
  w: (n = 1): number => n * 604_800_000,
  /** `n` months of 30 days. */
  M: (n = 1): number => n * 2_592_000_000,
  /** `n` years of 365 days. */
  y: (n = 1): number => n * 31_536_000_000,
} as const;
