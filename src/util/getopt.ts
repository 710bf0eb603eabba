/**
 * getopt - POSIX getopt(3) as glibc does it with a leading "+" (Postfix's
 * GETOPT() on Linux): options stop at the first non-option argument or at
 * "--"; unknown options and missing arguments print glibc's diagnostics on
 * stderr and return '?'.
 *
 * The state is explicit (an object), because sendmail scans its arguments
 * twice and looks at argv[optind] between calls for the non-getopt forms
 * "-q", "-V xx" and "-XV".
 */

export class Getopt {
  /** index of the next argv element */
  optind = 0;
  /** the argument of the last option that takes one */
  optarg = '';
  /** position inside a cluster of options ("-ti"); 0 = at the start of argv[optind] */
  private nextchar = 0;

  constructor(
    readonly argv: string[],
    readonly optstring: string,
    readonly progname: string,
    private readonly err: (text: string) => void = (t) => process.stderr.write(t),
  ) {}

  /** atStart - true when the next call starts a new argv element (so argv[optind] may be peeked at). */
  get atStart(): boolean {
    return this.nextchar === 0;
  }

  /** next - the next option character, '?' on error, or -1 at the end of the options. */
  next(): string | -1 {
    const argv = this.argv;
    if (this.nextchar === 0) {
      const arg = argv[this.optind];
      if (arg === undefined || arg.length < 2 || arg[0] !== '-') return -1;
      if (arg === '--') {
        this.optind++;
        return -1;
      }
      this.nextchar = 1;
    }
    const arg = argv[this.optind];
    const c = arg[this.nextchar++];
    const spec = c === ':' ? -1 : this.optstring.indexOf(c);
    const endOfCluster = this.nextchar >= arg.length;
    if (spec < 0) {
      this.err(`${this.progname}: invalid option -- '${c}'\n`);
      if (endOfCluster) this.advance();
      return '?';
    }
    if (this.optstring[spec + 1] === ':') {
      if (!endOfCluster) {
        this.optarg = arg.slice(this.nextchar);
        this.advance();
      } else if (this.optind + 1 < argv.length) {
        this.optarg = argv[this.optind + 1];
        this.optind += 2;
        this.nextchar = 0;
      } else {
        this.err(`${this.progname}: option requires an argument -- '${c}'\n`);
        this.advance();
        return '?';
      }
      return c;
    }
    if (endOfCluster) this.advance();
    return c;
  }

  private advance(): void {
    this.optind++;
    this.nextchar = 0;
  }
}

/**
 * getoptAll - every option up to the first operand, in order (an option
 * without an argument gets ""), and the operands; undefined after a bad
 * option or a missing argument, once glibc's diagnostic has been printed.
 */
export function getoptAll(
  argv: string[],
  optstring: string,
  progname: string,
): { opts: Array<[string, string]>; rest: string[] } | undefined {
  const g = new Getopt(argv, optstring, progname);
  const opts: Array<[string, string]> = [];
  for (let c = g.next(); c !== -1; c = g.next()) {
    if (c === '?') return undefined;
    const pos = optstring.indexOf(c);
    opts.push([c, optstring[pos + 1] === ':' ? g.optarg : '']);
  }
  return { opts, rest: argv.slice(g.optind) };
}
