/**
 * dsn_split - split "d.d.d text" into an enhanced status code and text,
 * with a default code when the text has none (Postfix global/dsn_util.c).
 */

const DSN_RE = /^([245])\.(\d{1,3})\.(\d{1,3})(?:\s+|$)/;

export function dsnValid(text: string): boolean {
  return DSN_RE.test(text);
}

/** dsnSplit - { dsn, text }; the default's class digit is kept if the text's code has another class. */
export function dsnSplit(defaultDsn: string, text: string): { dsn: string; text: string } {
  const m = DSN_RE.exec(text);
  if (!m) return { dsn: defaultDsn, text };
  return { dsn: `${m[1]}.${m[2]}.${m[3]}`, text: text.slice(m[0].length) };
}
