/**
 * Tiny DOM helpers. Text always goes in through `textContent`: nothing in the
 * client ever assigns HTML, so names and messages cannot inject markup.
 */

/** The element with this id; throws when the page shell lacks it (a bug, not a runtime condition). */
export const byId = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing from the page`);
  return element as T;
};

export interface ElementOptions {
  class?: string;
  text?: string;
  attrs?: Record<string, string>;
}

/** Creates an element with a class, text content and attributes. */
export const el = <K extends keyof HTMLElementTagNameMap>(
  tag: K,
  options: ElementOptions = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] => {
  const element = document.createElement(tag);
  if (options.class) element.className = options.class;
  if (options.text !== undefined) element.textContent = options.text;
  for (const [name, value] of Object.entries(options.attrs ?? {})) element.setAttribute(name, value);
  element.append(...children);
  return element;
};

/** The first user-perceived character of a name, upper-cased (for avatars). */
export const initial = (name: string): string => {
  const first =
    typeof Intl.Segmenter === "function"
      ? new Intl.Segmenter().segment(name)[Symbol.iterator]().next().value?.segment
      : [...name][0];
  return (first ?? "?").toLocaleUpperCase();
};
