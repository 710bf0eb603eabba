/**
 * smtp_mime - 8BITMIME downgrade of outgoing content (the downgrade mode of
 * Postfix's mime_state(3), used by smtp(8) when the server does not announce
 * 8BITMIME and the message is marked 8bit).
 *
 * The content is walked as MIME: header blocks, multipart boundaries and
 * message/rfc822 parts, nested up to mime_nesting_limit. A leaf part whose
 * Content-Transfer-Encoding is 8bit or binary is re-encoded as
 * quoted-printable; a multipart or message part with such an encoding is
 * relabelled 7bit (its own parts are converted where needed). In both cases
 * the old Content-Transfer-Encoding header is dropped and the new one is
 * written as the last header of that part, as Postfix does. Parts without an
 * 8bit/binary label pass unchanged, as do headers, preambles and epilogues.
 * Lines stream through one at a time; only one header (bounded) is held.
 */

/** Encoding domains of a part (mime_state's 7bit/8bit/binary). */
const enum Domain {
  SEVEN_BIT,
  EIGHT_BIT,
  BINARY,
}

/** A multipart container on the stack: its boundary and the default type of its parts. */
interface MultipartFrame {
  boundary: Buffer;
  digest: boolean;
}

/** What the current part's headers said. */
interface PartInfo {
  type: string;
  subtype: string;
  boundary: string | null;
  domain: Domain;
}

const HEADER_NAME = /^[!-9;-~]+[ \t]*:/;
const HEX = '0123456789ABCDEF';
/** Longest header (with its continuation lines) we interpret; longer ones pass unchanged. */
const MAX_HEADER = 102400;

export interface MimeDowngradeOptions {
  /** mime_nesting_limit: deeper structure is passed through without interpretation. */
  nestingLimit: number;
}

/**
 * qpEncodeLine - one input line as quoted-printable output lines: soft line
 * breaks keep lines within 76 characters, and trailing white space before the
 * hard line break is encoded.
 */
export function qpEncodeLine(line: Buffer): Buffer[] {
  const out: Buffer[] = [];
  // Worst case each byte becomes three; soft breaks reset the buffer long before that.
  const cur = Buffer.allocUnsafe(80);
  let len = 0;
  for (const ch of line) {
    if (len > 72) {
      cur[len++] = 0x3d;
      out.push(Buffer.from(cur.subarray(0, len)));
      len = 0;
    }
    if ((ch < 32 && ch !== 0x09) || ch === 0x3d || ch > 126) {
      cur[len++] = 0x3d;
      cur[len++] = HEX.charCodeAt(ch >> 4);
      cur[len++] = HEX.charCodeAt(ch & 0xf);
    } else {
      cur[len++] = ch;
    }
  }
  if (len > 0 && (cur[len - 1] === 0x20 || cur[len - 1] === 0x09)) {
    const ch = cur[--len];
    cur[len++] = 0x3d;
    cur[len++] = HEX.charCodeAt(ch >> 4);
    cur[len++] = HEX.charCodeAt(ch & 0xf);
  }
  out.push(Buffer.from(cur.subarray(0, len)));
  return out;
}

/** parseContentType - type, subtype and boundary of a Content-Type value (lower-cased type names). */
function parseContentType(value: string): { type: string; subtype: string; boundary: string | null } {
  const m = /^\s*([^\s/;()<>@,:\\"[\]?=]+)\s*(?:\/\s*([^\s/;()<>@,:\\"[\]?=]+))?/.exec(value);
  const type = m ? m[1].toLowerCase() : '';
  const subtype = m && m[2] ? m[2].toLowerCase() : '';
  let boundary: string | null = null;
  const b = /;\s*boundary\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s;]+))/i.exec(value);
  if (b) boundary = b[1] !== undefined ? b[1].replace(/\\(.)/g, '$1') : b[2];
  return { type, subtype, boundary };
}

function encodingDomain(value: string): Domain {
  const v = value.trim().toLowerCase().replace(/\s*\(.*$/, '');
  if (v === '8bit') return Domain.EIGHT_BIT;
  if (v === 'binary') return Domain.BINARY;
  return Domain.SEVEN_BIT;
}

function isContainer(p: PartInfo): boolean {
  return p.type === 'multipart' || p.type === 'message';
}

/**
 * mimeDowngrade - the message lines (without line ends) converted for a
 * 7-bit server. The first line starts the primary header.
 */
export async function* mimeDowngrade(src: AsyncIterable<Buffer>, opts: MimeDowngradeOptions): AsyncGenerator<Buffer> {
  const stack: MultipartFrame[] = [];
  let inHeader = true;
  let part: PartInfo = { type: 'text', subtype: 'plain', boundary: null, domain: Domain.SEVEN_BIT };
  let encodeBody = false;
  let nested = 0; // message/rfc822 levels inside the current multipart level
  let pending: Buffer[] = [];
  let pendingLen = 0;
  // Set by endHeaders for message/rfc822: the body starts with the enclosed message's header.
  let pendingBodyIsHeader = false;

  const newPart = (digest: boolean): void => {
    inHeader = true;
    part = digest
      ? { type: 'message', subtype: 'rfc822', boundary: null, domain: Domain.SEVEN_BIT }
      : { type: 'text', subtype: 'plain', boundary: null, domain: Domain.SEVEN_BIT };
    encodeBody = false;
  };

  /** takeHeader - interpret the pending header; true when it is kept in the output. */
  const takeHeader = (): boolean => {
    if (pendingLen > MAX_HEADER) return true;
    const text = Buffer.concat(pending).toString('latin1');
    const colon = text.indexOf(':');
    const name = text.slice(0, colon).trim().toLowerCase();
    const value = text.slice(colon + 1).replace(/\r?\n/g, '');
    if (name === 'content-type') {
      const ct = parseContentType(value);
      if (ct.type) {
        part.type = ct.type;
        part.subtype = ct.subtype;
      }
      part.boundary = ct.boundary;
    } else if (name === 'content-transfer-encoding') {
      const domain = encodingDomain(value);
      if (domain !== Domain.SEVEN_BIT) {
        part.domain = domain;
        return false; // replaced at the end of this header block
      }
    }
    return true;
  };

  function* flushPending(): Generator<Buffer> {
    if (pending.length === 0) return;
    if (takeHeader()) yield* pending;
    pending = [];
    pendingLen = 0;
  }

  /** endHeaders - the new Content-Transfer-Encoding, and the state for the body that follows. */
  function* endHeaders(): Generator<Buffer> {
    yield* flushPending();
    inHeader = false;
    if (part.domain !== Domain.SEVEN_BIT) {
      yield Buffer.from(`Content-Transfer-Encoding: ${isContainer(part) ? '7bit' : 'quoted-printable'}`);
    }
    const depth = stack.length + nested;
    if (part.type === 'multipart' && part.boundary && depth < opts.nestingLimit) {
      stack.push({ boundary: Buffer.from(part.boundary, 'latin1'), digest: part.subtype === 'digest' });
      nested = 0;
      encodeBody = false;
    } else if (part.type === 'message' && part.subtype === 'rfc822' && depth < opts.nestingLimit) {
      nested++;
      pendingBodyIsHeader = true;
    } else {
      encodeBody = part.domain !== Domain.SEVEN_BIT && !isContainer(part);
    }
  }

  /** boundaryMatch - the innermost enclosing multipart whose boundary starts this line, and whether it closes. */
  const boundaryMatch = (line: Buffer): { index: number; close: boolean } | null => {
    if (line.length < 2 || line[0] !== 0x2d || line[1] !== 0x2d) return null;
    for (let i = stack.length - 1; i >= 0; i--) {
      const b = stack[i].boundary;
      if (line.length >= 2 + b.length && line.subarray(2, 2 + b.length).equals(b)) {
        const close = line.length >= 4 + b.length && line[2 + b.length] === 0x2d && line[3 + b.length] === 0x2d;
        return { index: i, close };
      }
    }
    return null;
  };

  for await (const line of src) {
    if (inHeader) {
      if (pending.length > 0 && line.length > 0 && (line[0] === 0x20 || line[0] === 0x09)) {
        pending.push(line);
        pendingLen += line.length;
        continue;
      }
      yield* flushPending();
      if (line.length > 0 && HEADER_NAME.test(line.subarray(0, 256).toString('latin1'))) {
        pending = [line];
        pendingLen = line.length;
        continue;
      }
      yield* endHeaders();
      if (pendingBodyIsHeader) {
        pendingBodyIsHeader = false;
        newPart(false);
      }
      if (line.length === 0) {
        yield line;
        continue;
      }
      // A header block that ends without an empty line: this line already belongs to the body.
    }
    const match = stack.length > 0 ? boundaryMatch(line) : null;
    if (match) {
      const frame = stack[match.index];
      stack.length = match.close ? match.index : match.index + 1;
      nested = 0;
      yield line;
      if (match.close) {
        encodeBody = false; // epilogue
      } else {
        newPart(frame.digest);
      }
      continue;
    }
    if (encodeBody) yield* qpEncodeLine(line);
    else yield line;
  }
  yield* flushPending();
}
