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
  joinedCount: "{count} 人加入了聊天室",
  leftCount: "{count} 人离开了聊天室",
  moreMembers: "显示更多",
  showMembers: "显示成员",
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
  passwordLabel: "密码（名字已注册时才需要）",
  passwordPlaceholder: "访客不用填",
  register: "注册这个名字",
  registerHint: "访客名字在你离开一段时间后会被释放；设置密码注册后，名字就一直属于你，在别的设备上也能登录。",
  accountMenu: "账户",
  accountGuest: "访客",
  accountMember: "已注册",
  registerPrompt: "设置密码，注册“{name}”",
  newPasswordPlaceholder: "至少 8 个字符",
  setPassword: "注册",
  registered: "已注册。以后用名字和密码登录",
  signOutEverywhere: "在所有设备上退出",
  roomRateLimited: "创建聊天室太频繁了，请 {minutes} 分钟后再试",
  unreadCount: "{count} 条未读",
  mentionCount: "{count} 条消息提到你",
  mentionCountOne: "{count} 条消息提到你",
  onlineInRoom: "{count} 人在线",
  membersInRoom: "{count} 位成员",
  membersInRoomOne: "{count} 位成员",
  showSidebarUnread: "聊天室与在线用户（{count} 条未读）",
  today: "今天",
  yesterday: "昨天",
  charsLeft: "还能输入 {count} 字",
  charsOver: "超出 {count} 字",
  tooLongToSend: "消息太长，没有发送：{length}/{max} 字，请删掉 {over} 字",
  waiting: "等待连接",
  // Errors from the server (`error` field / `data.code`)
  err_name_taken: "这个名字已被使用，请换一个",
  err_invalid_name: "名字不能为空，最多 32 个字符，且不能含控制字符",
  err_forbidden_origin: "请求来自其他网站，已被拒绝",
  err_network: "无法连接服务器，请稍后再试",
  err_empty_message: "消息不能为空",
  err_too_long: "消息太长了",
  err_unknown_user: "没有这个用户",
  err_not_in_room: "你不在这个聊天室里",
  err_rate_limited: "发送太快了，请稍后",
  err_invalid_room: "聊天室名称无效",
  err_not_stored: "服务器没能保存这条消息，请重试",
  err_bad_credentials: "名字或密码不对",
  err_name_registered: "这个名字已注册，请输入它的密码",
  err_invalid_password: "密码需要 8 到 256 个字符",
  err_name_lost: "你不在的时候，别人用了你的名字，请换一个（你的聊天记录还在）",
  err_not_a_member: "你不在这个对话里",
  err_room_creation_limited: "新建的聊天室太多了，请稍后再建",
  err_room_limit_reached: "聊天室已达上限，无法再新建；请加入已有的聊天室",
  err_signin_rate_limited: "尝试次数太多，请 {seconds} 秒后再试",
  err_too_many_rooms: "加入的聊天室太多了，请先离开一个",
  err_not_signed_in: "你已退出，请重新进入",
  err_invalid_session: "登录状态无效，请重新进入",
  err_invalid_request: "请求无效",
  err_invalid_body: "请求无效",
  err_bad_frame: "服务器没能理解这条请求",
  err_internal_error: "服务器出错了，请重试",
  err_unavailable: "服务器暂时不可用，请稍后再试",
  err_unknown: "出错了：{message}",
} as const;

export type StringKey = keyof typeof zh;

const en: Record<StringKey, string> = {
  appName: "teahouse",
  lobby: "Lobby",
  lobbyTitle: "# Lobby",
  tagline: "A self-hosted realtime chat room",
  nameLabel: "Your name",
  signIn: "Sign in",
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
  joinedCount: "{count} joined",
  leftCount: "{count} left",
  moreMembers: "Show more",
  showMembers: "Show members",
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
  passwordLabel: "Password, if registered",
  passwordPlaceholder: "Guests leave this empty",
  register: "Register this name",
  registerHint:
    "A guest's name is freed a while after you leave; register it with a password to keep it and to sign in on other devices.",
  accountMenu: "Account",
  accountGuest: "Guest",
  accountMember: "Registered",
  registerPrompt: "Set a password to register “{name}”",
  newPasswordPlaceholder: "8 characters or more",
  setPassword: "Register",
  registered: "Registered. Sign in with your name and password from now on",
  signOutEverywhere: "Sign out everywhere",
  roomRateLimited: "Too many new rooms; try again in {minutes} min",
  unreadCount: "{count} unread",
  mentionCount: "{count} mentions",
  mentionCountOne: "{count} mention",
  onlineInRoom: "{count} online",
  membersInRoom: "{count} members",
  membersInRoomOne: "{count} member",
  showSidebarUnread: "Rooms and people online ({count} unread)",
  today: "Today",
  yesterday: "Yesterday",
  charsLeft: "{count} characters left",
  charsOver: "{count} characters over the limit",
  tooLongToSend: "Not sent: {length} of {max} characters; remove {over}",
  waiting: "Waiting for the connection",
  err_name_taken: "That name is in use; pick another",
  err_invalid_name: "Names are 1 to 32 characters, without control characters",
  err_forbidden_origin: "Refused: the request came from another site",
  err_network: "Cannot reach the server; try again in a moment",
  err_empty_message: "The message is empty",
  err_too_long: "The message is too long",
  err_unknown_user: "No such user",
  err_not_in_room: "You are not in this room",
  err_rate_limited: "Slow down a little",
  err_invalid_room: "That room name is not valid",
  err_not_stored: "The server could not store this message; retry",
  err_bad_credentials: "Wrong name or password",
  err_name_registered: "That name is registered: enter its password",
  err_invalid_password: "Passwords have 8 to 256 characters",
  err_name_lost: "Someone else took your name while you were away; pick another (your history is kept)",
  err_not_a_member: "You are not in this conversation",
  err_room_creation_limited: "Too many new rooms; try again later",
  err_room_limit_reached: "This server has as many rooms as it allows; join an existing one",
  err_signin_rate_limited: "Too many attempts; try again in {seconds} s",
  err_too_many_rooms: "You are in too many rooms; leave one first",
  err_not_signed_in: "You are signed out; sign in again",
  err_invalid_session: "Your session is not valid; sign in again",
  err_invalid_request: "Invalid request",
  err_invalid_body: "Invalid request",
  err_bad_frame: "The server did not understand that request",
  err_internal_error: "The server failed; try again",
  err_unavailable: "The server is unavailable; try again shortly",
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
