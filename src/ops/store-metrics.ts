/**
 * Store write metrics without touching the store: wraps a MessageStore's
 * `commit` (one transaction per batch of messages) to time it and count what
 * it wrote. Called once by the composition root.
 */
import type { MessageStore } from "../store/messages";
import type { Metrics } from "./metrics";

export const observeStoreWrites = (store: MessageStore, metrics: Metrics): void => {
  const commit = store.commit.bind(store);
  store.commit = (records) => {
    const startedAt = performance.now();
    commit(records);
    metrics.storeWrite((performance.now() - startedAt) / 1000);
    metrics.messagesStored(records.length);
  };
};
