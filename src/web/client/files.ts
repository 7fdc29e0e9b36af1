/**
 * Files in the page: how a message's file is shown (an image inline in a box of its real size,
 * reserved before it loads, lazily loaded, full size on click; anything else a card with its name,
 * size and a download link), and sending them — from the 📎 button, by pasting, or by dropping
 * onto the conversation — one after another, each with a progress bar and a cancel button (XHR:
 * fetch cannot report upload progress). The composer's text, if any, goes with the first file as
 * its caption. The size limit (the page's `data-max-file-bytes`) is shown before anyone tries, and
 * a file over it is refused here without a byte sent. The message itself arrives over the socket
 * like any other.
 */
import { Check } from "@sinclair/typebox/value";
import { ApiError, UploadAnswer, type FileRef } from "../../protocol";
import { errorKey, formatBytes } from "../i18n";
import { byId, el } from "./dom";
import { label, t } from "./text";

/** Widest and tallest an inline image is shown (CSS keeps the aspect ratio within these). */
const MAX_SHOWN_WIDTH = 320;
const MAX_SHOWN_HEIGHT = 320;

/** The box an image is shown in: its real aspect ratio, at most MAX_SHOWN_WIDTH × MAX_SHOWN_HEIGHT. */
export const shownSize = (width: number, height: number): { width: number; height: number } => {
  const scale = Math.min(1, MAX_SHOWN_WIDTH / width, MAX_SHOWN_HEIGHT / height);
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
};

/** The full-size viewer (a modal dialog; Escape, a click or its button closes it), made on first use. */
const viewer = (): { dialog: HTMLDialogElement; image: HTMLImageElement } => {
  const found = document.getElementById("viewer");
  if (found) return { dialog: found as HTMLDialogElement, image: found.querySelector("img")! };
  const image = el("img", { attrs: { alt: "" } });
  const close = label(el("button", { class: "ghost small", attrs: { type: "button" } }), "closeViewer");
  const dialog = el("dialog", { class: "viewer", attrs: { id: "viewer" } }, image, close);
  dialog.addEventListener("click", () => dialog.close());
  document.body.append(dialog);
  return { dialog, image };
};

/** Shows an image full size in the viewer. */
const openViewer = (file: FileRef): void => {
  const { dialog, image } = viewer();
  image.src = file.url;
  image.alt = file.name;
  image.width = file.width!;
  image.height = file.height!;
  if (!dialog.open) dialog.showModal();
};

/** A message's file: an image in a box of its shown size before it loads, or a download card. */
export const fileNode = (file: FileRef): HTMLElement => {
  if (file.width !== undefined && file.height !== undefined) {
    const size = shownSize(file.width, file.height);
    const image = el("img", {
      attrs: {
        src: file.url,
        alt: file.name,
        width: String(size.width),
        height: String(size.height),
        loading: "lazy",
        decoding: "async",
      },
    });
    const link = el(
      "a",
      { class: "file-image", attrs: { href: file.url, title: t("viewImage", { name: file.name }) } },
      image,
    );
    link.addEventListener("click", (event) => {
      if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
      event.preventDefault();
      openViewer(file);
    });
    return link;
  }
  const download = el("a", {
    class: "file-download",
    attrs: { href: `${file.url}?download=1`, download: file.name },
  });
  download.textContent = "⬇";
  download.setAttribute("aria-label", t("downloadFile", { name: file.name }));
  download.title = t("downloadFile", { name: file.name });
  return el(
    "div",
    { class: "file-card" },
    el("span", { class: "file-icon", text: "📄", attrs: { "aria-hidden": "true" } }),
    el("a", { class: "file-name", text: file.name, attrs: { href: `${file.url}?download=1`, download: file.name } }),
    el("span", { class: "file-size", text: formatBytes(file.size) }),
    download,
  );
};

/** Where uploads go now: `room=<name>` or `with=<id>`, or undefined when nowhere. */
export type UploadTargetOf = () => string | undefined;

interface Queued {
  file: File;
  caption: string;
  target: string;
  row: HTMLLIElement;
  bar: HTMLProgressElement;
  xhr?: XMLHttpRequest;
  cancelled: boolean;
}

/** Sends files to the active conversation, one at a time, each with its progress and cancel. */
export class Uploads {
  private readonly list = byId<HTMLUListElement>("uploads");
  private readonly input = byId<HTMLInputElement>("file-input");
  private readonly dropZone = byId("drop-zone");
  private readonly queue: Queued[] = [];
  private running: Queued | undefined;
  private dragDepth = 0;
  private readonly cleanups: Array<() => void> = [];

  constructor(
    private readonly maxBytes: number,
    private readonly target: UploadTargetOf,
    /** The composer's text, taken (and cleared) as the caption of the next files. */
    private readonly takeCaption: () => string,
    private readonly error: (message: string) => void,
  ) {
    const attach = byId("attach");
    const listen = <K extends keyof HTMLElementEventMap>(
      on: HTMLElement | Document,
      type: K,
      handler: (event: HTMLElementEventMap[K]) => void,
    ) => {
      on.addEventListener(type, handler as EventListener);
      this.cleanups.push(() => on.removeEventListener(type, handler as EventListener));
    };
    listen(attach, "click", () => this.input.click());
    listen(this.input, "change", () => {
      this.add([...(this.input.files ?? [])]);
      this.input.value = "";
    });
    const composer = byId("text");
    listen(composer, "paste", (event) => {
      const files = [...(event.clipboardData?.files ?? [])];
      if (files.length === 0) return;
      event.preventDefault();
      this.add(files);
    });
    const area = byId("room-view");
    const carriesFiles = (event: DragEvent) => [...(event.dataTransfer?.types ?? [])].includes("Files");
    listen(area, "dragenter", (event) => {
      if (!carriesFiles(event)) return;
      event.preventDefault();
      this.dragDepth++;
      this.dropZone.hidden = false;
    });
    listen(area, "dragover", (event) => {
      if (!carriesFiles(event)) return;
      event.preventDefault();
      if (event.dataTransfer) event.dataTransfer.dropEffect = "copy";
    });
    listen(area, "dragleave", (event) => {
      if (!carriesFiles(event)) return;
      this.dragDepth = Math.max(0, this.dragDepth - 1);
      if (this.dragDepth === 0) this.dropZone.hidden = true;
    });
    listen(area, "drop", (event) => {
      this.dragDepth = 0;
      this.dropZone.hidden = true;
      const files = [...(event.dataTransfer?.files ?? [])];
      if (files.length === 0) return;
      event.preventDefault();
      this.add(files);
    });
  }

  dispose(): void {
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    for (const item of [...this.queue.splice(0), ...(this.running ? [this.running] : [])]) {
      item.cancelled = true;
      item.xhr?.abort();
    }
    this.list.replaceChildren();
    this.list.hidden = true;
  }

  /** Queues files for the active conversation (the composer's text is the first one's caption). */
  add(files: readonly File[]): void {
    const target = this.target();
    if (!target || files.length === 0) return;
    const fitting = files.filter((file) => {
      if (file.size <= this.maxBytes) return true;
      this.error(
        t("fileTooLargeToSend", { name: file.name, size: formatBytes(file.size), limit: formatBytes(this.maxBytes) }),
      );
      return false;
    });
    if (fitting.length === 0) return;
    let caption = this.takeCaption();
    for (const file of fitting) {
      const bar = el("progress", { attrs: { max: "1", value: "0" } });
      const cancel = el("button", {
        class: "ghost small cancel-upload",
        text: "✕",
        attrs: { type: "button", "aria-label": t("cancelUpload"), title: t("cancelUpload") },
      });
      const row = el(
        "li",
        { class: "upload" },
        label(el("span", { class: "upload-name" }), "uploading", { name: file.name }),
        bar,
        cancel,
      );
      const item: Queued = { file, caption, target, row, bar, cancelled: false };
      caption = "";
      cancel.addEventListener("click", () => this.cancel(item));
      this.list.append(row);
      this.queue.push(item);
    }
    this.list.hidden = false;
    this.next();
  }

  private cancel(item: Queued): void {
    item.cancelled = true;
    item.xhr?.abort();
    const at = this.queue.indexOf(item);
    if (at >= 0) this.queue.splice(at, 1);
    this.finish(item);
  }

  private finish(item: Queued): void {
    item.row.remove();
    this.list.hidden = this.list.childElementCount === 0;
  }

  private next(): void {
    if (this.running) return;
    const item = this.queue.shift();
    if (!item) return;
    this.running = item;
    const xhr = new XMLHttpRequest();
    item.xhr = xhr;
    const form = new FormData();
    form.set("file", item.file, item.file.name || "pasted");
    if (item.caption.trim() !== "") form.set("caption", item.caption);
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) item.bar.value = event.loaded / event.total;
    });
    const done = (failure?: string) => {
      this.running = undefined;
      if (failure !== undefined && !item.cancelled)
        this.error(t("uploadFailed", { name: item.file.name, reason: failure }));
      this.finish(item);
      this.next();
    };
    xhr.addEventListener("load", () => {
      let answer: unknown;
      try {
        answer = JSON.parse(xhr.responseText);
      } catch {
        answer = undefined;
      }
      if (xhr.status === 200 && Check(UploadAnswer, answer)) return done();
      if (Check(ApiError, answer)) {
        const key = errorKey(answer.error);
        return done(key ? t(key) : answer.data);
      }
      done(xhr.status === 413 ? t("err_file_too_large") : `HTTP ${xhr.status}`);
    });
    xhr.addEventListener("error", () => done(t("err_unavailable")));
    xhr.addEventListener("abort", () => done());
    xhr.open("POST", `/files?${item.target}`);
    xhr.send(form);
  }
}
