/**
 * xtext - RFC 3461 xtext encoding (Postfix global/xtext.c xtext_quote):
 * bytes outside "!".."~", "+" and "=" become "+XX" (upper-case hex).
 * The decoders for smtpd's command parsing are in src/smtpd/smtpd_addr.ts.
 */

/** xtextQuote - the UTF-8 bytes of text in xtext. */
export function xtextQuote(text: string): string {
  let out = '';
  for (const b of Buffer.from(text, 'utf8')) {
    out += b < 33 || b > 126 || b === 0x2b || b === 0x3d ? '+' + b.toString(16).toUpperCase().padStart(2, '0') : String.fromCharCode(b);
  }
  return out;
}
