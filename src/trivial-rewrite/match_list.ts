/**
 * match_list - string and domain lists as used for $mydestination,
 * $relay_domains, $virtual_alias_domains and $virtual_mailbox_domains
 * (Postfix util/match_list.c, match_ops.c, global/string_list.c,
 * domain_list.c).
 *
 * Items are names (case-insensitive), "!name" (negation: stop, no match),
 * "/file/name" (the file's words become items) and "type:table" (the name
 * is looked up as a key). In a domain list ".example.com" matches
 * subdomains, and with parent-style matching (relay_domains is listed in
 * parent_domain_matches_subdomains by default) "example.com" does too.
 */

import { readFileSync } from 'node:fs';
import { splitList } from '../global/mail_conf.js';
import { openMaps, type MapsLike } from '../cleanup/maps_adapter.js';

type Item = { negate: boolean; name?: string; maps?: MapsLike };

export class MatchList {
  private constructor(
    readonly title: string,
    private readonly items: Item[],
    private readonly domainStyle: boolean,
    private readonly parentStyle: boolean,
  ) {}

  /** create - parse a list value; domainStyle for domain_list_match semantics. */
  static async create(title: string, value: string, domainStyle = false, parentStyle = false): Promise<MatchList> {
    const items: Item[] = [];
    const add = async (word: string) => {
      let negate = false;
      while (word.startsWith('!')) {
        negate = !negate;
        word = word.slice(1);
      }
      if (word.startsWith('/')) {
        let text: string;
        try {
          text = readFileSync(word, 'utf8');
        } catch (e) {
          throw new Error(`${title}: open file ${word}: ${(e as Error).message}`);
        }
        for (const line of text.split('\n')) {
          const l = line.replace(/#.*/, '').trim();
          if (l) for (const w of splitList(l)) await add(negate ? '!' + w : w);
        }
        return;
      }
      if (/^[A-Za-z0-9_-]+:/.test(word) && !/^\[/.test(word)) {
        const maps = await openMaps(title, word);
        if (maps) items.push({ negate, maps });
        return;
      }
      items.push({ negate, name: word.toLowerCase() });
    };
    for (const w of splitList(value)) await add(w);
    return new MatchList(title, items, domainStyle, parentStyle);
  }

  get empty(): boolean {
    return this.items.length === 0;
  }

  /** match - does the name match? Throws when a table lookup fails. */
  async match(name: string): Promise<boolean> {
    const key = name.toLowerCase();
    for (const it of this.items) {
      let hit = false;
      if (it.name !== undefined) {
        hit = it.name === key;
        if (!hit && this.domainStyle) {
          // parent style: "example.com" also matches subdomains, ".example.com" is not special
          if (this.parentStyle) hit = key.endsWith('.' + it.name);
          else if (it.name.startsWith('.')) hit = key.endsWith(it.name);
        }
      } else if (it.maps) {
        hit = (await it.maps.lookup(key)) !== null;
        if (!hit && this.domainStyle) {
          // parent domains: .parent (or parent with parent-style matching)
          let d = key;
          for (let dot = d.indexOf('.'); dot >= 0 && !hit; dot = d.indexOf('.')) {
            d = d.slice(dot + 1);
            if (!d) break;
            hit = (await it.maps.lookupPartial(this.parentStyle ? d : '.' + d)) !== null;
          }
        }
      }
      if (hit) return !it.negate;
    }
    return false;
  }
}
