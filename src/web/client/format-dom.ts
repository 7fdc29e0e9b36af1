/**
 * The formatted message (format.ts) as DOM nodes: elements by name,
 * attributes with setAttribute, every piece of text a text node. Nothing is
 * ever parsed as HTML.
 */
import { format, type FormatNode, type FormatOptions } from "./format";

/** The tree as a fragment, ready to append. */
export const toDom = (nodes: FormatNode[]): DocumentFragment => {
  const fragment = document.createDocumentFragment();
  for (const node of nodes) fragment.append(toNode(node));
  return fragment;
};

const toNode = (node: FormatNode): Node => {
  if (typeof node === "string") return document.createTextNode(node);
  const element = document.createElement(node.tag);
  for (const [name, value] of Object.entries(node.attrs ?? {})) element.setAttribute(name, value);
  for (const child of node.children) element.append(toNode(child));
  return element;
};

/** Fills `target` with the formatted text (replacing what was there): the message body's one way in. */
export const renderText = (target: HTMLElement, text: string, options: FormatOptions = {}): void => {
  target.replaceChildren(toDom(format(text, options)));
};
