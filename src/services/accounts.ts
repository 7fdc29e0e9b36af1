/**
 * Accounts and sessions, the use cases behind the HTTP sign-in routes: guest
 * sign-in (a name, no password), registration, password sign-in, sign-out
 * (one session or all), resolving a cookie's session, and the guest name on
 * offer. An account outlives its sessions. A guest's name is held while the
 * account has a socket open or was active within GUEST_NAME_GRACE_SECONDS;
 * after that another browser may take it (the old account keeps its id and
 * history, and is asked for a new name when it comes back). The same browser
 * (its device cookie) gets its guest account back while the name is free.
 * Registered names are never released.
 */
import { AVATAR_COUNT, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, type User } from "../protocol";
import type { Account } from "../domain/model";
import { checkName, guestName, nameKey } from "../domain/names";
import { NameTakenError, type Store } from "../ports/store";
import type { InviteUse } from "../domain/moderation";
import { limitKey } from "../security/client-ip";
import type { RateLimit } from "../security/rate";
import type { CookieSigner } from "../security/signing";
import { toUser } from "../chat/codec";

/** A signed-in session with its account. */
export interface AuthSession {
  sid: string;
  account: Account;
  user: User;
  /** A guest whose released name someone else took: it must pick another before chatting. */
  nameLost?: boolean;
}

/** How a use case failed, as the HTTP routes answer it. */
export interface Failure {
  ok: false;
  status: 400 | 401 | 403 | 404 | 409 | 429 | 503;
  error: string;
  message: string;
  retryAfterSeconds?: number;
}
export type Outcome<T> = ({ ok: true } & T) | Failure;

export interface AccountServiceDeps {
  store: Store;
  /** Signs and checks the cookies that carry session and device ids. */
  cookies: CookieSigner;
  /** Whether an account has an open socket (on this instance). */
  isOnline: (accountId: number) => boolean;
  /** Session idle time before it ends (SESSION_IDLE_SECONDS). */
  sessionIdleMs: number;
  /** Grace after a guest's last activity before its name is free (GUEST_NAME_GRACE_SECONDS). */
  guestGraceMs: number;
  /** Password attempts per account. */
  passwordAttempts: RateLimit<number>;
  now?: () => number;
}

/** Guest names tried for a free one before falling back to a random one (bounds the work per page view). */
const GUEST_NAME_TRIES = 200;
/** Session and account activity is written at most this often per session (it is also derived from sockets). */
const TOUCH_PERSIST_MS = 60_000;
/** The one answer to a wrong password and to an unknown name: telling them apart would list the accounts. */
const BAD_CREDENTIALS = "Wrong name or password";
/**
 * Verified against when the name is unknown, so that answer takes as long as a wrong password. Made
 * on first use: hashing costs tens of milliseconds, which start-up should not pay.
 */
let dummyHash: Promise<string> | undefined;
const dummy = (): Promise<string> =>
  (dummyHash ??= Bun.password.hash("teahouse-dummy-password", { algorithm: "argon2id" }));

export const fail = (
  status: Failure["status"],
  error: string,
  message: string,
  retryAfterSeconds?: number,
): Failure => ({
  ok: false,
  status,
  error,
  message,
  ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
});

/** Why a new password is refused (undefined: it is taken): its length in characters, as sign-up counts it. */
export const passwordProblem = (password: string): Failure | undefined => {
  const length = [...password].length;
  return length < PASSWORD_MIN_LENGTH || length > PASSWORD_MAX_LENGTH
    ? fail(400, "invalid_password", `A password has ${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters`)
    : undefined;
};

const BANNED: Failure = fail(403, "banned", "This account is banned from this server");
export const INVITE_PROBLEMS: Record<Exclude<InviteUse, "ok">, string> = {
  unknown: "That invite link is not valid",
  expired: "That invite link has expired",
  used_up: "That invite link has been used up",
  wrong_room: "That invite link is not for this",
  revoked: "You were removed after that invite link was made: ask for a new one",
};

let instances = 0;

export class AccountService {
  /** Distinguishes services (and so the plugins built on them) when one process runs several apps. */
  readonly instanceId = ++instances;
  private guestCursor = 0;
  private readonly now: () => number;

  /** The session and device cookies' signatures (the ids this service hands out travel signed). */
  readonly cookies: CookieSigner;

  constructor(private readonly deps: AccountServiceDeps) {
    this.now = deps.now ?? Date.now;
    this.cookies = deps.cookies;
  }

  /** Whether an account holds its name now (so nobody else may take it). */
  holdsName(account: Account): boolean {
    if (account.kind === "member") return true;
    return this.deps.isOnline(account.id) || this.now() - account.lastActive < this.deps.guestGraceMs;
  }

  /** The live session for a cookie's session id, or undefined (unknown, ended or expired). */
  async resolve(sid: string | undefined): Promise<AuthSession | undefined> {
    if (!sid) return undefined;
    const { store } = this.deps;
    const session = await store.session(sid);
    if (!session) return undefined;
    const now = this.now();
    const online = this.deps.isOnline(session.accountId);
    if (!online && now - session.lastSeen >= this.deps.sessionIdleMs) {
      await store.endSession(sid);
      return undefined;
    }
    let account = await store.account(session.accountId);
    if (!account) return undefined;
    if (now - session.lastSeen >= TOUCH_PERSIST_MS) {
      await store.touchSession(sid, now);
      await store.touchAccount(account.id, now);
      account = { ...account, lastActive: now };
    }
    if (account.nameKey === null) {
      // Released and taken by someone else meanwhile? Otherwise the name comes back.
      const key = nameKey(account.name);
      const holder = await store.accountByKey(key);
      if (holder && holder.id !== account.id && this.holdsName(holder))
        return { sid, account, user: toUser(account), nameLost: true };
      account = await store.updateAccount(account.id, { nameKey: key }, holder?.id);
    }
    return { sid, account, user: toUser(account) };
  }

  /** The next free guest name, rotating 路人甲 … 路人癸, 路人甲2, … */
  async offerGuestName(): Promise<string> {
    for (let tries = 0; tries < GUEST_NAME_TRIES; tries++) {
      const name = guestName(this.guestCursor);
      this.guestCursor = (this.guestCursor + 1) % 100_000;
      const key = nameKey(name);
      const holder = await this.deps.store.accountByKey(key);
      // A banned guest's name stays out of the rotation (offering it would only be refused).
      if ((!holder || !this.holdsName(holder)) && !(await this.banned({ nameKey: key }))) return name;
    }
    // Every name tried is held (a very busy server, or someone hoarding them): a random one.
    return guestName(GUEST_NAME_TRIES * 100 + Math.floor(Math.random() * 1_000_000));
  }

  /**
   * Guest sign-in. Signed in as a guest already: that account takes the new name (same id). Else the
   * name's guest account comes back to its own browser; a free name makes a new account.
   */
  async signInGuest(
    rawName: string | undefined,
    device: string,
    current: AuthSession | undefined,
    address = "",
  ): Promise<Outcome<{ session: AuthSession; created: boolean }>> {
    if (!(await this.deps.store.serverSettings()).guests)
      return fail(403, "guests_disabled", "Guests cannot sign in here: sign in with a password, or sign up");
    const requested = rawName?.trim() ? checkName(rawName) : undefined;
    if (await this.banned({ device, address, ...(requested?.ok ? { nameKey: requested.key } : {}) })) return BANNED;
    return unlessTaken(rawName, () => this.guest(rawName, device, current));
  }

  /** Whether a ban keeps this account, name, browser or address out. */
  private banned(who: { accountId?: number; nameKey?: string; device?: string; address?: string }): Promise<boolean> {
    // Addresses as bans keep them: IPv4, or an IPv6 address's /64 (the rate limits' key).
    return this.deps.store.isBanned({ ...who, ...(who.address ? { address: limitKey(who.address) } : {}) });
  }

  private async guest(
    rawName: string | undefined,
    device: string,
    current: AuthSession | undefined,
  ): Promise<Outcome<{ session: AuthSession; created: boolean }>> {
    const requested = rawName === undefined || rawName.trim() === "" ? await this.offerGuestName() : rawName;
    const check = checkName(requested);
    if (!check.ok) return fail(400, check.error, check.message);
    const { store } = this.deps;
    const holder = await store.accountByKey(check.key);
    if (holder?.kind === "member")
      return fail(409, "name_registered", `The name "${check.name}" is registered; sign in with its password`);
    const now = this.now();
    if (current && current.account.kind === "guest") {
      if (holder && holder.id !== current.account.id && this.holdsName(holder)) return taken(check.name);
      const account = await store.updateAccount(
        current.account.id,
        { name: check.name, nameKey: check.key, device },
        holder && holder.id !== current.account.id ? holder.id : undefined,
      );
      return { ok: true, created: false, session: { sid: current.sid, account, user: toUser(account) } };
    }
    let account: Account;
    if (holder && holder.device === device) {
      // This browser's own guest account, back (its name was free, or held by its own other tab).
      account = await store.updateAccount(holder.id, { name: check.name });
    } else if (holder && this.holdsName(holder)) {
      return taken(check.name);
    } else {
      account = await store.createAccount(
        {
          kind: "guest",
          name: check.name,
          nameKey: check.key,
          image: Math.floor(Math.random() * AVATAR_COUNT),
          passwordHash: null,
          device,
          now,
        },
        holder?.id,
      );
      await this.joinDefaultRooms(account.id);
    }
    const session = await store.createSession(account.id, now);
    return { ok: true, created: true, session: { sid: session.sid, account, user: toUser(account) } };
  }

  /** Sign-in to a registered account. A wrong password and an unknown name get the same answer. */
  async signInPassword(
    rawName: string,
    password: string,
    device: string,
    address = "",
  ): Promise<Outcome<{ session: AuthSession }>> {
    const check = checkName(rawName);
    const { store } = this.deps;
    const account = check.ok ? await store.accountByKey(check.key) : undefined;
    if (!account || account.kind !== "member") {
      await Bun.password.verify(password, await dummy());
      return fail(401, "bad_credentials", BAD_CREDENTIALS);
    }
    const retryMs = await this.deps.passwordAttempts.take(account.id);
    if (retryMs > 0)
      return fail(429, "rate_limited", "Too many password attempts; try again later", Math.ceil(retryMs / 1000));
    const hash = await store.passwordHash(account.id);
    if (!hash || !(await Bun.password.verify(password, hash))) return fail(401, "bad_credentials", BAD_CREDENTIALS);
    // Told only to whoever knows the password (else a ban would tell which names exist).
    if (await this.banned({ accountId: account.id, device, address })) return BANNED;
    const updated = await store.updateAccount(account.id, { device });
    const session = await store.createSession(account.id, this.now());
    return { ok: true, session: { sid: session.sid, account: updated, user: toUser(updated) } };
  }

  /**
   * Registers a name with a password. Signed in as a guest, that account becomes a member in place
   * (same id, same history), under the name asked for. Else a new member account.
   */
  async signUp(
    rawName: string,
    password: string,
    device: string,
    current: AuthSession | undefined,
    address = "",
    invite?: string,
  ): Promise<Outcome<{ session: AuthSession; created: boolean }>> {
    const check = checkName(rawName);
    if (!check.ok) return fail(400, check.error, check.message);
    const { signup } = await this.deps.store.serverSettings();
    if (signup === "closed") return fail(403, "signup_closed", "Sign-up is closed here; an admin makes accounts");
    if (signup === "invite" && !invite)
      return fail(403, "invite_required", "Sign-up here needs an invite link from an admin");
    if (
      await this.banned({ nameKey: check.key, device, address, ...(current ? { accountId: current.account.id } : {}) })
    )
      return BANNED;
    const weak = passwordProblem(password);
    if (weak) return weak;
    // Hashed first: the tens of milliseconds it takes must not sit between judging the name free and
    // taking it (its holder could come back meanwhile).
    const passwordHash = await Bun.password.hash(password, { algorithm: "argon2id" });
    const { store } = this.deps;
    const holder = await store.accountByKey(check.key);
    const upgrading = current?.account.kind === "guest" ? current.account : undefined;
    const heldByOther =
      holder &&
      holder.id !== upgrading?.id &&
      (holder.kind === "member" || (this.holdsName(holder) && holder.device !== device));
    if (heldByOther) return taken(check.name);
    // Spent only by a sign-up that goes through.
    if (signup === "invite") {
      const use = await store.useInvite(invite!, null, this.now());
      if (use !== "ok") return fail(403, "invalid_invite", INVITE_PROBLEMS[use]);
    }
    const now = this.now();
    const release = holder && holder.id !== upgrading?.id ? holder.id : undefined;
    if (upgrading) {
      const account = await store.updateAccount(
        upgrading.id,
        { kind: "member", name: check.name, nameKey: check.key, passwordHash, device },
        release,
      );
      await this.ownerIfFirst(account.id);
      return { ok: true, created: false, session: { sid: current!.sid, account, user: toUser(account) } };
    }
    const account = await store.createAccount(
      {
        kind: "member",
        name: check.name,
        nameKey: check.key,
        image: Math.floor(Math.random() * AVATAR_COUNT),
        passwordHash,
        device,
        now,
      },
      release,
    );
    await this.ownerIfFirst(account.id);
    await this.joinDefaultRooms(account.id);
    const session = await store.createSession(account.id, now);
    return { ok: true, created: true, session: { sid: session.sid, account, user: toUser(account) } };
  }

  /** The first registered account owns the server (two at once: the store keeps one owner). */
  private async ownerIfFirst(accountId: number): Promise<void> {
    const { store } = this.deps;
    if ((await store.ownerId()) !== undefined) return;
    await store.setRole(accountId, "owner").catch(() => false);
  }

  /** A new account joins the server's default rooms (those that exist; the lobby it is in already). */
  private async joinDefaultRooms(accountId: number): Promise<void> {
    const { store } = this.deps;
    const { defaultRooms } = await store.serverSettings();
    for (const name of defaultRooms) {
      const room = await store.room(nameKey(name));
      // A private room lets people in with an invite only, whatever the settings say.
      if (room && !(await store.roomSettings(room.id))?.private) await store.join(accountId, room.id, this.now());
    }
  }

  /** Ends one session (rejects if the store cannot record it). */
  async signOut(sid: string): Promise<void> {
    await this.deps.store.endSession(sid);
  }

  /** Ends every session of the account; returns their ids. */
  async signOutEverywhere(accountId: number): Promise<string[]> {
    return this.deps.store.endSessions(accountId);
  }
}

const taken = (name: string): Failure => fail(409, "name_taken", `The name "${name}" is in use; pick another`);

/** Two sign-ins racing for one name: the store refuses the second (NameTakenError), answered 409. */
const unlessTaken = async <T>(rawName: string | undefined, attempt: () => Promise<Outcome<T>>): Promise<Outcome<T>> => {
  try {
    return await attempt();
  } catch (error) {
    if (error instanceof NameTakenError) return taken(String(rawName ?? "").trim());
    throw error;
  }
};
