/**
 * One iterator of `events()`, over an event stream of its own (buildnet_events_open).
 *
 * One source for the Bun and the Deno package (bindings/ffi-common; sync.sh copies it into
 * each). Each runtime supplies how its stream is read (an EventSource); this file keeps the
 * async-iterator protocol: calls to next() are answered in order, one read at a time, and the
 * stream is closed once, by whichever comes first: return() (or `break`), the client's
 * destroy() (through end()), the stream ending (its daemon was closed) or a failed read.
 */
import type { BuildNetEvent } from "./types.ts";

/** One open event stream, as a runtime reads it. */
export interface EventSource {
  /**
   * The next event, waiting as long as it takes; null once the stream has ended (close() was
   * called, or its daemon was closed). Throws a BuildNetError if reading fails.
   */
  next(): Promise<BuildNetEvent | null>;
  /** Closes the stream; a next() in progress then gives null soon. Called once. */
  close(): void;
}

function done(): IteratorResult<BuildNetEvent> {
  return { value: undefined, done: true };
}

/** Every event of its stream, from when the stream was opened until the iterator ends. */
export class EventIterator implements AsyncIterableIterator<BuildNetEvent> {
  readonly #source: EventSource;
  readonly #onEnd: (it: EventIterator) => void;
  #ended = false;
  /** Settles once every call made so far is answered: each call waits for the one before. */
  #last: Promise<unknown> = Promise.resolve();

  /** `onEnd` is told once, when the iterator ends, before its stream is closed. */
  constructor(source: EventSource, onEnd: (it: EventIterator) => void) {
    this.#source = source;
    this.#onEnd = onEnd;
  }

  next(): Promise<IteratorResult<BuildNetEvent>> {
    return this.#inTurn(() => this.#read());
  }

  /** Ends the iterator; answered after the calls before it, which the end wakes. */
  return(): Promise<IteratorResult<BuildNetEvent>> {
    this.end();
    return this.#inTurn(() => done());
  }

  /** Ends the iterator and closes its stream, once; a waiting next() then answers done. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#onEnd(this);
    this.#source.close();
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<BuildNetEvent> {
    return this;
  }

  #inTurn(
    call: () => IteratorResult<BuildNetEvent> | Promise<IteratorResult<BuildNetEvent>>,
  ): Promise<IteratorResult<BuildNetEvent>> {
    const answer = this.#last.then(call);
    this.#last = answer.catch(() => {});
    return answer;
  }

  async #read(): Promise<IteratorResult<BuildNetEvent>> {
    if (this.#ended) return done();
    let event: BuildNetEvent | null;
    try {
      event = await this.#source.next();
    } catch (error) {
      this.end();
      throw error;
    }
    // An event read as the iterator was being ended comes too late: it is dropped.
    if (event === null || this.#ended) {
      this.end();
      return done();
    }
    return { value: event, done: false };
  }
}
