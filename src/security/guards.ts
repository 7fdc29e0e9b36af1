/**
 * Every abuse limit of one app, built from its Config: the socket gate, flood
 * control, the slow-consumer watch and the sign-in limiter. app.ts creates
 * one and hands it to the routes that enforce it.
 */
import type { Config } from "../config";
import type { Logger } from "../log";
import { FloodControl } from "./flood";
import { ConnectionGate } from "./gate";
import { OpenPacer } from "./pacer";
import { KeyedRateLimiter } from "./rate";
import { SlowConsumerWatch } from "./slow";

/** Several instances: other instances' sockets per account, and news of this one's. */
export interface SharedCounts {
  elsewhere: (accountId: number) => number;
  changed: (accountId: number, count: number) => void;
}

export const createGuards = (config: Config, log: Logger, shared?: SharedCounts) => ({
  gate: new ConnectionGate(
    {
      maxSocketsPerUser: config.maxSocketsPerUser,
      maxSocketsPerIp: config.maxSocketsPerIp,
      maxUsersOnline: config.maxUsersOnline,
    },
    shared?.elsewhere,
    shared?.changed,
  ),
  flood: new FloodControl({
    perConnection: { perSecond: config.ratePerSecond, burst: config.rateBurst },
    perUser: { perSecond: config.userRatePerSecond, burst: config.userRateBurst },
    strikes: { perSecond: 1, burst: config.abuseStrikes },
  }),
  slow: new SlowConsumerWatch(config.slowConsumerBytes, (buffered) => log.warn("ws.slow_consumer", { buffered })),
  /** Socket opens per account and per client address (a reconnect loop is refused with 429 at the upgrade). */
  opens: {
    perAccount: new KeyedRateLimiter<number>({
      perSecond: config.socketOpensPerMinute / 60,
      burst: config.socketOpensPerMinute,
    }),
    perAddress: new KeyedRateLimiter<string>({
      perSecond: config.socketOpensPerIpPerMinute / 60,
      burst: config.socketOpensPerIpPerMinute,
    }),
  },
  /** How much of an event-loop turn socket opens may take (a reconnect storm waits its turn: 503 `busy`). */
  pacer: new OpenPacer(config.openTurnBudgetMs),
  /** Sign-in attempts per client address. */
  signIn: new KeyedRateLimiter<string>({ perSecond: config.signInPerMinute / 60, burst: config.signInPerMinute }),
});

export type Guards = ReturnType<typeof createGuards>;
