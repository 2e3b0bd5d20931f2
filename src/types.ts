import type { SessionHandler } from "./socket/withSession.js";

/**
 * The shape of a session's data. Augment it to type your own fields:
 * `declare module "koa-io-session" { interface SessionData { userId?: string } }`.
 */
export interface SessionData {
  [key: string]: any;
}

/** `socket.withSession(handler, onMissing?)`. */
export type WithSession = import("socket.io").Socket["withSession"];

declare module "koa" {
  interface ExtendableContext {
    /** This request's client id (from the client cookie, created when missing). */
    clientId: string;
    /** The session currently attached to this request's client, if any. */
    readonly sessionId: string | undefined;
  }
  // `new Koa()` intersects ExtendableContext with DefaultContext, whose `any`
  // index signature would turn both properties into `any`: declare them here too.
  interface DefaultContext {
    clientId: string;
    readonly sessionId: string | undefined;
  }
}

declare module "socket.io" {
  interface Socket {
    /** The client id resolved from the handshake cookies. */
    readonly clientId: string;
    /** The session currently attached to this socket's client, if any. */
    readonly sessionId: string | undefined;
    // Methods, not a property: overloads merge when the ESM and CJS declarations meet in one program.
    /** Runs `handler` on this socket's session, one call per session at a time; rejects without a session (or with `onMissing` when it is an Error). */
    withSession<T>(handler: SessionHandler<T>, onMissing?: Error): Promise<T>;
    /** Runs `handler` on this socket's session; without one, resolves what `onMissing(socket)` returns. */
    withSession<T, F>(handler: SessionHandler<T>, onMissing: (socket: Socket) => F | Promise<F>): Promise<T | F>;
    /** Runs `handler` on this socket's session; without one, resolves `onMissing` itself. */
    withSession<T, F>(handler: SessionHandler<T>, onMissing: F): Promise<T | F>;
    /** The Koa context built for the handshake request (cookies, headers, `app`). */
    readonly ctx: import("koa").Context;
  }
}

