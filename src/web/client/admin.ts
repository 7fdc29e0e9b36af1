/**
 * The admin page, for admins and the owner (the account menu shows its entry when `/wsme` says the
 * role): it takes the chat's place, with five tabs — users (search; role, ban with a reason, unban,
 * a password reset link to copy), rooms (every one, private ones too), settings (guests, sign-up,
 * default rooms; sign-up invite links), the audit log (who did what to whom, when) and reports (the
 * message, who reported it and why; resolve, or go to the message). The server decides (403 to
 * anyone else); the buttons shown are the policy's answers (domain/policy.ts, the same function).
 * Every list comes in pages of 50 with "Load more". Text only ever goes in as text.
 */
import {
  type AdminRoom,
  type AdminUser,
  type AuditLine,
  type LinkAnswer,
  type ReportLine,
  type ServerSettings,
} from "../../admin/protocol";
import { allowed, type Actor } from "../../domain/policy";
import { HTML_LANG, type StringKey } from "../i18n";
import type { ServerRole } from "../../protocol";
import { request, type Answer } from "./api";
import { errorText } from "./chat";
import { byId, el } from "./dom";
import { label, lang, t } from "./text";

type Tab = "users" | "rooms" | "settings" | "audit" | "reports";
const TABS: readonly Tab[] = ["users", "rooms", "settings", "audit", "reports"];
/** Typing in the user search asks after this long without a key. */
const SEARCH_DEBOUNCE_MS = 250;

const ROLE_KEYS: Record<ServerRole, StringKey> = {
  owner: "roleOwner",
  admin: "roleAdmin",
  member: "roleMember",
  guest: "roleGuest",
};

const when = (ts: number): string =>
  new Intl.DateTimeFormat(HTML_LANG[lang()], { dateStyle: "medium", timeStyle: "short" }).format(ts);

const timeNode = (ts: number): HTMLTimeElement =>
  el("time", { text: when(ts), attrs: { datetime: new Date(ts).toISOString() } });

const button = (key: StringKey, className = "small", params?: Record<string, string | number>) =>
  label(el("button", { class: className, attrs: { type: "button" } }), key, params);

/** A status line (what an action came to): a sentence, or the error's words. */
const say = (node: HTMLElement, answer: Answer | undefined, done?: [StringKey, Record<string, string>?]): void => {
  node.setAttribute("role", answer && !answer.ok ? "alert" : "status");
  node.classList.toggle("error", answer !== undefined && !answer.ok);
  node.classList.toggle("notice", answer === undefined || answer.ok);
  if (answer && !answer.ok) {
    delete node.dataset.i18n;
    node.textContent = errorText(answer.error, answer.message);
  } else if (done) label(node, done[0], done[1]);
  else node.textContent = "";
};

/** A read-only link with a Copy button (reset and invite links). */
const linkNode = (intro: StringKey, params: Record<string, string>, path: string): HTMLElement => {
  const url = new URL(path, location.href).toString();
  const id = `link-${Math.random().toString(36).slice(2)}`;
  const input = el("input", { class: "admin-link", attrs: { id, readonly: "", value: url } });
  const copy = button("adminCopy");
  copy.addEventListener("click", async () => {
    input.select();
    try {
      await navigator.clipboard.writeText(url);
    } catch {
      // No clipboard here (an insecure page): the link is selected, for the keyboard's copy.
    }
    label(copy, "adminCopied");
  });
  return el(
    "div",
    { class: "admin-link-box" },
    label(el("label", { attrs: { for: id } }), intro, params),
    el("div", { class: "admin-link-row" }, input, copy),
  );
};

/**
 * A list in pages: `load(cursor)` answers a page and the next cursor; "Load more" asks for it.
 * `reload()` starts again (a new search, a filter); answers to an older start are dropped.
 */
class PagedList<T> {
  readonly list = el("ul", { class: "admin-list" });
  private readonly status = el("p", { class: "admin-status", attrs: { role: "status" } });
  private readonly more = button("adminMore", "ghost small admin-more");
  private next: number | undefined;
  private generation = 0;

  constructor(
    parent: HTMLElement,
    private readonly load: (cursor: number | undefined) => Promise<Answer>,
    private readonly render: (item: T) => HTMLElement,
    private readonly empty: StringKey = "adminNone",
  ) {
    this.more.hidden = true;
    this.more.addEventListener("click", () => void this.page(false));
    parent.append(this.status, this.list, this.more);
  }

  reload(): Promise<void> {
    return this.page(true);
  }

  private async page(fresh: boolean): Promise<void> {
    const generation = fresh ? ++this.generation : this.generation;
    if (fresh) this.next = undefined;
    label(this.status, "adminLoading");
    this.more.disabled = true;
    const answer = await this.load(fresh ? undefined : this.next);
    if (generation !== this.generation) return;
    this.more.disabled = false;
    if (!answer.ok) {
      label(this.status, "adminFailed", { reason: errorText(answer.error, answer.message) });
      return;
    }
    if (fresh) this.list.replaceChildren();
    const items = answer.body.data as T[];
    for (const item of items) this.list.append(this.render(item));
    this.next = typeof answer.body.next === "number" ? answer.body.next : undefined;
    this.more.hidden = this.next === undefined;
    if (this.list.children.length === 0) label(this.status, this.empty);
    else {
      delete this.status.dataset.i18n;
      this.status.textContent = "";
    }
  }
}

export interface AdminDeps {
  /** The signed-in admin, as the policy sees it, and its name. */
  actor: () => Actor & { name: string };
  /** Shows a message in the chat (closing the admin page). */
  openMessage: (id: number) => void;
}

export class AdminPanel {
  private readonly view = byId("admin-view");
  private readonly layout = document.querySelector<HTMLElement>(".layout")!;
  private readonly tabs = new Map<Tab, HTMLButtonElement>();
  private readonly panels = new Map<Tab, HTMLElement>();
  private current: Tab = "users";
  /** Tabs built (each once per page; opening a tab again reloads its data). */
  private readonly built = new Map<Tab, () => void>();

  constructor(private readonly deps: AdminDeps) {
    for (const tab of TABS) {
      const element = byId<HTMLButtonElement>(`admin-tab-${tab}`);
      this.tabs.set(tab, element);
      this.panels.set(tab, byId(`admin-panel-${tab}`));
      element.addEventListener("click", () => this.select(tab));
    }
    // Arrow keys move between tabs (the tablist pattern: one tab stop, the selected one).
    this.view.querySelector(".admin-tabs")!.addEventListener("keydown", (event) => {
      const key = (event as KeyboardEvent).key;
      const index = TABS.indexOf(this.current);
      const to =
        key === "ArrowRight"
          ? (index + 1) % TABS.length
          : key === "ArrowLeft"
            ? (index + TABS.length - 1) % TABS.length
            : key === "Home"
              ? 0
              : key === "End"
                ? TABS.length - 1
                : undefined;
      if (to === undefined) return;
      event.preventDefault();
      this.select(TABS[to]!);
      this.tabs.get(TABS[to]!)!.focus();
    });
    byId("admin-close").addEventListener("click", () => this.close(true));
    this.view.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !(event.target as Element).closest("form")) this.close(true);
    });
  }

  get isOpen(): boolean {
    return !this.view.hidden;
  }

  open(): void {
    this.layout.hidden = true;
    this.view.hidden = false;
    this.select(this.current);
    byId("admin-title").focus();
  }

  /** Back to the chat (`returnFocus`: to the composer). */
  close(returnFocus = false): void {
    if (this.view.hidden) return;
    this.view.hidden = true;
    this.layout.hidden = false;
    if (returnFocus) byId("text").focus();
  }

  private select(tab: Tab): void {
    this.current = tab;
    for (const [name, element] of this.tabs) {
      const selected = name === tab;
      element.setAttribute("aria-selected", String(selected));
      element.tabIndex = selected ? 0 : -1;
      this.panels.get(name)!.hidden = !selected;
    }
    let refresh = this.built.get(tab);
    if (!refresh) {
      refresh = this.build(tab, this.panels.get(tab)!);
      this.built.set(tab, refresh);
    }
    refresh();
  }

  /** Fills a tab's panel once; answers how to refresh its data. */
  private build(tab: Tab, panel: HTMLElement): () => void {
    switch (tab) {
      case "users":
        return this.buildUsers(panel);
      case "rooms":
        return this.buildRooms(panel);
      case "settings":
        return this.buildSettings(panel);
      case "audit":
        return this.buildAudit(panel);
      case "reports":
        return this.buildReports(panel);
    }
  }

  // ------------------------------------------------------------ users

  private buildUsers(panel: HTMLElement): () => void {
    const input = el("input", {
      attrs: { id: "admin-user-search", type: "search", autocomplete: "off", enterkeyhint: "search" },
    });
    input.dataset.i18nPlaceholder = "adminSearchPlaceholder";
    input.placeholder = t("adminSearchPlaceholder");
    const form = el(
      "form",
      { class: "admin-search", attrs: { role: "search" } },
      label(el("label", { attrs: { for: "admin-user-search" } }), "adminSearchUsers"),
      input,
    );
    panel.append(form);
    const users = new PagedList<AdminUser>(
      panel,
      (after) => {
        const query = new URLSearchParams({ q: input.value.trim() });
        if (after !== undefined) query.set("after", String(after));
        return request("GET", `/admin/users?${query}`);
      },
      (user) => this.userRow(user),
    );
    let timer: ReturnType<typeof setTimeout> | undefined;
    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => void users.reload(), SEARCH_DEBOUNCE_MS);
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      clearTimeout(timer);
      void users.reload();
    });
    return () => void users.reload();
  }

  private userRow(user: AdminUser): HTMLElement {
    const row = el("li", { class: "admin-row admin-user" });
    row.dataset.id = String(user.id);
    row.dataset.name = user.name;
    this.fillUser(row, user);
    return row;
  }

  /** (Re)draws an account's row: who it is, and the actions the policy allows on it. */
  private fillUser(
    row: HTMLElement,
    user: AdminUser,
    status?: [Answer | undefined, [StringKey, Record<string, string>?]?],
  ) {
    const head = el(
      "div",
      { class: "admin-row-head" },
      el("span", { class: "name", text: user.name }),
      label(el("span", { class: `tag role-${user.role}` }), ROLE_KEYS[user.role]),
    );
    if (user.banned) head.append(label(el("span", { class: "tag banned" }), "adminBannedTag"));
    const meta = label(el("p", { class: "admin-meta" }), "adminUserMeta", {
      id: user.id,
      created: when(user.createdAt),
      active: when(user.lastActive),
    });
    const actions = el("div", { class: "admin-actions" });
    const extra = el("div", { class: "admin-extra" });
    const line = el("p", { class: "admin-result" });
    if (status) say(line, status[0], status[1]);
    const actor = this.deps.actor();
    const target = { id: user.id, role: user.role };
    const act = async (
      run: () => Promise<Answer>,
      after: (answer: Answer & { ok: true }) => AdminUser,
      done: StringKey,
    ) => {
      for (const control of actions.querySelectorAll("button")) control.disabled = true;
      const answer = await run();
      if (!answer.ok) {
        for (const control of actions.querySelectorAll("button")) control.disabled = false;
        return say(line, answer);
      }
      const next = after(answer);
      this.fillUser(row, next, [answer, [done, { name: user.name, role: t(ROLE_KEYS[next.role]) }]]);
      row.querySelector<HTMLElement>(".admin-result")?.focus();
    };
    for (const role of ["admin", "member"] as const)
      if (
        allowed(actor, "set_role", { ...target, newRole: role }) &&
        (role === "admin" ? user.role !== "admin" : user.role === "admin")
      ) {
        const change = button(role === "admin" ? "adminMakeAdmin" : "adminMakeMember");
        change.classList.add(`admin-role-${role}`);
        change.addEventListener(
          "click",
          () =>
            void act(
              () => request("POST", `/admin/users/${user.id}/role`, { role }),
              () => ({ ...user, role }),
              "adminRoleDone",
            ),
        );
        actions.append(change);
      }
    if (allowed(actor, "ban", target)) {
      if (user.banned) {
        const unban = button("adminUnban", "small admin-unban");
        unban.addEventListener(
          "click",
          () =>
            void act(
              () => request("DELETE", `/admin/users/${user.id}/ban`),
              () => ({ ...user, banned: false }),
              "adminUnbanDone",
            ),
        );
        actions.append(unban);
      } else {
        const ban = button("adminBan", "small danger admin-ban");
        ban.addEventListener("click", () =>
          this.banForm(extra, user, () =>
            act(
              () => {
                const form = extra.querySelector("form")!;
                const reason = form.querySelector<HTMLInputElement>(".ban-reason")!.value.trim();
                const addresses = form
                  .querySelector<HTMLInputElement>(".ban-addresses")!
                  .value.split(/[\s,]+/)
                  .filter((address) => address !== "");
                return request("POST", `/admin/users/${user.id}/ban`, { reason, addresses });
              },
              () => ({ ...user, banned: true }),
              "adminBanDone",
            ),
          ),
        );
        actions.append(ban);
      }
    }
    if (user.kind === "member" && allowed(actor, "reset_password", target)) {
      const reset = button("adminResetPassword", "small admin-reset");
      reset.addEventListener("click", async () => {
        reset.disabled = true;
        const answer = await request("POST", `/admin/users/${user.id}/reset-password`);
        reset.disabled = false;
        if (!answer.ok) return say(line, answer);
        say(line, undefined);
        const link = linkNode("adminResetLink", { name: user.name }, (answer.body as LinkAnswer).url);
        extra.replaceChildren(link);
        link.querySelector("input")!.select();
        link.querySelector("input")!.focus();
      });
      actions.append(reset);
    }
    row.replaceChildren(head, meta, actions, extra, line);
  }

  /** The ban form under an account's row: a reason, addresses, and the confirmation. */
  private banForm(extra: HTMLElement, user: AdminUser, submit: () => Promise<void>): void {
    const reasonId = `ban-reason-${user.id}`;
    const addressesId = `ban-addresses-${user.id}`;
    const reason = el("input", { class: "ban-reason", attrs: { id: reasonId, maxlength: "500", autocomplete: "off" } });
    const addresses = el("input", {
      class: "ban-addresses",
      attrs: { id: addressesId, autocomplete: "off", inputmode: "text", spellcheck: "false" },
    });
    const confirm = label(
      el("button", { class: "small danger-fill ban-confirm", attrs: { type: "submit" } }),
      "adminBanConfirm",
      { name: user.name },
    );
    const cancel = button("cancel", "ghost small ban-cancel");
    const form = el(
      "form",
      { class: "admin-form ban-form" },
      label(el("label", { attrs: { for: reasonId } }), "adminBanReason"),
      reason,
      label(el("label", { attrs: { for: addressesId } }), "adminBanAddresses"),
      addresses,
      el("div", { class: "admin-actions" }, confirm, cancel),
    );
    cancel.addEventListener("click", () => {
      extra.replaceChildren();
      extra.closest("li")?.querySelector<HTMLElement>(".admin-ban")?.focus();
    });
    form.addEventListener("keydown", (event) => {
      if (event.key === "Escape") cancel.click();
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      confirm.disabled = true;
      void submit().finally(() => {
        confirm.disabled = false;
      });
    });
    extra.replaceChildren(form);
    reason.focus();
  }

  // ------------------------------------------------------------ rooms

  private buildRooms(panel: HTMLElement): () => void {
    const rooms = new PagedList<AdminRoom>(
      panel,
      (after) => request("GET", `/admin/rooms${after === undefined ? "" : `?after=${after}`}`),
      (room) => {
        const head = el(
          "div",
          { class: "admin-row-head" },
          el("span", { class: "name", text: `# ${room.name}` }),
          label(
            el("span", { class: `tag ${room.private ? "private" : "public"}` }),
            room.private ? "adminRoomPrivate" : "adminRoomPublic",
          ),
          label(el("span", { class: "admin-count" }), room.members === 1 ? "membersInRoomOne" : "membersInRoom", {
            count: room.members,
          }),
        );
        const topic = el("p", { class: "admin-topic" });
        if (room.topic === "") label(topic, "adminRoomNoTopic");
        else topic.textContent = room.topic;
        const row = el("li", { class: "admin-row admin-room" }, head, topic);
        if (room.owner)
          row.append(label(el("p", { class: "admin-meta" }), "adminRoomOwner", { name: room.owner.name }));
        row.dataset.name = room.name;
        return row;
      },
    );
    return () => void rooms.reload();
  }

  // ------------------------------------------------------------ settings

  private buildSettings(panel: HTMLElement): () => void {
    const guests = el("input", { attrs: { id: "admin-guests", type: "checkbox" } });
    const signup = el("select", { attrs: { id: "admin-signup" } });
    for (const [value, key] of [
      ["open", "adminSignupOpen"],
      ["invite", "adminSignupInvite"],
      ["closed", "adminSignupClosed"],
    ] as const)
      signup.append(label(el("option", { attrs: { value } }), key));
    const rooms = el("input", { attrs: { id: "admin-default-rooms", autocomplete: "off" } });
    const save = label(el("button", { class: "primary small", attrs: { type: "submit" } }), "adminSave");
    const status = el("p", { class: "admin-result" });
    const form = el(
      "form",
      { class: "admin-form settings-form" },
      el("div", { class: "check" }, guests, label(el("label", { attrs: { for: "admin-guests" } }), "adminGuests")),
      label(el("label", { attrs: { for: "admin-signup" } }), "adminSignup"),
      signup,
      label(el("label", { attrs: { for: "admin-default-rooms" } }), "adminDefaultRooms"),
      rooms,
      el("div", { class: "admin-actions" }, save),
      status,
    );
    const show = (settings: ServerSettings) => {
      guests.checked = settings.guests;
      signup.value = settings.signup;
      rooms.value = settings.defaultRooms.join(", ");
    };
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      save.disabled = true;
      const answer = await request("PUT", "/admin/settings", {
        guests: guests.checked,
        signup: signup.value,
        defaultRooms: rooms.value
          .split(",")
          .map((room) => room.trim())
          .filter((room) => room !== ""),
      });
      save.disabled = false;
      if (answer.ok) show(answer.body.data as ServerSettings);
      say(status, answer, ["adminSaved"]);
    });

    // Invite links for sign-up.
    const uses = el("input", { attrs: { id: "admin-invite-uses", type: "number", min: "1", max: "10000" } });
    const hours = el("input", { attrs: { id: "admin-invite-hours", type: "number", min: "1", max: "8760" } });
    const make = label(el("button", { class: "small", attrs: { type: "submit" } }), "adminInviteMake");
    const output = el("div", { class: "admin-extra" });
    const inviteStatus = el("p", { class: "admin-result" });
    const invites = el(
      "form",
      { class: "admin-form invite-form" },
      label(el("h3"), "adminInviteTitle"),
      label(el("label", { attrs: { for: "admin-invite-uses" } }), "adminInviteUses"),
      uses,
      label(el("label", { attrs: { for: "admin-invite-hours" } }), "adminInviteHours"),
      hours,
      el("div", { class: "admin-actions" }, make),
      output,
      inviteStatus,
    );
    invites.addEventListener("submit", async (event) => {
      event.preventDefault();
      make.disabled = true;
      const answer = await request("POST", "/admin/invites", {
        ...(uses.value === "" ? {} : { uses: Number(uses.value) }),
        ...(hours.value === "" ? {} : { expiresInSeconds: Math.round(Number(hours.value) * 3600) }),
      });
      make.disabled = false;
      say(inviteStatus, answer.ok ? undefined : answer);
      if (!answer.ok) return output.replaceChildren();
      const link = linkNode("adminInviteLink", {}, (answer.body as LinkAnswer).url);
      output.replaceChildren(link);
      link.querySelector("input")!.focus();
    });
    panel.append(form, invites);
    // Nothing to change until the settings are in (an answer arriving late would undo an edit).
    const controls = [guests, signup, rooms, save];
    return async () => {
      for (const control of controls) control.disabled = true;
      const answer = await request("GET", "/admin/settings");
      if (answer.ok) {
        show(answer.body.data as ServerSettings);
        for (const control of controls) control.disabled = false;
      } else say(status, answer);
    };
  }

  // ------------------------------------------------------------ audit log

  private buildAudit(panel: HTMLElement): () => void {
    const audit = new PagedList<AuditLine>(
      panel,
      (before) => request("GET", `/admin/audit${before === undefined ? "" : `?before=${before}`}`),
      (line) => {
        const actor = line.actor
          ? el("span", { class: "name", text: line.actor.name })
          : label(el("span", { class: "name server" }), "adminServer");
        const action = el("span", { class: "admin-action" });
        const key = `audit_${line.action}`;
        if (key in AUDIT_KEYS) label(action, key as StringKey);
        else action.textContent = line.action;
        const what = el("p", { class: "admin-audit-line" }, actor, " ", action);
        if (line.account) what.append(" ", el("span", { class: "name", text: line.account.name }));
        if (line.room) what.append(" ", el("span", { class: "admin-room-name", text: `# ${line.room.name}` }));
        const detail = auditDetail(line);
        if (detail) what.append(" ", detail);
        return el("li", { class: "admin-row admin-audit" }, timeNode(line.at), what);
      },
    );
    return () => void audit.reload();
  }

  // ------------------------------------------------------------ reports

  private buildReports(panel: HTMLElement): () => void {
    const all = el("input", { attrs: { id: "admin-reports-all", type: "checkbox" } });
    panel.append(
      el(
        "div",
        { class: "check" },
        all,
        label(el("label", { attrs: { for: "admin-reports-all" } }), "adminShowResolved"),
      ),
    );
    const reports = new PagedList<ReportLine>(
      panel,
      (before) => {
        const query = new URLSearchParams(all.checked ? { all: "1" } : {});
        if (before !== undefined) query.set("before", String(before));
        return request("GET", `/admin/reports?${query}`);
      },
      (report) => this.reportRow(report),
      "adminNoReports",
    );
    all.addEventListener("change", () => void reports.reload());
    return () => void reports.reload();
  }

  private reportRow(report: ReportLine): HTMLElement {
    const message = report.message;
    const where = el("span", { class: "admin-room-name" });
    if (report.room) where.textContent = `# ${report.room.name}`;
    else label(where, "adminReportDirect");
    const text = el("p", { class: "admin-quote-text" });
    if (!message) label(text, "adminMessageGone");
    else if (message.deleted) label(text, "deletedMessage");
    else text.textContent = message.file ? `📎 ${message.file} ${message.text}`.trim() : message.text;
    const quote = el(
      "blockquote",
      { class: "admin-quote" },
      el(
        "p",
        { class: "admin-meta" },
        el("span", { class: "name", text: message?.author.name ?? "" }),
        " · ",
        where,
        ...(message ? [" · ", timeNode(message.ts)] : []),
      ),
      text,
    );
    const by = el(
      "p",
      { class: "admin-report-by" },
      label(el("span"), "adminReportedBy", { name: report.reporter.name, reason: report.reason }),
      " · ",
      timeNode(report.at),
    );
    const actions = el("div", { class: "admin-actions" });
    const line = el("p", { class: "admin-result" });
    const row = el("li", { class: "admin-row admin-report" }, quote, by, actions, line);
    row.dataset.id = String(report.id);
    if (report.resolved)
      line.append(label(el("span", { class: "notice" }), "adminResolvedBy", { name: report.resolved.by?.name ?? "?" }));
    else {
      const resolve = button("adminResolve", "small admin-resolve");
      resolve.addEventListener("click", async () => {
        resolve.disabled = true;
        const answer = await request("POST", `/admin/reports/${report.id}/resolve`);
        if (!answer.ok) {
          resolve.disabled = false;
          return say(line, answer);
        }
        resolve.remove();
        row.classList.add("resolved");
        say(line, answer, ["adminResolvedBy", { name: this.deps.actor().name }]);
      });
      actions.append(resolve);
    }
    if (message && !message.deleted) {
      const go = button("adminGoToMessage", "ghost small admin-go");
      go.addEventListener("click", () => {
        this.close();
        this.deps.openMessage(message.id);
      });
      actions.append(go);
    }
    return row;
  }
}

/** The audit actions with words (others show as the server wrote them). */
const AUDIT_KEYS: Record<string, true> = Object.fromEntries(
  [
    "delete_message",
    "mute",
    "unmute",
    "remove_member",
    "slow_mode",
    "set_topic",
    "set_visibility",
    "name_moderator",
    "invite",
    "ban",
    "unban",
    "set_role",
    "reset_password",
    "change_settings",
    "resolve_report",
    "create_owner",
    "complete_reset",
    "report",
  ].map((action) => [`audit_${action}`, true]),
);

/** What else a line says: a role change's from → to. */
const auditDetail = (line: AuditLine): HTMLElement | undefined => {
  const { from, to } = line.detail as { from?: unknown; to?: unknown };
  if (line.action !== "set_role" || typeof from !== "string" || typeof to !== "string") return undefined;
  const role = (value: string) => (value in ROLE_KEYS ? t(ROLE_KEYS[value as ServerRole]) : value);
  return label(el("span", { class: "admin-detail" }), "adminAuditDetail", { from: role(from), to: role(to) });
};
