/**
 * intern - one shared copy of strings that many long-lived objects repeat
 * (no Postfix counterpart: C code points at one buffer where JavaScript
 * decodes a new string per record).
 *
 * qmgr keeps up to qmgr_message_active_limit messages in core, and the
 * sender and the client attributes of bulk mail are the same in thousands
 * of them. The table is bounded: when it is full it starts over, so a
 * stream of values that never repeat costs a map insert each and no more
 * memory than the values themselves.
 */

export class StringTable {
  private readonly kept = new Map<string, string>();

  constructor(private readonly limit = 4096) {}

  /** intern - the copy of text kept, or text itself, now kept. */
  intern(text: string): string {
    if (text === '') return text;
    const old = this.kept.get(text);
    if (old !== undefined) return old;
    if (this.kept.size >= this.limit) this.kept.clear();
    this.kept.set(text, text);
    return text;
  }
}
