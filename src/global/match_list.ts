/**
 * match_list - domain, host/address and address lists with Postfix matching
 * (Postfix util/match_list.c, match_ops.c; global/domain_list.c,
 * namadr_list.c, addr_match_list.c, string_list.c).
 *
 * A list is a parameter value such as `mynetworks = 127.0.0.0/8 [::1]/128
 * !192.168.1.1 192.168.0.0/16 /etc/postfix/networks cidr:/etc/postfix/n.cidr`.
 * Items are tried left to right; the first that matches decides, and a
 * `!item` that matches means "no match". `/file` items are replaced by the
 * file's contents (lines starting with `#` are comments); `type:table`
 * items are looked up. Host names match exactly, `.example.com` matches
 * subdomains, and when the parameter is listed in
 * parent_domain_matches_subdomains, `example.com` matches subdomains too.
 * Addresses match literally, as `[addr]`, or as CIDR `net/len`
 * (`[ipv6]/len`). A table error makes match() throw a MatchListError (after
 * a warning), so callers can defer instead of deciding wrongly.
 */

import { readFileSync } from 'node:fs';
import { msg } from '../util/msg.js';
import { DICT_FLAG, DictError, O_RDONLY, type Dict } from '../util/dict.js';
import { DictSurrogate, dictOpenShared } from '../util/dict_open.js';
import { strerror } from '../util/msg_logwriter.js';
import { cidrMatch, ipToBigint, parseCidr } from '../util/dict_cidr.js';
import { splitList, type MailConfig } from './mail_conf.js';

export class MatchListError extends DictError {
  constructor(message: string) {
    super(message);
    this.name = 'MatchListError';
  }
}

type Matcher = 'hostname' | 'hostaddr' | 'string';

interface Item {
  negate: boolean;
  pattern: string;
  dict?: Dict;
}

/**
 * isDictPattern - Postfix MATCH_DICTIONARY(): anything with a ':' that does
 * not start with '['. A bare IPv6 address is therefore a (bad) table name,
 * as in Postfix: write IPv6 addresses as [addr] or [net]/len.
 */
function isDictPattern(p: string): boolean {
  return p[0] !== '[' && p.includes(':');
}

export class MatchList {
  private readonly items: Item[] = [];
  readonly parent: boolean;

  /**
   * @param pname the parameter name (for parent_domain_matches_subdomains and messages)
   * @param value the list text
   * @param matchers which match functions apply, in order (Postfix match_list_init)
   * @param opts.parentMatches PDMS setting; default: pname in $parent_domain_matches_subdomains
   */
  constructor(
    readonly pname: string,
    value: string,
    readonly matchers: Matcher[],
    opts: { parentMatches?: boolean; config?: MailConfig; dictFlags?: number } = {},
  ) {
    this.parent =
      opts.parentMatches ??
      (opts.config ? splitList(opts.config.str('parent_domain_matches_subdomains')).includes(pname) : false);
    const dictFlags = opts.dictFlags ?? DICT_FLAG.LOCK | DICT_FLAG.FOLD_FIX | DICT_FLAG.UTF8_REQUEST;
    this.parse(value, dictFlags, 0);
  }

  private parse(value: string, dictFlags: number, depth: number): void {
    for (const raw of splitList(value)) {
      let item = raw;
      let negate = false;
      while (item.startsWith('!')) {
        negate = !negate;
        item = item.slice(1).trimStart();
      }
      if (item === '') {
        msg.fatal(`${this.pname}: no pattern after '!'`);
      }
      if (item.startsWith('/')) {
        if (depth > 10) msg.fatal(`${this.pname}: file inclusion too deep: ${item}`);
        let text: string;
        try {
          text = readFileSync(item, 'utf8');
        } catch (e) {
          // Postfix: an error now, and a table that fails every lookup.
          const reason = `open file ${item}: ${strerror(e)}`;
          msg.error(reason);
          this.items.push({ negate, pattern: item, dict: new DictSurrogate('non-existent', item, dictFlags | DICT_FLAG.PATTERN, reason) });
          continue;
        }
        const lines = text
          .split('\n')
          .filter((l) => !l.trimStart().startsWith('#'))
          .join('\n');
        if (negate) {
          // a negated file: every item in it is negated (Postfix applies ! to the file's items)
          const before = this.items.length;
          this.parse(lines, dictFlags, depth + 1);
          for (let i = before; i < this.items.length; i++) this.items[i].negate = !this.items[i].negate;
        } else {
          this.parse(lines, dictFlags, depth + 1);
        }
        continue;
      }
      if (isDictPattern(item)) {
        this.items.push({ negate, pattern: item, dict: dictOpenShared(item, O_RDONLY, dictFlags) });
        continue;
      }
      this.items.push({ negate, pattern: item.toLowerCase() });
    }
  }

  /** match - the list's verdict for the given strings (hostname list: [name], namadr: [name, addr]). */
  async match(...keys: string[]): Promise<boolean> {
    const folded = keys.map((k) => k.toLowerCase());
    for (const item of this.items) {
      for (let n = 0; n < this.matchers.length; n++) {
        const key = folded[n] ?? folded[0];
        if (key === undefined) continue;
        const hit = await this.matchOne(this.matchers[n], key, item);
        if (hit) return !item.negate;
      }
    }
    return false;
  }

  private async lookup(dict: Dict, key: string): Promise<boolean> {
    try {
      return (await dict.lookup(key)) !== null;
    } catch (e) {
      if (!(e instanceof DictError)) throw e;
      const text = `${this.pname}: ${dict.type}:${dict.name}: table lookup problem`;
      msg.warn(text);
      throw new MatchListError(text);
    }
  }

  private async matchOne(kind: Matcher, key: string, item: Item): Promise<boolean> {
    if (kind === 'string') {
      if (item.dict) return this.lookup(item.dict, key);
      return key === item.pattern;
    }
    if (kind === 'hostname') return this.matchHostname(key, item);
    return this.matchHostaddr(key, item);
  }

  private async matchHostname(name: string, item: Item): Promise<boolean> {
    if (item.dict) {
      const dict = item.dict;
      let entry = name;
      for (;;) {
        if (entry === name || dict.flags & DICT_FLAG.FIXED) {
          if (await this.lookup(dict, entry)) return true;
        }
        const dot = entry.indexOf('.', 1);
        if (dot < 0) return false;
        entry = this.parent ? entry.slice(dot + 1) : entry.slice(dot);
        if (entry === '') return false;
      }
    }
    const pattern = item.pattern;
    if (name === pattern) return true;
    if (this.parent) {
      const pd = name.length - pattern.length;
      if (pd > 0 && name[pd - 1] === '.' && name.slice(pd) === pattern) return true;
    } else if (pattern.startsWith('.')) {
      const pd = name.length - pattern.length;
      if (pd > 0 && name.slice(pd) === pattern) return true;
    }
    return false;
  }

  private async matchHostaddr(addr: string, item: Item): Promise<boolean> {
    if (!/^[0-9a-fA-F.:]+$/.test(addr)) return false;
    if (item.dict) return this.lookup(item.dict, addr);
    const pattern = item.pattern;
    if (pattern[0] !== '[') {
      if (addr === pattern) return true;
    } else if (pattern === `[${addr}]`) return true;
    if (addr.includes(':') !== pattern.includes(':')) return false;
    if (!/[:/]/.test(pattern)) return false;
    if (/^[0-9.]*$/.test(pattern)) return false;
    if (!/^[0-9a-fA-F.:[\]/]+$/.test(pattern)) return false;
    const cidr = parseCidr(pattern);
    if ('error' in cidr) {
      const text = `${this.pname}: ${cidr.error}`;
      msg.warn(text);
      throw new MatchListError(text);
    }
    return cidrMatch(cidr, ipToBigint(addr));
  }

  /** changed - a table of this list changed on disk. */
  changed(): string | undefined {
    for (const i of this.items) if (i.dict?.changed()) return `${i.dict.type}:${i.dict.name}`;
    return undefined;
  }
}

/** domainList - relay_domains, mydestination, ...: host names only (Postfix domain_list). */
export function domainList(pname: string, value: string, config?: MailConfig, parentMatches?: boolean): MatchList {
  return new MatchList(pname, value, ['hostname'], { config, parentMatches });
}

/** namadrList - client lists matched by name and address (Postfix namadr_list); match(name, addr). */
export function namadrList(pname: string, value: string, config?: MailConfig, parentMatches?: boolean): MatchList {
  return new MatchList(pname, value, ['hostname', 'hostaddr'], { config, parentMatches });
}

/** addrMatchList - mynetworks and other address-only lists (Postfix addr_match_list). */
export function addrMatchList(pname: string, value: string, config?: MailConfig, parentMatches?: boolean): MatchList {
  return new MatchList(pname, value, ['hostaddr'], { config, parentMatches });
}

/** stringList - plain string lists (Postfix string_list). */
export function stringList(pname: string, value: string, config?: MailConfig): MatchList {
  return new MatchList(pname, value, ['string'], { config, parentMatches: false });
}
