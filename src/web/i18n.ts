/**
 * Every string the chat page shows, in Chinese (the tutorial's audience) and
 * English, and how a language is chosen. Shared by the server-rendered shell
 * and the browser client, so it must stay free of DOM and server imports.
 *
 * `{name}`-style placeholders are filled by `format`; the values are user
 * data, so callers put the result in `textContent`, never in HTML.
 */

export const LANGUAGES = ["zh", "en"] as const;
export type Lang = (typeof LANGUAGES)[number];

/** Name of the cookie that remembers a language picked with the switch. */
export const LANG_COOKIE = "lang";

const zh = {
  appName: "茶馆",
  lobby: "大厅",
  lobbyTitle: "# 大厅",
  tagline: "一个自托管的实时聊天室",
  nameLabel: "你的名字",
  signIn: "进入聊天室",
  signingIn: "正在进入…",
  signOut: "退出",
  switchLanguage: "English",
  switchLanguageLabel: "Switch to English",
  rooms: "聊天室",
  privateChats: "私聊",
  online: "在线",
  onlineCount: "在线 {count} 人",
  you: "你",
  joinRoom: "加入或创建聊天室",
  joinRoomPlaceholder: "聊天室名称",
  join: "加入",
  leaveRoom: "离开聊天室",
  members: "{count} 人",
  privateWith: "与 {name} 私聊",
  openPrivate: "与 {name} 私聊",
  messagePlaceholder: "说点什么… (Enter 发送，Shift+Enter 换行)",
  messagePlaceholderPrivate: "发给 {name} 的私信…",
  messageLabel: "消息",
  send: "发送",
  joined: "{name} 加入了聊天室",
  left: "{name} 离开了聊天室",
  typingOne: "{name} 正在输入…",
  typingTwo: "{a} 和 {b} 正在输入…",
  typingMany: "好几个人正在输入…",
  newMessages: "有新消息 ↓",
  loadOlder: "加载更早的消息",
  loadingOlder: "加载中…",
  noMoreHistory: "没有更早的消息了",
  historyGap: "断线期间的部分消息已无法找回",
  pending: "发送中",
  sent: "已发送",
  failed: "发送失败",
  retry: "重试",
  connecting: "正在连接…",
  disconnected: "连接已断开，{seconds} 秒后重连",
  reconnecting: "正在重新连接…",
  tryNow: "立即重连",
  pausedAbuse: "发送过于频繁，连接已被暂停，{seconds} 秒后重连",
  showSidebar: "聊天室与在线用户",
  closeSidebar: "关闭",
  messageList: "消息",
  emptyRoom: "还没有消息，打个招呼吧",
  emptyPrivate: "这是你和 {name} 的私聊，只有你们两人能看到",
  // Errors from the server (`error` field / `data.code`)
  err_name_taken: "这个名字已被使用，请换一个",
  err_invalid_name: "名字不能为空，最多 32 个字符，且不能含控制字符",
  err_forbidden_origin: "请求来自其他网站，已被拒绝",
  err_network: "无法连接服务器，请稍后再试",
  err_empty_message: "消息不能为空",
  err_too_long: "消息太长了",
  err_user_offline: "对方已离线",
  err_unknown_user: "没有这个用户",
  err_not_in_room: "你不在这个聊天室里",
  err_rate_limited: "发送太快了，请稍后",
  err_invalid_room: "聊天室名称无效",
  err_not_stored: "服务器没能保存这条消息，请重试",
  err_disconnected: "连接已断开",
  err_unknown: "出错了：{message}",
} as const;

export type StringKey = keyof typeof zh;

const en: Record<StringKey, string> = {
  appName: "teahouse",
  lobby: "Lobby",
  lobbyTitle: "# Lobby",
  tagline: "A self-hosted realtime chat room",
  nameLabel: "Your name",
  signIn: "Enter the room",
  signingIn: "Signing in…",
  signOut: "Sign out",
  switchLanguage: "中文",
  switchLanguageLabel: "切换到中文",
  rooms: "Rooms",
  privateChats: "Private",
  online: "Online",
  onlineCount: "{count} online",
  you: "you",
  joinRoom: "Join or create a room",
  joinRoomPlaceholder: "Room name",
  join: "Join",
  leaveRoom: "Leave room",
  members: "{count}",
  privateWith: "Private with {name}",
  openPrivate: "Message {name} privately",
  messagePlaceholder: "Say something… (Enter sends, Shift+Enter new line)",
  messagePlaceholderPrivate: "Private message to {name}…",
  messageLabel: "Message",
  send: "Send",
  joined: "{name} joined",
  left: "{name} left",
  typingOne: "{name} is typing…",
  typingTwo: "{a} and {b} are typing…",
  typingMany: "Several people are typing…",
  newMessages: "New messages ↓",
  loadOlder: "Load older messages",
  loadingOlder: "Loading…",
  noMoreHistory: "No older messages",
  historyGap: "Some messages from while you were away could not be recovered",
  pending: "Sending",
  sent: "Sent",
  failed: "Not sent",
  retry: "Retry",
  connecting: "Connecting…",
  disconnected: "Connection lost. Reconnecting in {seconds} s",
  reconnecting: "Reconnecting…",
  tryNow: "Try now",
  pausedAbuse: "Too many messages: paused. Reconnecting in {seconds} s",
  showSidebar: "Rooms and people online",
  closeSidebar: "Close",
  messageList: "Messages",
  emptyRoom: "No messages yet. Say hello!",
  emptyPrivate: "This is your private conversation with {name}; only the two of you see it",
  err_name_taken: "That name is in use; pick another",
  err_invalid_name: "Names are 1 to 32 characters, without control characters",
  err_forbidden_origin: "Refused: the request came from another site",
  err_network: "Cannot reach the server; try again in a moment",
  err_empty_message: "The message is empty",
  err_too_long: "The message is too long",
  err_user_offline: "They are offline",
  err_unknown_user: "No such user",
  err_not_in_room: "You are not in this room",
  err_rate_limited: "Slow down a little",
  err_invalid_room: "That room name is not valid",
  err_not_stored: "The server could not store this message; retry",
  err_disconnected: "The connection dropped",
  err_unknown: "Something went wrong: {message}",
};

export const STRINGS: Record<Lang, Record<StringKey, string>> = { zh, en };

/** The `lang` attribute for the page. */
export const HTML_LANG: Record<Lang, string> = { zh: "zh-CN", en: "en" };

export const isLang = (value: unknown): value is Lang => value === "zh" || value === "en";

/** The string `key` in `lang` with `{placeholders}` filled in. */
export const format = (lang: Lang, key: StringKey, params: Record<string, string | number> = {}): string =>
  STRINGS[lang][key].replace(/\{(\w+)\}/g, (whole, name: string) => (name in params ? String(params[name]) : whole));

/** The string for a server error code, when there is one. */
export const errorKey = (code: string): StringKey | undefined => {
  const key = `err_${code}`;
  return key in zh ? (key as StringKey) : undefined;
};

/**
 * The language for a request: the `lang` cookie when the visitor picked one,
 * else the first of Accept-Language's languages (by quality) that we have,
 * else Chinese, the tutorial's audience.
 */
export const pickLanguage = (acceptLanguage: string | null | undefined, cookie?: unknown): Lang => {
  if (isLang(cookie)) return cookie;
  const ranked = (acceptLanguage ?? "")
    .split(",")
    .map((part, index) => {
      const [tag = "", ...params] = part.trim().toLowerCase().split(";");
      const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
      const quality = q ? Number(q.slice(2)) : 1;
      return { primary: tag.split("-")[0] ?? "", quality: Number.isFinite(quality) ? quality : 0, index };
    })
    .filter((entry) => entry.quality > 0)
    .sort((a, b) => b.quality - a.quality || a.index - b.index);
  for (const { primary } of ranked) if (isLang(primary)) return primary;
  return "zh";
};
