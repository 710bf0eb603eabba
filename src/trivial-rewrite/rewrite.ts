/**
 * rewrite - address rewriting rules of trivial-rewrite (Postfix
 * trivial-rewrite/rewrite.c).
 *
 * Rules, in order: an empty address stays empty; a lone "@" becomes empty;
 * a source route "@a,@b:" is stripped; an address without "@" is turned
 * around with swap_bangpath (a!b -> b@a), promoted with allow_percent_hack
 * (user%domain -> user@domain), or completed with "@origin"
 * (append_at_myorigin); "user@host" gets ".domain" (append_dot_mydomain);
 * a trailing dot goes. The "local" context uses $myorigin and $mydomain,
 * the "remote" context uses $remote_header_rewrite_domain for both.
 */

import { quote822Local } from '../global/quote_822_local.js';
import {
  tok822Internalize,
  tok822Find,
  tok822Rfind,
  tok822Scan,
  tok822ScanAddr,
  type Tok822,
} from '../global/tok822.js';
import { msg } from '../util/msg.js';

export interface RewriteParams {
  swapBangpath: boolean;
  percentHack: boolean;
  appendAtMyorigin: boolean;
  appendDotMydomain: boolean;
}

export interface RewriteContext {
  /** value appended as "@origin" */
  origin: string;
  /** value appended as ".domain" */
  domain: string;
}

/** rewriteTree - apply the rules to a token list (returns a new list). */
export function rewriteTree(p: RewriteParams, ctx: RewriteContext, input: Tok822[]): Tok822[] {
  let tree = input.slice();
  if (tree.length === 0) throw new Error('rewrite_tree: empty tree');
  // An empty address is a special case.
  if (tree.length === 1 && tree[0].type === 'qstring' && tree[0].text === '') return tree;
  // Treat a lone @ as if it were an empty address.
  if (tree.length === 1 && tree[0].type === '@') return [{ type: 'qstring', text: '' }];
  // Strip source route.
  if (tree[0].type === '@') {
    const colon = tok822Find(tree, ':');
    if (colon >= 0 && colon !== tree.length - 1) tree = tree.slice(colon + 1);
  }
  // Optionally, transform address forms without @.
  if (tok822Rfind(tree, '@') < 0) {
    const bang = p.swapBangpath ? tok822Find(tree, '!') : -1;
    const pct = p.percentHack ? tok822Rfind(tree, '%') : -1;
    if (bang >= 0) {
      tree = [...tree.slice(bang + 1), { type: '@', text: '' }, ...tree.slice(0, bang)];
    } else if (pct >= 0) {
      tree[pct] = { type: '@', text: '' };
    } else if (p.appendAtMyorigin && ctx.origin) {
      tree.push({ type: '@', text: '' }, ...tok822Scan(ctx.origin));
    }
  }
  // Append missing .domain, but leave broken forms ending in @ alone.
  const at = tok822Rfind(tree, '@');
  if (
    p.appendDotMydomain &&
    ctx.domain &&
    at >= 0 &&
    at !== tree.length - 1 &&
    tok822Find(tree, 'domlit', at) < 0 &&
    tok822Find(tree, '.', at) < 0
  ) {
    tree.push({ type: '.', text: '' }, ...tok822Scan(ctx.domain));
  }
  // Strip trailing dot at end of domain, but not dot-dot or @-dot.
  const n = tree.length;
  if (n > 1 && tree[n - 1].type === '.' && tree[n - 2].type !== '.' && tree[n - 2].type !== '@') tree.pop();
  return tree;
}

/** rewriteAddr - rewrite an externalized address; returns the externalized result. */
export function rewriteAddr(p: RewriteParams, ctx: RewriteContext, address: string): string {
  if (address === '') {
    msg.warn('rewrite_addr: null address');
    return address;
  }
  const tree = tok822ScanAddr(address);
  if (tree.length === 0) return address;
  // The tree is one address node: externalize = internalize + quote the local part.
  return quote822Local(tok822Internalize(rewriteTree(p, ctx, tree)));
}
