/**
 * The client's current language: `t()` for strings, `relabel()` to switch.
 * Static and dynamic elements carry `data-i18n` (+ `data-i18n-args`, a JSON
 * object of placeholder values), `data-i18n-placeholder` or `data-i18n-label`,
 * so a switch rewrites them in place — always as text, never as HTML.
 */
import { format, HTML_LANG, isLang, LANG_COOKIE, type Lang, type StringKey } from "../i18n";

let current: Lang = isLang(document.body.dataset.lang) ? document.body.dataset.lang : "zh";

export const lang = (): Lang => current;
export const t = (key: StringKey, params?: Record<string, string | number>): string => format(current, key, params);

/** Marks an element so a language switch re-renders its text; sets the text now. */
export const label = <T extends HTMLElement>(
  element: T,
  key: StringKey,
  params?: Record<string, string | number>,
): T => {
  element.dataset.i18n = key;
  if (params) element.dataset.i18nArgs = JSON.stringify(params);
  else delete element.dataset.i18nArgs;
  element.textContent = t(key, params);
  return element;
};

const argsOf = (element: HTMLElement): Record<string, string | number> | undefined =>
  element.dataset.i18nArgs ? (JSON.parse(element.dataset.i18nArgs) as Record<string, string | number>) : undefined;

/** Rewrites every labelled element under `root` in the current language. */
export const relabel = (root: ParentNode = document): void => {
  for (const element of root.querySelectorAll<HTMLElement>("[data-i18n]"))
    element.textContent = t(element.dataset.i18n as StringKey, argsOf(element));
  for (const element of root.querySelectorAll<HTMLElement>("[data-i18n-placeholder]"))
    element.setAttribute("placeholder", t(element.dataset.i18nPlaceholder as StringKey));
  for (const element of root.querySelectorAll<HTMLElement>("[data-i18n-label]"))
    element.setAttribute("aria-label", t(element.dataset.i18nLabel as StringKey, argsOf(element)));
};

/** Switches language: remembered in a cookie so the server renders the next page in it too. */
export const setLang = (next: Lang): void => {
  current = next;
  document.body.dataset.lang = next;
  document.documentElement.lang = HTML_LANG[next];
  document.cookie = `${LANG_COOKIE}=${next}; path=/; max-age=${365 * 24 * 3600}; samesite=lax`;
  document.title = t("appName");
  relabel();
};
