import "./types.js";
import { bridgeSession } from "./bridge/SessionBridge.js";

export { bridgeSession, type DestroyByUserOptions, SessionBridge } from "./bridge/SessionBridge.js";
export type { UserId } from "./bridge/UserIndex.js";
export type { SessionBridgeEvents, SessionDestroyEvent, SessionSetEvent } from "./bridge/events.js";
export { ms } from "./ms.js";
export type { BridgeOptions, ForwardedSessionOptions } from "./options.js";
export { SessionContext } from "./socket/SessionContext.js";
export type { OnMissing, SessionHandler } from "./socket/withSession.js";
export { LiveStore } from "./stores/LiveStore.js";
export type { LockedSession, MaybePromise, SessionStore, StoreChange, StoreChangeMeta, StoreState, UserIndexVerbs } from "./stores/types.js";
export type { SessionData, WithSession } from "./types.js";
export { generateUid } from "./uid.js";

export default bridgeSession;
