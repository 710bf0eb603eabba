/*
 * sendmail_fast - the native submission path of sendmail (Postfix
 * sendmail(1) delivery mode + postdrop(1)); see docs/sendmail.md.
 *
 * Why C: every Node process costs 50-60 ms before it runs a line of ours,
 * and a plain `sendmail -t -i` must cost about what Postfix's does (issue 7,
 * W3). This program does ONE thing: plain delivery mode
 *
 *     sendmail [-t] [-i|-oi] [-f sender|-r sender] [-F name] [-C dir] [-G]
 *              [-B 8BITMIME|7BIT] [-bm] [-om|-o7|-o8] [--] [recipient ...]
 *
 * and writes exactly the maildrop file that src/sendmail/sendmail.ts with
 * src/postdrop/maildrop.ts writes (the TypeScript code is the reference; the
 * tests in test/sendmail_native/ compare the bytes). Everything else - other
 * modes and options, a main.cf value that would need $name expansion, a
 * table lookup, anything this program cannot do exactly - is handed to the
 * Node implementation with execvp() before standard input is touched. With
 * -t, a problem that shows only in the headers (too long, no recipients)
 * is handed over too: the input read so far is replayed to Node through a
 * pipe, so the diagnostics are Node's own.
 *
 * Calling convention (bin/sendmail, a sh/JS polyglot, runs us):
 *     sendmail_fast ORIGINAL_ARGV0 [arguments ...]
 * The fallback runs `node ORIGINAL_ARGV0 arguments...`, i.e. the same shim
 * as JavaScript, so the program name (sendmail, mailq, newaliases) is kept.
 * POSTFIX_TS_SENDMAIL_NODE=1 in the environment forces the Node path;
 * with POSTFIX_TS_SENDMAIL_TRACE=1 a hand-over says so on stderr (tests).
 *
 * Input is untrusted: lines are cut at $line_length_limit, a -t header at
 * $header_size_limit, the file at $message_size_limit; no fixed-size buffer
 * takes unbounded data. C99 + POSIX, libc only.
 */

#define _POSIX_C_SOURCE 200809L
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef NODE_EXEC_PATH
#define NODE_EXEC_PATH "/usr/bin/node"
#endif
#ifndef DEF_LINE_LENGTH_LIMIT
#define DEF_LINE_LENGTH_LIMIT "2048"
#endif
#ifndef DEF_HEADER_SIZE_LIMIT
#define DEF_HEADER_SIZE_LIMIT "102400"
#endif
#ifndef DEF_MESSAGE_SIZE_LIMIT
#define DEF_MESSAGE_SIZE_LIMIT "10240000"
#endif
#ifndef DEF_HASH_QUEUE_NAMES
#define DEF_HASH_QUEUE_NAMES "deferred, defer"
#endif
#ifndef DEF_HASH_QUEUE_DEPTH
#define DEF_HASH_QUEUE_DEPTH "1"
#endif
#ifndef DEF_ENABLE_LONG_QUEUE_IDS
#define DEF_ENABLE_LONG_QUEUE_IDS "no"
#endif
#ifndef DEF_SENDMAIL_FIX_LINE_ENDINGS
#define DEF_SENDMAIL_FIX_LINE_ENDINGS "always"
#endif
#ifndef DEF_AUTHORIZED_SUBMIT_USERS
#define DEF_AUTHORIZED_SUBMIT_USERS "static:anyone"
#endif
#ifndef DEF_LOCAL_LOGIN_SENDER_MAPS
#define DEF_LOCAL_LOGIN_SENDER_MAPS "static:*"
#endif
#ifndef DEF_PICKUP_SERVICE_NAME
#define DEF_PICKUP_SERVICE_NAME "pickup"
#endif
#ifndef DEF_MAILLOG_FILE
#define DEF_MAILLOG_FILE ""
#endif
#ifndef DEF_MAILLOG_FILE_PREFIXES
#define DEF_MAILLOG_FILE_PREFIXES "/var, /dev/stdout"
#endif
#ifndef DEF_SYSLOG_FACILITY
#define DEF_SYSLOG_FACILITY "mail"
#endif
/* Postfix's compiled-in directories; install.json (Makefile.ts install) may change them */
#define UPSTREAM_CONFIG_DIR "/etc/postfix"
#define UPSTREAM_QUEUE_DIR "/var/spool/postfix"

#define EX_TEMPFAIL 75

/* record types (src/global/rec_type.ts) */
#define REC_TIME 'T'
#define REC_FULL 'F'
#define REC_FROM 'S'
#define REC_RCPT 'R'
#define REC_ATTR 'A'
#define REC_MESG 'M'
#define REC_CONT 'L'
#define REC_NORM 'N'
#define REC_XTRA 'X'
#define REC_END 'E'

#define MAX_MAIN_CF (4 * 1024 * 1024)
#define MAX_PASSWD (4 * 1024 * 1024)
#define MAX_REPLAY (8 * 1024 * 1024)
#define TOKEN_LIMIT 10240
#define OUT_BUF_SIZE (64 * 1024)
#define IN_BUF_SIZE (256 * 1024)

typedef unsigned char uchar;

#if defined(__GNUC__) || defined(__clang__)
#define NORETURN __attribute__((noreturn))
#else
#define NORETURN
#endif

/* ------------------------------------------------------------------ */
/* process-wide state                                                 */

static int g_argc;
static char **g_argv;           /* g_argv[1] = original argv[0] */
static const char *g_progname = "sendmail";
static char g_selfdir[PATH_MAX]; /* directory of this executable */
static char g_config_dir[PATH_MAX];

/* the queue file to remove on a signal or an error */
static volatile sig_atomic_t g_have_cleanup;
static char g_cleanup_path[PATH_MAX];

/* -t replay: every byte read from fd 0 while recording */
static uchar *g_replay;
static size_t g_replay_len, g_replay_cap;
static int g_recording;

/* ------------------------------------------------------------------ */
/* small growable byte buffer                                         */

struct buf {
    uchar *p;
    size_t len, cap;
};

static NORETURN void die_nomem(void);

static void buf_reserve(struct buf *b, size_t extra)
{
    size_t need, cap;

    if (extra > (size_t) -1 / 2 - b->len)
        die_nomem();
    need = b->len + extra;
    if (need <= b->cap)
        return;
    cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    {
        uchar *p = realloc(b->p, cap);

        if (p == 0)
            die_nomem();
        b->p = p;
    }
    b->cap = cap;
}

static void buf_add(struct buf *b, const void *data, size_t len)
{
    buf_reserve(b, len + 1);
    if (len)
        memcpy(b->p + b->len, data, len);
    b->len += len;
    b->p[b->len] = 0;
}

static void buf_addc(struct buf *b, int c)
{
    uchar ch = (uchar) c;

    buf_add(b, &ch, 1);
}

static void buf_adds(struct buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

/* ------------------------------------------------------------------ */
/* output                                                             */

static void write_fd_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        p += n;
        len -= (size_t) n;
    }
}

/* say - "name: text\n" on stderr (submit_common.ts stderrOutput) */
static void say(const char *name, const char *text)
{
    struct buf b = {0, 0, 0};

    buf_adds(&b, name);
    buf_adds(&b, ": ");
    buf_adds(&b, text);
    buf_addc(&b, '\n');
    write_fd_all(2, (const char *) b.p, b.len);
    free(b.p);
}

/* ------------------------------------------------------------------ */
/* the Node path                                                      */

static void reset_signals(void)
{
    static const int sigs[] = {SIGINT, SIGQUIT, SIGTERM, SIGHUP};
    size_t i;

    for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        signal(sigs[i], SIG_DFL);
}

/* exec_node_argv - exec node (from $PATH, else the node that built us) with default signals; returns only on failure */
static void exec_node_argv(char **av)
{
    reset_signals();
    execvp("node", av);
    execv(NODE_EXEC_PATH, av);
}

/* exec_node - run `node ORIGINAL_ARGV0 args...`; returns only on failure */
static void exec_node(void)
{
    char **av = calloc((size_t) g_argc + 1, sizeof(char *));
    int i;

    if (av == 0)
        die_nomem();
    av[0] = "node";
    for (i = 1; i < g_argc; i++)
        av[i] = g_argv[i];
    av[g_argc] = 0;
    exec_node_argv(av);
    {
        char text[512];

        snprintf(text, sizeof(text), "fatal: execvp node: %s", strerror(errno));
        say(g_progname, text);
    }
    free(av);
}

/* fallback - hand the whole request to Node, stdin untouched */
static NORETURN void fallback(void)
{
    const char *trace = getenv("POSTFIX_TS_SENDMAIL_TRACE");

    if (trace && *trace)
        say("sendmail_fast", "trace: running the Node implementation");
    exec_node();
    _exit(EX_TEMPFAIL);
}

static NORETURN void die_nomem(void)
{
    /* no allocation on this path */
    write_fd_all(2, g_progname, strlen(g_progname));
    write_fd_all(2, ": fatal: out of memory\n", 23);
    if (g_have_cleanup)
        unlink(g_cleanup_path);
    _exit(EX_TEMPFAIL);
}

/*
 * replay_fallback - the queue file is removed; Node gets everything read
 * so far followed by the rest of fd 0, through a pipe fed by a child.
 */
static void replay_fallback(void)
{
    int pfd[2];
    pid_t pid;

    if (g_have_cleanup) {
        unlink(g_cleanup_path);
        g_have_cleanup = 0;
    }
    if (pipe(pfd) < 0)
        fallback();
    pid = fork();
    if (pid < 0)
        fallback();
    if (pid == 0) {
        uchar *chunk;
        ssize_t n;

        close(pfd[0]);
        signal(SIGPIPE, SIG_IGN);
        reset_signals();
        write_fd_all(pfd[1], (const char *) g_replay, g_replay_len);
        chunk = malloc(65536);
        if (chunk == 0)
            _exit(1);
        for (;;) {
            n = read(0, chunk, 65536);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && errno == EAGAIN) {
                struct pollfd p = {0, POLLIN, 0};

                poll(&p, 1, -1);
                continue;
            }
            if (n <= 0)
                break;
            write_fd_all(pfd[1], (const char *) chunk, (size_t) n);
        }
        _exit(0);
    }
    close(pfd[1]);
    if (dup2(pfd[0], 0) < 0)
        _exit(EX_TEMPFAIL);
    close(pfd[0]);
    fallback();
}

/* ------------------------------------------------------------------ */
/* helpers                                                            */

static int is_utf8(const uchar *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        uchar c = s[i];
        size_t k, len;
        unsigned long cp;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            cp = c & 0x07;
        } else
            return 0;
        if (i + len > n)
            return 0;
        for (k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
            return 0;
        i += len;
    }
    return 1;
}

static int is_space_ascii(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* trimmed_is - v, without leading and trailing white space, is want */
static int trimmed_is(const char *v, const char *want)
{
    size_t a, b;

    for (a = 0; is_space_ascii((uchar) v[a]); a++)
        ;
    for (b = strlen(v); b > a && is_space_ascii((uchar) v[b - 1]); b--)
        ;
    return b - a == strlen(want) && memcmp(v + a, want, b - a) == 0;
}

/* list_next - the next item of a list separated by commas and white space (splitList()); 0 at its end */
static const char *list_next(const char **pp, size_t *lenp)
{
    const char *p = *pp;

    while (*p && strchr(", \t\r\n", *p))
        p++;
    if (*p == 0)
        return 0;
    *lenp = strcspn(p, ", \t\r\n");
    *pp = p + *lenp;
    return p;
}

/* parse_uint - all digits, at most 18 of them; -1 otherwise */
static long long parse_uint(const char *s)
{
    long long v = 0;
    size_t i, n = strlen(s);

    if (n == 0 || n > 18)
        return -1;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');

    return s ? s + 1 : path;
}

/* read_file - a whole (small) file; 0 on error or when larger than max */
static uchar *read_file(const char *path, size_t max, size_t *lenp)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct buf b = {0, 0, 0};

    if (fd < 0)
        return 0;
    for (;;) {
        ssize_t n;

        buf_reserve(&b, 65536);
        n = read(fd, b.p + b.len, 65536);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            close(fd);
            free(b.p);
            return 0;
        }
        if (n == 0)
            break;
        b.len += (size_t) n;
        if (b.len > max) {
            close(fd);
            free(b.p);
            return 0;
        }
    }
    close(fd);
    buf_reserve(&b, 1);
    b.p[b.len] = 0;
    *lenp = b.len;
    return b.p;
}

/* ------------------------------------------------------------------ */
/* configuration (src/global/mail_conf.ts, the literal subset)        */

struct param {
    char *name;
    char *value;
};
static struct param *g_params;
static size_t g_nparams;

static const char *main_cf_get(const char *name)
{
    size_t i;

    for (i = g_nparams; i > 0; i--)
        if (strcmp(g_params[i - 1].name, name) == 0)
            return g_params[i - 1].value;
    return 0;
}

/* add_entry - one "name = value" logical line; fallback on anything Node would warn about or reject */
static void add_entry(const uchar *line, size_t n)
{
    size_t i = 0, ns, ne, ve;
    char *name, *value;
    const char *old;

    while (i < n && is_space_ascii(line[i]))
        i++;
    ns = i;
    while (i < n && !is_space_ascii(line[i]) && line[i] != '=') {
        if (line[i] >= 0x80)
            fallback();
        i++;
    }
    ne = i;
    if (ne == ns)
        fallback();
    while (i < n && is_space_ascii(line[i]))
        i++;
    if (i >= n || line[i] != '=')
        fallback();
    i++;
    while (i < n && is_space_ascii(line[i]))
        i++;
    ve = n;
    while (ve > i && is_space_ascii(line[ve - 1]))
        ve--;
    name = strndup((const char *) line + ns, ne - ns);
    value = strndup((const char *) line + i, ve - i);
    if (name == 0 || value == 0)
        die_nomem();
    if (memchr(line + i, 0, ve - i))
        fallback();
    old = main_cf_get(name);
    if (old && strcmp(old, value) != 0)
        fallback();                     /* "overriding earlier entry" warning */
    g_params = realloc(g_params, (g_nparams + 1) * sizeof(*g_params));
    if (g_params == 0)
        die_nomem();
    g_params[g_nparams].name = name;
    g_params[g_nparams].value = value;
    g_nparams++;
}

/* load_main_cf - readllines() as logicalLines() does it */
static void load_main_cf(void)
{
    char path[PATH_MAX];
    size_t len, pos = 0;
    uchar *text;
    struct buf cur = {0, 0, 0};
    int have = 0;

    if ((size_t) snprintf(path, sizeof(path), "%s/main.cf", g_config_dir) >= sizeof(path))
        fallback();
    text = read_file(path, MAX_MAIN_CF, &len);
    if (text == 0)
        fallback();
    if (len > 0 && text[len - 1] == '\n')
        len--;                          /* split('\n') then drop the final empty line */
    while (pos <= len) {
        const uchar *raw = text + pos;
        const uchar *nl = memchr(raw, '\n', len - pos);
        size_t rn = nl ? (size_t) (nl - raw) : len - pos;
        size_t k = 0;

        if (len == 0)
            break;
        while (k < rn && is_space_ascii(raw[k]))
            k++;
        if (k < rn && raw[k] >= 0x80)
            fallback();                 /* might be a Unicode space to JavaScript */
        if (!(k == rn || raw[k] == '#')) {
            if (have && k > 0) {
                buf_add(&cur, raw, rn);
            } else {
                if (have)
                    add_entry(cur.p, cur.len);
                cur.len = 0;
                buf_add(&cur, raw, rn);
                have = 1;
                if (k > 0)
                    fallback();         /* "logical line must not start with whitespace" */
            }
        }
        pos += rn + 1;
        if (nl == 0)
            break;
    }
    if (have)
        add_entry(cur.p, cur.len);
    free(cur.p);
    free(text);
}

/* literal - a value that needs no expansion */
static int literal(const char *v)
{
    const uchar *p;

    for (p = (const uchar *) v; *p; p++)
        if (*p == '$' || *p >= 0x80)
            return 0;
    return 1;
}

/* param - main.cf, else the registry default; fallback unless literal */
static const char *param(const char *name, const char *def)
{
    const char *v = main_cf_get(name);

    if (v == 0)
        v = def;
    if (!literal(v))
        fallback();
    return v;
}

/* install_json_get - a string value of install.json (JSON.stringify output); 0 when absent */
static char *install_json_get(const char *key)
{
    char path[PATH_MAX], pat[128];
    size_t len;
    uchar *text;
    char *p, *q, *out;

    if ((size_t) snprintf(path, sizeof(path), "%s/../../../install.json", g_selfdir) >= sizeof(path))
        fallback();
    text = read_file(path, 1024 * 1024, &len);
    if (text == 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        fallback();
    }
    if (memchr(text, 0, len))
        fallback();
    snprintf(pat, sizeof(pat), "\"%s\"", key);
    p = strstr((char *) text, pat);
    if (p == 0) {
        free(text);
        return 0;
    }
    p += strlen(pat);
    while (is_space_ascii((uchar) *p))
        p++;
    if (*p++ != ':')
        fallback();
    while (is_space_ascii((uchar) *p))
        p++;
    if (*p++ != '"')
        fallback();
    for (q = p; *q && *q != '"'; q++)
        if (*q == '\\' || (uchar) *q < 0x20)
            fallback();
    if (*q != '"')
        fallback();
    out = strndup(p, (size_t) (q - p));
    if (out == 0)
        die_nomem();
    free(text);
    return out;
}

/* ------------------------------------------------------------------ */
/* passwd (src/util/mypwd.ts: the file, first entry per uid wins)     */

struct pw {
    char *name;
    char *gecos;
};

static int find_pw(uid_t uid, struct pw *out)
{
    const char *path = getenv("POSTFIX_TS_PASSWD_FILE");
    size_t len, pos = 0;
    uchar *text;
    int found = 0;

    struct stat st;

    if (path == 0 || *path == 0)
        path = "/etc/passwd";
    if (stat(path, &st) == 0 && st.st_size > MAX_PASSWD)
        fallback();                     /* Node parses only the first 4 MiB */
    text = read_file(path, MAX_PASSWD, &len);
    if (text == 0)
        return 0;
    if (!is_utf8(text, len))
        fallback();
    while (pos < len && !found) {
        uchar *line = text + pos;
        uchar *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t) (nl - line) : len - pos;
        char *f[7];
        size_t nf = 0, i, start = 0;

        for (i = 0; i <= n && nf < 7; i++) {
            if (i == n || line[i] == ':') {
                f[nf++] = (char *) line + start;
                start = i + 1;
            }
        }
        /* fields 0..5 end at a ':', field 6 is the rest of the line (more colons do not matter) */
        if (nf == 7 && line[0] != '#') {
            size_t l0 = (size_t) (f[1] - f[0] - 1);
            size_t l2 = (size_t) (f[3] - f[2] - 1), l3 = (size_t) (f[4] - f[3] - 1);
            size_t l4 = (size_t) (f[5] - f[4] - 1);
            unsigned long long u = 0;

            if (l0 > 0) {
                for (i = 0; i < l2; i++)
                    if (f[2][i] < '0' || f[2][i] > '9')
                        fallback();     /* Number() semantics would be needed */
                for (i = 0; i < l3; i++)
                    if (f[3][i] < '0' || f[3][i] > '9')
                        fallback();
                if (l2 == 0 || l3 == 0 || l2 > 15)
                    fallback();
                for (i = 0; i < l2; i++)
                    u = u * 10 + (unsigned) (f[2][i] - '0');
                if (u == (unsigned long long) uid) {
                    out->name = strndup(f[0], l0);
                    out->gecos = strndup(f[4], l4);
                    if (out->name == 0 || out->gecos == 0)
                        die_nomem();
                    found = 1;
                }
            }
        }
        if (nl == 0)
            break;
        pos += n + 1;
    }
    free(text);
    return found;
}

/* ------------------------------------------------------------------ */
/* RFC 822 addresses (src/global/tok822.ts: scan, parse, grep, internalize) */

enum { T_ATOM = 256, T_QSTRING, T_COMMENT, T_DOMLIT };

struct tok {
    int type;
    size_t off, len;                    /* text in the scan buffer */
};

struct scan {
    struct tok *t;
    size_t n, cap;
    struct buf text;
};

static const char OPCHARS[] = "|%!()<>@,;:\\\".[]";

static int is_opchar(int c)
{
    return c != 0 && strchr(OPCHARS, c) != 0;
}

static int tok_space(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void scan_push(struct scan *sc, int type, size_t off)
{
    if (sc->n == sc->cap) {
        sc->cap = sc->cap ? sc->cap * 2 : 32;
        sc->t = realloc(sc->t, sc->cap * sizeof(*sc->t));
        if (sc->t == 0)
            die_nomem();
    }
    sc->t[sc->n].type = type;
    sc->t[sc->n].off = off;
    sc->t[sc->n].len = sc->text.len - off;
    sc->n++;
}

static void tok822_scan(struct scan *sc, const uchar *s, size_t n, size_t limit)
{
    size_t i = 0;

    while (i < n) {
        uchar c = s[i++];
        size_t off = sc->text.len;

        if (tok_space(c))
            continue;
        if (c == '(') {
            int level = 1;

            buf_addc(&sc->text, '(');
            while (i < n) {
                uchar ch = s[i++];

                buf_addc(&sc->text, ch);
                if (ch == '(')
                    level++;
                else if (ch == ')') {
                    if (--level == 0)
                        break;
                } else if (ch == '\\') {
                    if (i >= n)
                        break;
                    buf_addc(&sc->text, s[i++]);
                }
            }
            scan_push(sc, T_COMMENT, off);
        } else if (c == '[' || c == '"') {
            uchar close = c == '[' ? ']' : '"';

            while (i < n) {
                uchar ch = s[i++];

                if (ch == close)
                    break;
                if (ch == '\\') {
                    if (i >= n)
                        break;
                    buf_addc(&sc->text, s[i++]);
                    continue;
                }
                buf_addc(&sc->text, ch);
            }
            scan_push(sc, c == '[' ? T_DOMLIT : T_QSTRING, off);
        } else if (c != '\\' && is_opchar(c)) {
            scan_push(sc, c, off);
        } else {
            size_t k;
            int type = T_ATOM;

            i -= 1;
            while (i < n) {
                uchar ch = s[i];

                if (tok_space(ch) || (ch != '\\' && is_opchar(ch)))
                    break;
                i++;
                if (ch == '\\') {
                    if (i >= n)
                        break;
                    buf_addc(&sc->text, s[i++]);
                    continue;
                }
                buf_addc(&sc->text, ch);
            }
            for (k = off; k < sc->text.len; k++) {
                uchar ch = sc->text.p[k];

                if (ch == ' ' || ch < 32 || ch == 127 || is_opchar(ch)) {
                    type = T_QSTRING;
                    break;
                }
            }
            scan_push(sc, type, off);
        }
        if (limit > 0 && sc->n >= limit)
            break;
    }
}

static int nonop(int type)
{
    return type == T_ATOM || type == T_QSTRING || type == T_COMMENT || type == T_DOMLIT;
}

typedef void (*addr_cb)(void *ctx, const uchar *p, size_t n);

/* emit_addr - internalize the non-comment tokens [from, to) and pass the text on */
static void emit_addr(struct scan *sc, size_t from, size_t to, addr_cb cb, void *ctx)
{
    struct buf out = {0, 0, 0};
    size_t j, *idx, m = 0;

    idx = malloc((to - from + 1) * sizeof(size_t));
    if (idx == 0)
        die_nomem();
    for (j = from; j < to; j++)
        if (sc->t[j].type != T_COMMENT)
            idx[m++] = j;
    if (m == 0) {
        free(idx);
        return;
    }
    buf_reserve(&out, 1);
    for (j = 0; j < m; j++) {
        struct tok *tp = &sc->t[idx[j]];
        struct tok *next = j + 1 < m ? &sc->t[idx[j + 1]] : 0;

        switch (tp->type) {
        case T_ATOM:
        case T_QSTRING:
            buf_add(&out, sc->text.p + tp->off, tp->len);
            break;
        case T_DOMLIT:
            buf_addc(&out, '[');
            buf_add(&out, sc->text.p + tp->off, tp->len);
            buf_addc(&out, ']');
            break;
        default:
            buf_addc(&out, tp->type);
            break;
        }
        if (next && (tp->type == ',' || next->type == '<' || (nonop(tp->type) && nonop(next->type))))
            buf_addc(&out, ' ');
    }
    cb(ctx, out.p, out.len);
    free(out.p);
    free(idx);
}

/* tok822_addrs - tok822GrepAddr(tok822Parse(text)), each address internalized */
static void tok822_addrs(const uchar *s, size_t n, addr_cb cb, void *ctx)
{
    struct scan sc = {0, 0, 0, {0, 0, 0}};
    size_t i = 0;

    buf_reserve(&sc.text, 1);
    tok822_scan(&sc, s, n, TOKEN_LIMIT);
    while (i < sc.n) {
        size_t start = i, lt, gt, j;
        int depth = 0, group = 0, seen_lt_at = 0, has_lt = 0;

        while (i < sc.n) {
            int t = sc.t[i].type;

            if (t == '<')
                depth++;
            else if (t == '>')
                depth = depth > 0 ? depth - 1 : 0;
            if (depth == 0 && (t == ',' || t == ';'))
                break;
            if (depth == 0 && t == ':' && !seen_lt_at) {
                group = 1;
                break;
            }
            if (t == '<' || t == '@')
                seen_lt_at = 1;
            i++;
        }
        if (group) {
            i++;
            continue;
        }
        /* groupMailbox(seg = [start, i)) */
        lt = start;
        for (j = start; j < i; j++)
            if (sc.t[j].type == '<') {
                lt = j;
                has_lt = 1;
                break;
            }
        if (has_lt) {
            gt = i;
            for (j = i; j > lt + 1; j--)
                if (sc.t[j - 1].type == '>') {
                    gt = j - 1;
                    break;
                }
            emit_addr(&sc, lt + 1, gt, cb, ctx);
        } else if (i > start) {
            emit_addr(&sc, start, i, cb, ctx);
        }
        if (i < sc.n)
            i++;
    }
    free(sc.t);
    free(sc.text.p);
}

/* ------------------------------------------------------------------ */
/* the maildrop file (src/postdrop/maildrop.ts MaildropWriter)        */

static int g_fd = -1;
static uchar g_out[OUT_BUF_SIZE];
static size_t g_used;
static unsigned long long g_written;
static long long g_size_limit;
static size_t g_line_limit;
static int g_write_errno;               /* the first write error; EFBIG for the size limit */

static void write_all(const uchar *p, size_t len)
{
    if (g_write_errno)
        return;
    if (g_size_limit > 0 && g_written + len > (unsigned long long) g_size_limit) {
        g_write_errno = EFBIG;
        return;
    }
    while (len > 0) {
        ssize_t n = write(g_fd, p, len);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            g_write_errno = errno;
            return;
        }
        p += n;
        len -= (size_t) n;
        g_written += (unsigned long long) n;
    }
}

static void flush_out(void)
{
    if (g_used > 0) {
        size_t n = g_used;

        g_used = 0;
        write_all(g_out, n);
    }
}

static void emit(int type, const uchar *data, size_t len)
{
    uchar hdr[16];
    size_t h = 0, l = len;

    hdr[h++] = (uchar) type;
    do {
        uchar b = l & 0x7f;

        l >>= 7;
        if (l > 0)
            b |= 0x80;
        hdr[h++] = b;
    } while (l > 0);
    if (g_used + h + len > sizeof(g_out)) {
        flush_out();
        if (h + len > sizeof(g_out)) {
            write_all(hdr, h);
            write_all(data, len);
            return;
        }
    }
    memcpy(g_out + g_used, hdr, h);
    g_used += h;
    if (len)
        memcpy(g_out + g_used, data, len);
    g_used += len;
}

static void put(int type, const uchar *data, size_t len)
{
    /* every caller keeps records within $line_length_limit (checked before) */
    emit(type, data, len);
}

static void put_s(int type, const char *s)
{
    put(type, (const uchar *) s, strlen(s));
}

/* safe_ultostr - the vowel-free alphabet of mail_queue.ts */
static void safe_ultostr(struct buf *b, unsigned long long v, unsigned base, size_t pad)
{
    static const char alpha[] = "0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz";
    char tmp[80];
    size_t n = 0;

    do {
        tmp[n++] = alpha[v % base];
        v /= base;
    } while (v > 0);
    while (n < pad)
        tmp[n++] = '0';
    while (n > 0)
        buf_addc(b, tmp[--n]);
}

struct qconf {
    const char *queue_dir;
    int long_ids;
    int hashed;                         /* maildrop is in hash_queue_names */
    int depth;
};

/* make_dirs - mkdir -p, mode 0700 */
static int make_dirs(char *path)
{
    char *p;

    for (p = path + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            if (mkdir(path, 0700) < 0 && errno != EEXIST) {
                *p = '/';
                return -1;
            }
            *p = '/';
        }
    }
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return -1;
    return 0;
}

static void set_cleanup(const char *path)
{
    g_have_cleanup = 0;
    snprintf(g_cleanup_path, sizeof(g_cleanup_path), "%s", path);
    g_have_cleanup = 1;
}

/* queue_enter - mailQueueEnter(config, 'maildrop', 0600); fallback on any error */
static void queue_enter(const struct qconf *q, char *id_out, size_t id_size)
{
    char top[PATH_MAX], temp[PATH_MAX], path[PATH_MAX], dir[PATH_MAX];
    struct stat st;
    int attempt, count;
    int fd = -1;

    if ((size_t) snprintf(top, sizeof(top), "%s/maildrop", q->queue_dir) >= sizeof(top) - 64)
        fallback();
    for (attempt = 0;; attempt++) {
        struct timeval tv;

        gettimeofday(&tv, 0);
        if ((size_t) snprintf(temp, sizeof(temp), "%s/%ld.%ld", top, (long) tv.tv_usec, (long) getpid()) >= sizeof(temp))
            fallback();
        fd = open(temp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0)
            break;
        if ((errno == EEXIST || errno == EISDIR) && attempt < 1000)
            continue;
        fallback();
    }
    set_cleanup(temp);
    if (fstat(fd, &st) < 0)
        goto fail;
    for (count = 0;; count++) {
        struct timeval tv;
        struct buf id = {0, 0, 0};

        gettimeofday(&tv, 0);
        if (q->long_ids) {
            safe_ultostr(&id, (unsigned long long) tv.tv_sec, 52, 6);
            safe_ultostr(&id, (unsigned long long) tv.tv_usec, 52, 4);
            buf_addc(&id, 'z');
            safe_ultostr(&id, (unsigned long long) st.st_ino, 51, 0);
        } else {
            char tmp[64];

            snprintf(tmp, sizeof(tmp), "%05lX%llX", (unsigned long) tv.tv_usec, (unsigned long long) st.st_ino);
            buf_adds(&id, tmp);
        }
        snprintf(dir, sizeof(dir), "%s", top);
        if (q->hashed) {
            /* dir_forest() of the 5 hex digit microseconds (long ids) or of the id */
            char hex[16];
            const char *name = (const char *) id.p;
            int k;

            if (q->long_ids) {
                snprintf(hex, sizeof(hex), "%05lX", (unsigned long) tv.tv_usec);
                name = hex;
            }
            for (k = 0; k < q->depth; k++) {
                size_t dl = strlen(dir);
                char ch = k < (int) strlen(name) ? name[k] : '_';

                if (dl + 3 >= sizeof(dir))
                    goto fail;
                dir[dl] = '/';
                dir[dl + 1] = ch;
                dir[dl + 2] = 0;
            }
        }
        if ((size_t) snprintf(path, sizeof(path), "%s/%s", dir, (const char *) id.p) >= sizeof(path) || id.len >= id_size) {
            free(id.p);
            goto fail;
        }
        if (rename(temp, path) == 0) {
            set_cleanup(path);
            snprintf(id_out, id_size, "%s", (const char *) id.p);
            free(id.p);
            g_fd = fd;
            return;
        }
        free(id.p);
        if (errno == ENOENT) {
            if (make_dirs(dir) < 0)
                goto fail;
        } else if (errno != EPERM && errno != EISDIR) {
            goto fail;
        }
        if (count > 1000)
            goto fail;
    }
fail:
    close(fd);
    unlink(temp);
    g_have_cleanup = 0;
    fallback();
}

/* ------------------------------------------------------------------ */
/* Node reports: log records go through the Node logger (rare paths)  */

struct report {
    struct buf args;                    /* "W:text\0F:text\0..." */
    int count;
};
static struct report g_report;

static void report_add(char sev, const char *text)
{
    buf_addc(&g_report.args, sev);
    buf_addc(&g_report.args, ':');
    buf_add(&g_report.args, text, strlen(text) + 1);
    g_report.count++;
}

/*
 * report_log - hand the warnings/fatal texts of this run to
 * fast_report.js, which logs them exactly as sendmail.ts would
 * (maillog_file/postlogd or syslog); stderr is already written here.
 */
static void report_log(void)
{
    char script[PATH_MAX];
    char **av;
    size_t off = 0;
    int i = 0, status;
    pid_t pid;

    if (g_report.count == 0)
        return;
    if ((size_t) snprintf(script, sizeof(script), "%s/fast_report.js", g_selfdir) >= sizeof(script))
        return;
    av = calloc((size_t) g_report.count + 6, sizeof(char *));
    if (av == 0)
        return;
    av[i++] = "node";
    av[i++] = script;
    av[i++] = g_config_dir;
    av[i++] = (char *) g_progname;
    while (off < g_report.args.len) {
        av[i++] = (char *) g_report.args.p + off;
        off += strlen((char *) g_report.args.p + off) + 1;
    }
    av[i] = 0;
    pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);

        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
        }
        exec_node_argv(av);
        _exit(1);
    }
    if (pid > 0)
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
    free(av);
}

/* warn_as / fatal_exit - stderr now, the log through report_log() */
static void warn_as(const char *name, const char *text)
{
    struct buf b = {0, 0, 0};

    buf_adds(&b, "warning: ");
    buf_adds(&b, text);
    say(name, (const char *) b.p);
    report_add('W', (const char *) b.p + 9);
    free(b.p);
}

static void fatal_exit(const char *text)
{
    struct buf b = {0, 0, 0};

    if (g_have_cleanup) {
        unlink(g_cleanup_path);
        g_have_cleanup = 0;
    }
    buf_adds(&b, "fatal: ");
    buf_adds(&b, text);
    say(g_progname, (const char *) b.p);
    report_add('F', text);
    report_log();
    exit(EX_TEMPFAIL);
}

/* node_errno_text - Node's "CODE: description, syscall" for an errno (the common ones) */
static void node_err(struct buf *b, int err, const char *syscall)
{
    static const struct {
        int err;
        const char *code, *text;
    } tab[] = {
        {EIO, "EIO", "i/o error"},
        {ENOSPC, "ENOSPC", "no space left on device"},
        {EDQUOT, "EDQUOT", "disk quota exceeded"},
        {EROFS, "EROFS", "read-only file system"},
        {EBADF, "EBADF", "bad file descriptor"},
        {EISDIR, "EISDIR", "illegal operation on a directory"},
        {EINVAL, "EINVAL", "invalid argument"},
        {EACCES, "EACCES", "permission denied"},
        {EPERM, "EPERM", "operation not permitted"},
    };
    size_t i;

    for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
        if (tab[i].err == err) {
            buf_adds(b, tab[i].code);
            buf_adds(b, ": ");
            buf_adds(b, tab[i].text);
            buf_adds(b, ", ");
            buf_adds(b, syscall);
            return;
        }
    }
    buf_adds(b, strerror(err));
    buf_adds(b, ", ");
    buf_adds(b, syscall);
}

/* ------------------------------------------------------------------ */
/* input lines (sendmail.ts FdLines)                                  */

static uchar *g_in;
static size_t g_in_start, g_in_end;
static int g_in_eof;
static int g_in_errno;

static void fill(void)
{
    if (g_in_start > 0) {
        memmove(g_in, g_in + g_in_start, g_in_end - g_in_start);
        g_in_end -= g_in_start;
        g_in_start = 0;
    }
    for (;;) {
        ssize_t n = read(0, g_in + g_in_end, IN_BUF_SIZE - g_in_end);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            struct pollfd p = {0, POLLIN, 0};

            poll(&p, 1, 5);
            continue;
        }
        if (n < 0) {
            g_in_errno = errno;
            g_in_eof = 1;
            return;
        }
        if (n == 0)
            g_in_eof = 1;
        if (g_recording && n > 0) {
            if (g_replay_len + (size_t) n > g_replay_cap) {
                uchar *p;

                g_replay_cap = (g_replay_len + (size_t) n) * 2;
                p = realloc(g_replay, g_replay_cap);
                if (p == 0)
                    die_nomem();
                g_replay = p;
            }
            memcpy(g_replay + g_replay_len, g_in + g_in_end, (size_t) n);
            g_replay_len += (size_t) n;
            if (g_replay_len > MAX_REPLAY)
                replay_fallback();      /* every byte read so far is recorded: Node takes over */
        }
        g_in_end += (size_t) n;
        return;
    }
}

/* next_line - 1 with a record (type, data, len), 0 at the end */
static int next_line(int *type, uchar **data, size_t *len)
{
    for (;;) {
        size_t avail = g_in_end - g_in_start;
        size_t lim = avail < g_line_limit ? avail : g_line_limit;
        uchar *nl = memchr(g_in + g_in_start, '\n', lim);

        if (nl) {
            *data = g_in + g_in_start;
            *len = (size_t) (nl - *data);
            *type = REC_NORM;
            g_in_start += *len + 1;
            return 1;
        }
        if (avail >= g_line_limit) {
            *data = g_in + g_in_start;
            *len = g_line_limit;
            *type = REC_CONT;
            g_in_start += g_line_limit;
            return 1;
        }
        if (g_in_eof) {
            if (avail > 0) {
                *data = g_in + g_in_start;
                *len = avail;
                *type = REC_CONT;
                g_in_start = g_in_end;
                return 1;
            }
            return 0;
        }
        fill();
    }
}

/* ------------------------------------------------------------------ */
/* -t extraction                                                       */

struct addrs {
    struct buf all;                     /* (size_t length, bytes) pairs */
    size_t count;
    size_t longest;
};

static void addr_collect(void *ctx, const uchar *p, size_t n)
{
    struct addrs *a = ctx;

    if (a->all.len + n > MAX_REPLAY)
        replay_fallback();
    buf_add(&a->all, &n, sizeof(n));    /* length-prefixed: an address may hold a NUL */
    buf_add(&a->all, p, n);
    a->count++;
    if (n > a->longest)
        a->longest = n;
}

struct extract {
    struct addrs rcpt, resent;
    int resent_seen;
};

/* header_name_length - sendmail.ts headerNameLength() */
static size_t header_name_length(const uchar *s, size_t n)
{
    size_t i = 0, name_len;

    while (i < n) {
        uchar c = s[i];

        if (c == ':')
            return i;
        if (c <= 0x20 || c > 0x7e)
            break;
        i++;
    }
    if (i == 0)
        return 0;
    name_len = i;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    return i < n && s[i] == ':' ? name_len : 0;
}

static void output_header(struct extract *x, const uchar *text, size_t n)
{
    size_t name_len = header_name_length(text, n);
    char name[16];
    int rr = -1;
    size_t pos = 0;

    if (name_len > 0 && name_len < sizeof(name)) {
        size_t k;

        for (k = 0; k < name_len; k++) {
            uchar c = text[k];

            name[k] = (char) (c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        name[name_len] = 0;
        if (!strcmp(name, "to") || !strcmp(name, "cc") || !strcmp(name, "bcc"))
            rr = 0;
        else if (!strcmp(name, "resent-to") || !strcmp(name, "resent-cc") || !strcmp(name, "resent-bcc"))
            rr = 1;
    }
    if (rr >= 0 && (!x->resent_seen || rr)) {
        struct addrs *list = &x->rcpt;
        const uchar *colon = memchr(text, ':', n);
        size_t v = colon ? (size_t) (colon - text) + 1 : 0;

        if (rr) {
            list = &x->resent;
            x->resent_seen = 1;
        }
        tok822_addrs(text + v, n - v, addr_collect, list);
    }
    while (pos <= n) {
        const uchar *line = text + pos;
        const uchar *nl = memchr(line, '\n', n - pos);
        size_t ln = nl ? (size_t) (nl - line) : n - pos;

        while (ln > g_line_limit) {
            put(REC_CONT, line, g_line_limit);
            line += g_line_limit;
            ln -= g_line_limit;
        }
        put(REC_NORM, line, ln);
        if (nl == 0)
            break;
        pos = (size_t) (nl - text) + 1;
    }
}

/* ------------------------------------------------------------------ */
/* signals: an interrupted submission leaves nothing behind           */

static void on_signal(int sig)
{
    if (g_have_cleanup)
        unlink(g_cleanup_path);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* ------------------------------------------------------------------ */
/* recipients and senders from the command line                       */

static void check_arg(const char *s)
{
    if (!is_utf8((const uchar *) s, strlen(s)))
        fallback();                     /* Node would see U+FFFD */
}

struct first_addr {
    struct buf text;
    int count;
};

static void first_collect(void *ctx, const uchar *p, size_t n)
{
    struct first_addr *f = ctx;

    if (f->count++ == 0)
        buf_add(&f->text, p, n);
}

/* kick_pickup - mail_trigger(public, pickup, "W") as kickPickup() does it */
static void kick_pickup(const char *queue_dir, const char *service)
{
    struct sockaddr_un sun;
    int s, flags;
    char text[PATH_MAX + 64];

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/public/%s", queue_dir, service);
    s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return;
    flags = fcntl(s, F_GETFL);
    fcntl(s, F_SETFL, flags | O_NONBLOCK);
    if (connect(s, (struct sockaddr *) &sun, sizeof(sun)) < 0) {
        int err = errno;

        if (err == ENOENT) {
            snprintf(text, sizeof(text), "unable to look up public/%s: No such file or directory", service);
            warn_as("postdrop", text);
        } else if (err != 0 && err != ECONNREFUSED && err != ENOTSOCK) {
            struct buf b = {0, 0, 0};
            const char *code = err == EACCES ? "EACCES" : err == EAGAIN ? "EAGAIN" : err == EPERM ? "EPERM" : 0;

            buf_adds(&b, "public/");
            buf_adds(&b, service);
            buf_adds(&b, ": connect ");
            buf_adds(&b, code ? code : strerror(err));
            buf_adds(&b, " ");
            buf_adds(&b, sun.sun_path);
            warn_as("postdrop", (const char *) b.p);
            free(b.p);
        }
        close(s);
        return;
    }
    while (send(s, "W", 1, MSG_NOSIGNAL) < 0 && errno == EINTR)
        ;
    close(s);
}

/* ------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    const char *env;
    const char *conf_opt = 0, *sender_opt = 0, *full_opt = 0, *encoding = 0;
    const char *rewrite_context = "local";
    int xrcpt = 0, aeof = 1, optind = 2, i;
    struct qconf q;
    const char *fix_eol, *pickup;
    long long n;
    uid_t uid;
    struct pw pw = {0, 0};
    int have_pw;
    struct buf saved_sender = {0, 0, 0}, who = {0, 0, 0}, full = {0, 0, 0};
    int have_full = 0;
    struct addrs cmd_rcpts = {{0, 0, 0}, 0, 0};
    size_t header_limit;
    char qid[300];
    int strip_cr;                       /* 1 do, 0 dont, -1 dunno */

    g_argc = argc;
    g_argv = argv;
    /* closed standard descriptors become /dev/null, as Node (and Postfix) make them */
    for (i = 0; i < 3; i++) {
        if (fcntl(i, F_GETFD) < 0 && errno == EBADF) {
            int fd = open("/dev/null", i == 0 ? O_RDONLY : O_WRONLY);

            if (fd >= 0 && fd != i) {
                dup2(fd, i);
                close(fd);
            }
        }
    }
    if (argc < 2) {
        say("sendmail_fast", "fatal: usage: sendmail_fast ORIGINAL_ARGV0 [arguments ...]");
        return EX_TEMPFAIL;
    }
    g_progname = base_name(argv[1]);
    if (argv[1][0] != '/') {
        /* later hand-overs happen after chdir(queue_directory) */
        char cwd[PATH_MAX];
        size_t need;
        char *abs;

        if (getcwd(cwd, sizeof(cwd)) == 0)
            fallback();
        need = strlen(cwd) + strlen(argv[1]) + 2;
        abs = malloc(need);
        if (abs == 0)
            die_nomem();
        snprintf(abs, need, "%s/%s", cwd, argv[1]);
        argv[1] = abs;
    }
    {
        char self[PATH_MAX];
        char *slash;

        if (realpath("/proc/self/exe", self) == 0)
            fallback();
        slash = strrchr(self, '/');
        if (slash == 0)
            fallback();
        *slash = 0;
        snprintf(g_selfdir, sizeof(g_selfdir), "%s", self);
    }
    env = getenv("POSTFIX_TS_SENDMAIL_NODE");
    if (env && *env)
        fallback();
    env = getenv("MAIL_VERBOSE");
    if (env && *env)
        fallback();
    if (!strcmp(g_progname, "mailq") || !strcmp(g_progname, "newaliases") || !strcmp(g_progname, "smtpd"))
        fallback();

    /* options: getopt(3) with a leading "+", only the plain delivery subset */
    while (optind < argc) {
        const char *arg = argv[optind];
        size_t k, alen = strlen(arg);

        if (alen < 2 || arg[0] != '-')
            break;
        if (!strcmp(arg, "--")) {
            optind++;
            break;
        }
        for (k = 1; k < alen; k++) {
            char c = arg[k];
            const char *optarg = 0;

            if (strchr("CFfrBbo", c)) {
                if (k + 1 < alen)
                    optarg = arg + k + 1;
                else if (optind + 1 < argc)
                    optarg = argv[++optind];
                else
                    fallback();
                k = alen;
            }
            switch (c) {
            case 't':
                xrcpt = 1;
                break;
            case 'i':
                aeof = 0;
                break;
            case 'G':
                rewrite_context = "remote";
                break;
            case 'C':
                conf_opt = optarg;
                break;
            case 'F':
                full_opt = optarg;
                break;
            case 'f':
            case 'r':
                sender_opt = optarg;
                break;
            case 'B':
                if (!strcmp(optarg, "8BITMIME"))
                    encoding = "8bit";
                else if (!strcmp(optarg, "7BIT"))
                    encoding = "7bit";
                else
                    fallback();
                break;
            case 'b':
                if (optarg[0] != 'm')
                    fallback();
                break;
            case 'o':
                if (optarg[0] == 'i')
                    aeof = 0;
                else if (optarg[0] != 'm' && optarg[0] != '7' && optarg[0] != '8')
                    fallback();
                break;
            default:
                fallback();
            }
        }
        optind++;
    }
    for (i = 2; i < argc; i++)
        check_arg(argv[i]);
    if (optind >= argc && !xrcpt)
        fallback();                     /* Node reads the input, then complains */

    /* the configuration directory: -C, $MAIL_CONFIG, install.json, the default */
    if (conf_opt) {
        size_t cl = strlen(conf_opt);
        const char *b = base_name(conf_opt);

        if (cl == 0 || conf_opt[cl - 1] == '/')
            fallback();
        if (!strcmp(b, "main.cf")) {
            size_t dl = cl - 7 - 1;

            if (b == conf_opt)
                fallback();
            if (dl == 0)
                snprintf(g_config_dir, sizeof(g_config_dir), "/");
            else if (dl >= sizeof(g_config_dir))
                fallback();
            else {
                memcpy(g_config_dir, conf_opt, dl);
                g_config_dir[dl] = 0;
            }
        } else if ((size_t) snprintf(g_config_dir, sizeof(g_config_dir), "%s", conf_opt) >= sizeof(g_config_dir))
            fallback();
    } else if ((env = getenv("MAIL_CONFIG")) != 0 && *env) {
        if ((size_t) snprintf(g_config_dir, sizeof(g_config_dir), "%s", env) >= sizeof(g_config_dir))
            fallback();
        check_arg(env);
    } else {
        char *v = install_json_get("config_directory");

        snprintf(g_config_dir, sizeof(g_config_dir), "%s", v ? v : UPSTREAM_CONFIG_DIR);
        free(v);
    }
    if (g_config_dir[0] != '/')
        fallback();                     /* later hand-overs run after chdir(queue_directory) */
    load_main_cf();

    /* the parameters sendmail.ts and maildrop.ts read */
    {
        const char *qd = main_cf_get("queue_directory");
        char *v = 0;

        if (qd == 0) {
            v = install_json_get("queue_directory");
            qd = v ? v : UPSTREAM_QUEUE_DIR;
        }
        if (!literal(qd) || qd[0] != '/' || strlen(qd) > 200)
            fallback();
        q.queue_dir = qd;
    }
    {
        const char *v = param("enable_long_queue_ids", DEF_ENABLE_LONG_QUEUE_IDS);

        if (!strcasecmp(v, "yes"))
            q.long_ids = 1;
        else if (!strcasecmp(v, "no"))
            q.long_ids = 0;
        else
            fallback();
    }
    {
        const char *p = param("hash_queue_names", DEF_HASH_QUEUE_NAMES), *item;
        size_t l;

        q.hashed = 0;
        while ((item = list_next(&p, &l)) != 0)
            if (l == 8 && !strncasecmp(item, "maildrop", 8))
                q.hashed = 1;
        if (q.hashed) {
            n = parse_uint(param("hash_queue_depth", DEF_HASH_QUEUE_DEPTH));
            if (n < 1 || n > 16)
                fallback();
            q.depth = (int) n;
        } else
            q.depth = 0;
    }
    n = parse_uint(param("line_length_limit", DEF_LINE_LENGTH_LIMIT));
    if (n < 64 || n > 100000)
        fallback();                     /* the line reader (ours and Node's) holds 256 KiB */
    g_line_limit = (size_t) n;
    n = parse_uint(param("header_size_limit", DEF_HEADER_SIZE_LIMIT));
    if (n < 1 || n > 100000000)
        fallback();
    header_limit = (size_t) n;
    n = parse_uint(param("message_size_limit", DEF_MESSAGE_SIZE_LIMIT));
    if (n < 0 || n > 9007199254740991LL)
        fallback();                     /* beyond 2^53 JavaScript numbers are not exact */
    g_size_limit = n;
    fix_eol = param("sendmail_fix_line_endings", DEF_SENDMAIL_FIX_LINE_ENDINGS);
    if (!strcmp(fix_eol, "always"))
        strip_cr = 1;
    else if (!strcmp(fix_eol, "strict"))
        strip_cr = -1;
    else if (!strcmp(fix_eol, "never"))
        strip_cr = 0;
    else
        fallback();
    /* the "anyone" values only; anything else is a table lookup for Node */
    if (!trimmed_is(param("authorized_submit_users", DEF_AUTHORIZED_SUBMIT_USERS), "static:anyone")
        || !trimmed_is(param("local_login_sender_maps", DEF_LOCAL_LOGIN_SENDER_MAPS), "static:*"))
        fallback();
    pickup = param("pickup_service_name", DEF_PICKUP_SERVICE_NAME);
    if (*pickup == 0 || strchr(pickup, '/') || strlen(pickup) > 50)
        fallback();
    {
        /* maillogClientInit() validates these even when nothing is logged */
        const char *file = param("maillog_file", DEF_MAILLOG_FILE);

        if (*file) {
            const char *p = param("maillog_file_prefixes", DEF_MAILLOG_FILE_PREFIXES), *item;
            size_t l;
            int ok = 0;

            while ((item = list_next(&p, &l)) != 0)
                if (!strncmp(file, item, l))
                    ok = 1;
            if (!ok)
                fallback();
        } else {
            const char *fac = main_cf_get("syslog_facility");

            if (fac && strcmp(fac, DEF_SYSLOG_FACILITY))
                fallback();
        }
    }
    if (chdir(q.queue_dir) < 0)
        fallback();
    umask(022);

    /* who is submitting */
    uid = getuid();
    have_pw = find_pw(uid, &pw);
    if (have_pw && !is_utf8((const uchar *) pw.name, strlen(pw.name)))
        fallback();
    if (sender_opt) {
        struct first_addr f = {{0, 0, 0}, 0};

        buf_reserve(&f.text, 1);
        f.text.p[0] = 0;
        tok822_addrs((const uchar *) sender_opt, strlen(sender_opt), first_collect, &f);
        if (f.count > 1)
            fallback();                 /* "-f option specified malformed sender" */
        saved_sender = f.text;
    } else {
        if (!have_pw)
            fallback();                 /* "no login name found" */
        buf_adds(&saved_sender, pw.name);
    }
    if (memchr(saved_sender.p, 0, saved_sender.len))
        fallback();
    buf_add(&who, saved_sender.p, saved_sender.len);
    {
        char tmp[32];

        snprintf(tmp, sizeof(tmp), "(%ld)", (long) uid);
        buf_adds(&who, tmp);
    }
    if (full_opt) {
        buf_adds(&full, full_opt);
        have_full = 1;
    } else if ((env = getenv("NAME")) != 0 && *env) {
        check_arg(env);
        buf_adds(&full, env);
        have_full = 1;
    } else if (have_pw) {
        size_t gl = strcspn(pw.gecos, ",");
        size_t k;

        if ((uchar) pw.name[0] >= 0x80)
            fallback();
        for (k = 0; k < gl; k++) {
            if (pw.gecos[k] == '&') {
                if (pw.name[0]) {
                    char c = pw.name[0];

                    buf_addc(&full, c >= 'a' && c <= 'z' ? c - 32 : c);
                    buf_adds(&full, pw.name + 1);
                }
            } else
                buf_addc(&full, pw.gecos[k]);
        }
        have_full = full.len > 0;
    }
    if (saved_sender.len > g_line_limit || (have_full && full.len > g_line_limit))
        fallback();
    for (i = optind; i < argc; i++) {
        size_t before = cmd_rcpts.count;

        tok822_addrs((const uchar *) argv[i], strlen(argv[i]), addr_collect, &cmd_rcpts);
        if (cmd_rcpts.count == before)
            addr_collect(&cmd_rcpts, (const uchar *) "", 0);
    }
    if (cmd_rcpts.longest > g_line_limit)
        fallback();
    {
        /* the kick needs a socket path that fits */
        struct sockaddr_un sun;

        if (strlen(q.queue_dir) + strlen("/public/") + strlen(pickup) >= sizeof(sun.sun_path))
            fallback();
    }
    g_in = malloc(IN_BUF_SIZE);
    if (g_in == 0)
        die_nomem();

    /* from here on the file exists; signals remove it */
    {
        static const int sigs[] = {SIGINT, SIGQUIT, SIGTERM, SIGHUP};
        size_t k;

        for (k = 0; k < sizeof(sigs) / sizeof(sigs[0]); k++) {
            struct sigaction sa;

            memset(&sa, 0, sizeof(sa));
            sa.sa_handler = on_signal;
            sigemptyset(&sa.sa_mask);
            sigaction(sigs[k], &sa, 0);
        }
    }
    queue_enter(&q, qid, sizeof(qid));
    {
        struct timeval tv;
        char tmp[64];

        gettimeofday(&tv, 0);
        snprintf(tmp, sizeof(tmp), "%ld %ld", (long) tv.tv_sec, (long) tv.tv_usec);
        emit(REC_TIME, (const uchar *) tmp, strlen(tmp));
    }

    /* envelope */
    put_s(REC_ATTR, strcmp(rewrite_context, "local") ? "rewrite_context=remote" : "rewrite_context=local");
    if (have_full)
        put(REC_FULL, full.p, full.len);
    put(REC_FROM, saved_sender.p ? saved_sender.p : (const uchar *) "", saved_sender.len);
    if (encoding)
        put_s(REC_ATTR, !strcmp(encoding, "8bit") ? "encoding=8bit" : "encoding=7bit");
    {
        size_t off = 0;

        while (off < cmd_rcpts.all.len) {
            size_t l;

            memcpy(&l, cmd_rcpts.all.p + off, sizeof(l));
            put(REC_RCPT, cmd_rcpts.all.p + off + sizeof(l), l);
            off += sizeof(l) + l;
        }
    }

    /* content */
    put(REC_MESG, (const uchar *) "", 0);
    {
        struct extract x;
        int in_headers = xrcpt, skip_from = 1, prev_type = 0, prev_phys_cont = 0, last_body_type = 0;
        int have_header = 0;
        struct buf header = {0, 0, 0};
        size_t header_len = 0;
        int type;
        uchar *data;
        size_t len;

        memset(&x, 0, sizeof(x));
        g_recording = xrcpt;
        while (next_line(&type, &data, &len)) {
            int this_prev = prev_type;

            prev_type = type;
            if (strip_cr < 0 && type == REC_NORM)
                strip_cr = len > 0 && data[len - 1] == '\r' ? 1 : 0;
            if (skip_from) {
                if (type == REC_NORM) {
                    size_t k = 0;

                    while (k < len && data[k] == '>')
                        k++;
                    if (len - k >= 5 && !memcmp(data + k, "From ", 5))
                        continue;
                }
                skip_from = 0;
            }
            if (strip_cr == 1 && type == REC_NORM)
                while (len > 0 && data[len - 1] == '\r')
                    len--;
            if (aeof && this_prev != REC_CONT && len == 1 && data[0] == '.')
                break;
            if (!in_headers) {
                put(type, data, len);
                last_body_type = type;
                continue;
            }
            /* -t: collect the headers */
            if (have_header && prev_phys_cont) {
                buf_add(&header, data, len);
            } else if (have_header && len > 0 && (data[0] == ' ' || data[0] == '\t')) {
                buf_addc(&header, '\n');
                buf_add(&header, data, len);
            } else if (header_name_length(data, len) > 0) {
                size_t nl = header_name_length(data, len), k = nl;

                if (have_header)
                    output_header(&x, header.p, header.len);
                header.len = 0;
                /* "Name :" becomes "Name:" */
                while (k < len && (data[k] == ' ' || data[k] == '\t'))
                    k++;
                buf_add(&header, data, nl);
                buf_add(&header, data + k, len - k);
                have_header = 1;
                header_len = 0;
            } else {
                if (have_header)
                    output_header(&x, header.p, header.len);
                have_header = 0;
                in_headers = 0;
                if (len > 0)
                    put(REC_NORM, (const uchar *) "", 0);
                put(type, data, len);
                last_body_type = type;
                /* the header is done: recipients known, no replay needed from here */
                if (cmd_rcpts.count + (x.resent_seen ? x.resent.count : x.rcpt.count) == 0
                    || (x.resent_seen ? x.resent.longest : x.rcpt.longest) > g_line_limit)
                    replay_fallback();
                g_recording = 0;
                free(g_replay);
                g_replay = 0;
                g_replay_len = g_replay_cap = 0;
                continue;
            }
            header_len += len + 1;
            if (header_len > header_limit)
                replay_fallback();      /* "message header length exceeds safety limit" */
            prev_phys_cont = type == REC_CONT;
        }
        if (in_headers && have_header)
            output_header(&x, header.p, header.len);
        if (xrcpt && last_body_type == REC_CONT)
            put(REC_NORM, (const uchar *) "", 0);
        if (g_recording && (cmd_rcpts.count + (x.resent_seen ? x.resent.count : x.rcpt.count) == 0
                            || (x.resent_seen ? x.resent.longest : x.rcpt.longest) > g_line_limit))
            replay_fallback();
        g_recording = 0;
        if (g_in_errno) {
            struct buf b = {0, 0, 0};

            buf_add(&b, who.p, who.len);
            buf_adds(&b, ": error reading input: ");
            node_err(&b, g_in_errno, "read");
            fatal_exit((const char *) b.p);
        }

        /* extracted segment */
        put(REC_XTRA, (const uchar *) "", 0);
        if (xrcpt) {
            struct addrs *list = x.resent_seen ? &x.resent : &x.rcpt;
            size_t off = 0;

            while (off < list->all.len) {
                size_t l;

                memcpy(&l, list->all.p + off, sizeof(l));
                put(REC_RCPT, list->all.p + off + sizeof(l), l);
                off += sizeof(l) + l;
            }
        }
        put(REC_END, (const uchar *) "", 0);
        free(header.p);
    }

    /* finish: flush, fsync, mark ready (0744), close */
    flush_out();
    if (g_write_errno) {
        struct buf b = {0, 0, 0};
        char tmp[32];
        int err = g_write_errno;

        unlink(g_cleanup_path);
        g_have_cleanup = 0;
        snprintf(tmp, sizeof(tmp), "uid=%ld: ", (long) uid);
        buf_adds(&b, tmp);
        if (err == EFBIG)
            buf_adds(&b, "File too large");
        else if (err == ENOSPC)
            buf_adds(&b, "No space left on device");
        else
            node_err(&b, err, "write");
        warn_as("postdrop", (const char *) b.p);
        warn_as(g_progname, "mail_stream_cleanup: close error");
        b.len = 0;
        buf_add(&b, who.p, who.len);
        buf_adds(&b, err == EFBIG ? ": message file too big" : ": queue file write error");
        fatal_exit((const char *) b.p);
    }
    if (fsync(g_fd) < 0 || fchmod(g_fd, 0744) < 0 || close(g_fd) < 0) {
        struct buf b = {0, 0, 0};
        char tmp[32];
        int err = errno;

        unlink(g_cleanup_path);
        g_have_cleanup = 0;
        snprintf(tmp, sizeof(tmp), "uid=%ld: ", (long) uid);
        buf_adds(&b, tmp);
        node_err(&b, err, "fsync");
        warn_as("postdrop", (const char *) b.p);
        warn_as(g_progname, "mail_stream_cleanup: close error");
        b.len = 0;
        buf_add(&b, who.p, who.len);
        buf_adds(&b, ": queue file write error");
        fatal_exit((const char *) b.p);
    }
    g_have_cleanup = 0;
    kick_pickup(q.queue_dir, pickup);
    report_log();
    return 0;
}
