/** Payload of `sessionSet`: a mapped session was persisted, or a pair was attached. */
export interface SessionSetEvent {
  clientId: string;
  sessionId: string;
  /** The store had no record for this id before the write. */
  isNew: boolean;
  /** This event attached the pair in this process. */
  isInit: boolean;
}

/** Payload of `sessionDestroy`: a mapped session was destroyed, or its pair detached. */
export interface SessionDestroyEvent {
  clientId: string;
  sessionId: string;
}

/** The events of `SessionBridge`, by name, with their listener arguments. */
export interface SessionBridgeEvents {
  sessionSet: [event: SessionSetEvent];
  sessionDestroy: [event: SessionDestroyEvent];
  /** After every `cleanup()`, with the number of records it removed. */
  cleanup: [clearedCount: number];
  /** A failure with no caller to reject, such as an automatic cleanup. */
  error: [error: Error];
}
