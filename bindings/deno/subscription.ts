/**
 * One iterator of `events()`: a queue its client's event pump fills.
 *
 * bindings/bun/subscription.ts and bindings/deno/subscription.ts are the same file (a test
 * checks it).
 */
import type { BuildNetEvent } from "./types.ts";

/** Every event pushed after it was made, until `return()` or `finish()`. */
export class Subscription implements AsyncIterableIterator<BuildNetEvent> {
  #queue: BuildNetEvent[] = [];
  #head = 0;
  #waiting: { resolve: (r: IteratorResult<BuildNetEvent>) => void; reject: (e: Error) => void }[] =
    [];
  #done = false;
  #error: Error | null = null;

  readonly #onClose: (sub: Subscription) => void;

  /** `onClose` is told once, when the iterator ends (by its consumer or by `finish()`). */
  constructor(onClose: (sub: Subscription) => void) {
    this.#onClose = onClose;
  }

  push(event: BuildNetEvent): void {
    if (this.#done) return;
    const waiter = this.#waiting.shift();
    if (waiter) waiter.resolve({ value: event, done: false });
    else this.#queue.push(event);
  }

  /** Ends the iterator after the events already queued (with `error` if given). */
  finish(error?: Error): void {
    if (this.#done) return;
    this.#done = true;
    this.#error = error ?? null;
    this.#onClose(this);
    for (const waiter of this.#waiting.splice(0)) {
      if (this.#error) {
        waiter.reject(this.#error);
        this.#error = null;
      } else {
        waiter.resolve({ value: undefined, done: true });
      }
    }
  }

  next(): Promise<IteratorResult<BuildNetEvent>> {
    if (this.#head < this.#queue.length) {
      const value = this.#queue[this.#head++];
      if (this.#head === this.#queue.length) {
        this.#queue = [];
        this.#head = 0;
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.#error) {
      const error = this.#error;
      this.#error = null;
      return Promise.reject(error);
    }
    if (this.#done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }

  return(): Promise<IteratorResult<BuildNetEvent>> {
    this.#queue = [];
    this.#head = 0;
    this.finish();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<BuildNetEvent> {
    return this;
  }
}
