/**
 * smtpd_token - split an SMTP command line into tokens (Postfix
 * smtpd/smtpd_token.c).
 *
 * Whitespace separates tokens, except inside <...> and "..." (which may
 * nest: "<a<b>>" is one token). "from:" and "to:" end a token so that
 * "MAIL FROM:<a@b>" gives MAIL, FROM:, <a@b>. An unterminated quote or
 * angle bracket marks the token as an error token (SMTPD_TOK_ERROR).
 */

export const TOK_OTHER = 0;
export const TOK_ADDR = 1;
export const TOK_ERROR = 2;

export interface SmtpdToken {
  strval: string;
  tokval: number;
}

/** quoted - copy a <...> or "..." construct; returns the new position. */
function quoted(s: string, pos: number, tok: { buf: string; tokval: number }, start: string, last: string): number {
  const stack: string[] = [last];
  let wanted = last;
  tok.buf += start;
  while (pos < s.length) {
    const c = s[pos++];
    tok.buf += c;
    if (c === '\\') {
      if (pos >= s.length) break;
      tok.buf += s[pos++];
    } else if (c === wanted) {
      if (stack.length === 1) return pos;
      stack.pop();
      wanted = stack[stack.length - 1];
    } else if (c === '"') {
      stack.push((wanted = '"'));
    } else if (c === '<' && wanted === '>') {
      stack.push((wanted = '>'));
    }
  }
  tok.tokval = TOK_ERROR;
  return pos;
}

/** smtpdToken - the tokens of one command line. */
export function smtpdToken(line: string): SmtpdToken[] {
  const out: SmtpdToken[] = [];
  let pos = 0;
  const isSpace = (c: string) => c === ' ' || c === '\t' || c === '\r' || c === '\n' || c === '\v' || c === '\f';
  while (pos < line.length) {
    const tok = { buf: '', tokval: TOK_OTHER };
    while (pos < line.length) {
      const c = line[pos++];
      if (isSpace(c)) {
        while (pos < line.length && isSpace(line[pos])) pos++;
        if (tok.buf.length > 0) break;
      } else if (c === '<') {
        pos = quoted(line, pos, tok, c, '>');
      } else if (c === '"') {
        pos = quoted(line, pos, tok, c, c);
      } else if (c === ':') {
        tok.buf += c;
        const lower = tok.buf.toLowerCase();
        if (lower === 'to:' || lower === 'from:') break;
      } else {
        if (c === '\\') {
          tok.buf += c;
          if (pos >= line.length) break;
          tok.buf += line[pos++];
          continue;
        }
        tok.buf += c;
      }
    }
    if (tok.buf.length === 0) break;
    out.push({ strval: tok.buf, tokval: tok.tokval });
  }
  return out;
}
