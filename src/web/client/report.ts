/**
 * Reporting someone else's message to the admins (`POST /reports`): the toolbar's "Report" opens a
 * small form under the message asking why; the answer (reported, or why not) shows in its place.
 */
import { REPORT_REASON_MAX_LENGTH } from "../../domain/moderation";
import { request } from "./api";
import { errorText } from "./chat";
import { el } from "./dom";
import { label, t } from "./text";

/** How long "Reported to the admins" stays under the message. */
const DONE_SHOWN_MS = 4000;

/** Opens the report form under the message whose toolbar is `bar` (or focuses the open one). */
export const askReport = (bar: HTMLElement, messageId: number): void => {
  const node = bar.closest<HTMLElement>("li.message");
  if (!node) return;
  const open = node.querySelector<HTMLInputElement>(".report-form input");
  if (open) return open.focus();
  const inputId = `report-reason-${messageId}`;
  const input = el("input", {
    attrs: { id: inputId, maxlength: String(REPORT_REASON_MAX_LENGTH), autocomplete: "off", enterkeyhint: "send" },
  });
  input.dataset.i18nPlaceholder = "reportPlaceholder";
  const status = el("p", { class: "error", attrs: { role: "alert" } });
  const send = label(el("button", { class: "primary small report-send", attrs: { type: "submit" } }), "reportSend");
  const cancel = label(el("button", { class: "ghost small report-cancel", attrs: { type: "button" } }), "cancel");
  const form = el(
    "form",
    { class: "report-form" },
    label(el("label", { attrs: { for: inputId } }), "reportReason"),
    el("div", { class: "report-row" }, input, send, cancel),
    status,
  );
  input.placeholder = t("reportPlaceholder");
  /** Removes the form; focus goes back to the message if it was in the form. */
  const close = (): void => {
    const focused = form.contains(document.activeElement);
    form.remove();
    node.classList.remove("reporting");
    if (focused) node.querySelector<HTMLElement>(".bubble")?.focus();
  };
  cancel.addEventListener("click", close);
  input.addEventListener("input", () => {
    delete status.dataset.i18n;
    status.textContent = "";
  });
  form.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.stopPropagation();
      close();
    }
  });
  // A click in the form is not a tap on the message (which toggles its toolbar).
  form.addEventListener("click", (event) => event.stopPropagation());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const reason = input.value.trim();
    if (reason === "") {
      label(status, "err_invalid_reason");
      return input.focus();
    }
    send.disabled = true;
    const answer = await request("POST", "/reports", { message: messageId, reason });
    send.disabled = false;
    if (!answer.ok) {
      delete status.dataset.i18n;
      status.textContent = errorText(answer.error, answer.message);
      return input.focus();
    }
    const done = label(el("p", { class: "notice report-done", attrs: { role: "status" } }), "reportDone");
    form.replaceChildren(done);
    node.querySelector<HTMLElement>(".bubble")?.focus();
    setTimeout(close, DONE_SHOWN_MS);
  });
  node.classList.add("reporting");
  node.append(form);
  input.focus();
};
