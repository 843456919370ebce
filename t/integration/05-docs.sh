#!/usr/bin/env bash
# 05-docs.sh - the documentation matches the program (issue 7; no root needed).
#
# man/tproxyd.conf.5 convention (checked here, per context):
#   - `tproxyd -S` prints "CONTEXT PATH" for every setting the parser accepts.
#   - Each context has exactly one subsection whose title is the context:
#       .SS global | services | handler | chains | hops | nodes ...  (core groups)
#       .SS "handler \(dqred\(dq"   for a module context "handler:red"
#     (renders as: handler "red"). Every module type built in (for each role
#     handler, listener, connector, dialer) has its subsection, even one with
#     no settings of its own.
#   - In a context subsection every setting is an item
#       .TP
#       .B PATH               the path exactly as -S prints it for that context
#     whose text holds "Type:", "Default:" and "Example:", the example naming
#     the setting. Every -S line has its item in its own context's
#     subsection, and every item there is a setting -S lists (nothing stale).
# man/tproxyd.8: every letter of src/main.c's getopt string has a .TP item
# ".B \-x"/".BI \-x ..." under OPTIONS, and no other option is documented.
# Both pages have their sections and render without a warning
# (groff -ww, man -l). Every conf/*.conf, conf/examples/*.conf, every
# configuration in tproxyd.conf.5's EXAMPLES, and conf/tproxyd.conf with its
# commented chain example uncommented pass `tproxyd -t`, and so do the
# `tproxyd -L ...` command lines of tproxyd.8's EXAMPLES.
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

TP=${TPROXYD:-$TPI_ROOT/build/tproxyd}
M8=$TPI_ROOT/man/tproxyd.8
M5=$TPI_ROOT/man/tproxyd.conf.5
MAIN_C=$TPI_ROOT/src/main.c
T=$(tpi_tmpdir)

[[ -x $TP ]] || tpi_fail "$TP is missing: run make first"
for f in "$M8" "$M5" "$MAIN_C"; do
    [[ -r $f ]] || tpi_fail "$f is missing"
done
for c in groff man python3; do
    command -v "$c" >/dev/null 2>&1 ||
        tpi_fail "'$c' is not installed (Debian: groff-base, man-db, python3; contrib/install-deps.sh test)"
done

# ---------------------------------------------------------------- rendering

# render PAGE: groff with every warning, then man(1) as a reader runs it
render() {
    local page=$1 err=$T/render.err out
    groff -man -Tutf8 -ww -z "$page" 2>"$err" || { cat "$err"; return 1; }
    if [[ -s $err ]]; then
        echo "groff -ww warnings:"
        cat "$err"
        return 1
    fi
    for w in 80 120; do
        out=$(MANWIDTH=$w MAN_DISABLE_SECCOMP=1 man -l "$page" 2>"$err") || { cat "$err"; return 1; }
        if [[ -s $err ]]; then
            echo "man -l (width $w) warnings:"
            cat "$err"
            return 1
        fi
        [[ $(printf '%s\n' "$out" | wc -l) -gt 50 ]] || { echo "man -l printed almost nothing"; return 1; }
    done
}
tpi_check_soft "tproxyd.8 renders without warnings (groff -ww, man -l)" render "$M8"
tpi_check_soft "tproxyd.conf.5 renders without warnings (groff -ww, man -l)" render "$M5"

# ---------------------------------------------------------------- the checker

cat >"$T/check.py" <<'PY'
import re, sys

def unescape(s):
    s = s.strip()
    rep = [(r'\(dq', '"'), (r'\(lq', '"'), (r'\(rq', '"'), (r'\(aq', "'"),
           (r'\-', '-'), (r'\e', '\\'), (r'\&', ''), (r'\|', ''), (r'\^', ''),
           (r'\fB', ''), (r'\fI', ''), (r'\fR', ''), (r'\fP', ''),
           (r'\f(CR', ''), (r'\~', ' '), (r'\ ', ' ')]
    for a, b in rep:
        s = s.replace(a, b)
    return s

def macro_args(line):
    """The arguments of a macro line, split and unquoted as troff does
    (a quoted argument may hold spaces; "" inside it is one quote)."""
    rest = line.split(None, 1)[1] if len(line.split(None, 1)) > 1 else ''
    args, i, n = [], 0, len(rest)
    while i < n:
        if rest[i] == ' ':
            i += 1
            continue
        if rest[i] == '"':
            i += 1
            a = ''
            while i < n:
                if rest[i] == '"':
                    if i + 1 < n and rest[i + 1] == '"':
                        a += '"'
                        i += 2
                        continue
                    i += 1
                    break
                a += rest[i]
                i += 1
            args.append(a)
        else:
            j = rest.find(' ', i)
            j = n if j < 0 else j
            args.append(rest[i:j])
            i = j
    return args

def macro_arg(line):
    """The first argument of '.B "x y"' or '.B x'."""
    a = macro_args(line)
    return a[0] if a else ''

def sections(path):
    """[(section title, [lines])] of a page."""
    out, cur = [], None
    for line in open(path, encoding='utf-8'):
        line = line.rstrip('\n')
        if line.startswith('.SH'):
            cur = (unescape(line[3:].strip().strip('"')), [])
            out.append(cur)
        elif cur is not None:
            cur[1].append(line)
    return out

problems = []

def need_sections(path, names):
    have = [s for s, _ in sections(path)]
    for n in names:
        if n not in have:
            problems.append('%s: no section %s' % (path, n))

def check_options(main_c, page):
    src = open(main_c, encoding='utf-8').read()
    m = re.search(r'getopt\s*\(\s*argc\s*,\s*argv\s*,\s*"([^"]*)"', src)
    if not m:
        problems.append('%s: no getopt(argc, argv, "...") call found' % main_c)
        return
    want = set(c for c in m.group(1) if c != ':')
    opts = [l for s, l in sections(page) if s == 'OPTIONS']
    if not opts:
        problems.append('%s: no OPTIONS section' % page)
        return
    lines, have = opts[0], set()
    for i, l in enumerate(lines[:-1]):
        if l.startswith('.TP'):
            tag = lines[i + 1]
            mm = re.match(r'\.(B|BI|BR)\s+"?\\-([A-Za-z0-9])', tag)
            if mm:
                have.add(mm.group(2))
    for c in sorted(want - have):
        problems.append('tproxyd.8 OPTIONS: option -%s (src/main.c getopt) is not documented' % c)
    for c in sorted(have - want):
        problems.append('tproxyd.8 OPTIONS: documents -%s, which src/main.c does not accept' % c)
    print('# options in getopt: %s; documented: %s' % (''.join(sorted(want)), ''.join(sorted(have))))

ROLES = ('handler', 'listener', 'connector', 'dialer')

def context_title(ctx):
    if ':' in ctx:
        role, typ = ctx.split(':', 1)
        return '%s "%s"' % (role, typ)
    return ctx

def check_settings(s_file, types_file, page):
    settings = {}                       # context -> set(paths)
    for line in open(s_file, encoding='utf-8'):
        f = line.split()
        if len(f) != 2:
            problems.append('-S printed an odd line: %r' % line)
            continue
        settings.setdefault(f[0], set()).add(f[1])
    types = {}                          # role -> [types]
    for line in open(types_file, encoding='utf-8'):
        f = line.split()
        if f:
            types[f[0]] = f[1:]
    contexts = set(settings)
    for role in ROLES:
        for t in types.get(role, []):
            contexts.add('%s:%s' % (role, t))
    core = set(c for c in contexts if ':' not in c)
    by_title = dict((context_title(c), c) for c in contexts)

    seen = {}                           # context -> {path: body}
    cur_ctx, item, body = None, None, None
    lines = [l.rstrip('\n') for l in open(page, encoding='utf-8')]

    def close_item():
        if cur_ctx is not None and item is not None:
            seen[cur_ctx][item] = ' '.join(body)

    i = 0
    while i < len(lines):
        l = lines[i]
        if l.startswith('.SH') or l.startswith('.SS'):
            close_item()
            item, body = None, None
            cur_ctx = None
            if l.startswith('.SS'):
                # the title as it renders: arguments joined by spaces
                title = unescape(' '.join(macro_args(l)))
                if title in by_title:
                    cur_ctx = by_title[title]
                    if cur_ctx in seen:
                        problems.append('context %s has two subsections' % cur_ctx)
                    seen.setdefault(cur_ctx, {})
                else:
                    m = re.match(r'^(%s) "([^"]+)"$' % '|'.join(ROLES), title)
                    if m:
                        problems.append('subsection %s: no %s type "%s" is built in (stale?)'
                                        % (title, m.group(1), m.group(2)))
        elif cur_ctx is not None and l.startswith('.TP'):
            close_item()
            tag = lines[i + 1] if i + 1 < len(lines) else ''
            if not re.match(r'\.B\s', tag):
                problems.append('%s: an item in %s is not ".TP" + ".B path": %r'
                                % (page, context_title(cur_ctx), tag))
                item, body = None, None
            else:
                item, body = unescape(macro_arg(tag)), []
                if item in seen[cur_ctx]:
                    problems.append('%s: %s documented twice' % (context_title(cur_ctx), item))
                i += 1
        elif cur_ctx is not None and re.match(r'\.(PP|P|LP)\b', l):
            close_item()
            item, body = None, None
        elif item is not None:
            body.append(unescape(re.sub(r'^\.[A-Z]+\s*', '', l)))
        i += 1
    close_item()

    ndoc = 0
    for ctx in sorted(contexts):
        if ctx not in seen:
            src = ('"%s \\(dq%s\\(dq"' % tuple(ctx.split(':', 1))) if ':' in ctx else ctx
            problems.append('no subsection for context %s (%d settings): expected .SS %s'
                            % (ctx, len(settings.get(ctx, ())), src))
            continue
        for path in sorted(settings.get(ctx, ())):
            if path not in seen[ctx]:
                problems.append('%s: setting %s is not documented (.TP / .B %s)'
                                % (context_title(ctx), path, path))
        for path, text in sorted(seen[ctx].items()):
            ndoc += 1
            if path not in settings.get(ctx, ()):
                problems.append('%s: documents %s, which tproxyd -S does not list (stale?)'
                                % (context_title(ctx), path))
                continue
            for word in ('Type:', 'Default:', 'Example:'):
                if word not in text:
                    problems.append('%s: %s has no "%s"' % (context_title(ctx), path, word))
            ex = text.split('Example:', 1)[1] if 'Example:' in text else ''
            leaf = path.split('.')[-1]
            if 'Example:' in text and leaf not in ex:
                problems.append('%s: the example of %s does not show "%s"'
                                % (context_title(ctx), path, leaf))
    nset = sum(len(v) for v in settings.values())
    print('# %d contexts (%d core), %d settings from -S, %d items documented'
          % (len(contexts), len(core), nset, ndoc))

def extract_examples(page, outdir):
    """Every .EX block of EXAMPLES that is a whole configuration."""
    n = 0
    for title, lines in sections(page):
        if title != 'EXAMPLES':
            continue
        block = None
        for l in lines:
            if l.startswith('.EX'):
                block = []
            elif l.startswith('.EE'):
                text = '\n'.join(block) + '\n'
                if re.search(r'^\s*services\s*=', text, re.M):
                    n += 1
                    open('%s/example-%02d.conf' % (outdir, n), 'w').write(text)
                block = None
            elif block is not None:
                block.append(unescape(l) if l.strip() else '')
    print('# %d configurations in EXAMPLES' % n)
    if n == 0:
        problems.append('%s: EXAMPLES has no configuration' % page)

def extract_cmdlines(page, outdir):
    """Every `tproxyd ... -L ...` command of EXAMPLES, as one argument per
    line, without -f and output redirections, checked with -t (or -T)."""
    import shlex
    n = 0
    for title, lines in sections(page):
        if title != 'EXAMPLES':
            continue
        block = None
        for l in lines:
            if l.startswith('.EX'):
                block = []
            elif l.startswith('.EE'):
                cmd = ''
                for b in block + ['']:
                    cmd += b
                    if cmd.endswith('\\'):
                        cmd = cmd[:-1] + ' '
                        continue
                    words = shlex.split(cmd, comments=True) if cmd.strip() else []
                    cmd = ''
                    if len(words) < 2 or words[0] != 'tproxyd' or '-L' not in words:
                        continue
                    args = [w for w in words[1:] if w != '-f' and not w.startswith('>')]
                    if '-t' not in args and '-T' not in args:
                        args.append('-t')
                    n += 1
                    open('%s/cmd-%02d.args' % (outdir, n), 'w').write('\n'.join(args) + '\n')
                block = None
            elif block is not None:
                block.append(unescape(l))
    print('# %d -L command lines in EXAMPLES' % n)
    if n == 0:
        problems.append('%s: EXAMPLES has no -L command line' % page)

mode = sys.argv[1]
if mode == 'options':
    need_sections(sys.argv[3], ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'OPTIONS', 'SIGNALS',
                                'FILES', 'EXIT STATUS', 'EXAMPLES', 'SEE ALSO'])
    check_options(sys.argv[2], sys.argv[3])
elif mode == 'settings':
    need_sections(sys.argv[4], ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'EXAMPLES', 'SEE ALSO'])
    check_settings(sys.argv[2], sys.argv[3], sys.argv[4])
elif mode == 'examples':
    extract_examples(sys.argv[2], sys.argv[3])
elif mode == 'cmdlines':
    extract_cmdlines(sys.argv[2], sys.argv[3])
for p in problems:
    print(p)
sys.exit(1 if problems else 0)
PY

tpi_check_soft "tproxyd.8 documents every option of src/main.c under OPTIONS, and only those" \
    python3 "$T/check.py" options "$MAIN_C" "$M8"

# ---------------------------------------------------------------- settings

"$TP" -S | sort -u >"$T/settings" || tpi_fail "tproxyd -S failed"
[[ -s $T/settings ]] || tpi_fail "tproxyd -S printed nothing"

# The module types built in, per role, from the parser's own error message
# for an unknown type ("expected one of "a", "b"").
types_of() {   # ROLE -> "role type type ..."
    local role=$1 f=$T/probe-$1.conf msg
    case $role in
    handler | listener)
        printf 'services = ( { name = "p"; addr = ":1"; %s = { type = "no-such-type"; }; } );\n' \
            "$role" >"$f" ;;
    connector | dialer)
        printf 'services = ( { name = "p"; addr = ":1"; handler = { type = "tcp"; };
  listener = { type = "tcp"; };
  forwarder = { nodes = ( { addr = "192.0.2.1:1"; %s = { type = "no-such-type"; }; } ); }; } );\n' \
            "$role" >"$f" ;;
    esac
    if msg=$("$TP" -t -c "$f" 2>&1); then
        echo "probe for $role types was accepted?" >&2
        return 1
    fi
    if ! grep -q "unknown $role type \"no-such-type\"" <<<"$msg"; then
        printf 'unexpected answer to the %s type probe: %s\n' "$role" "$msg" >&2
        return 1
    fi
    printf '%s' "$role"
    sed -n 's/.*expected one of//p' <<<"$msg" | head -n 1 | grep -o '"[^"]*"' | tr -d '"' |
        while read -r t; do printf ' %s' "$t"; done
    printf '\n'
}
: >"$T/types"
for role in handler listener connector dialer; do
    types_of "$role" >>"$T/types" || tpi_fail "cannot list the $role types"
done
tpi_diag "types built in: $(tr '\n' ';' <"$T/types")"

tpi_check_soft "tproxyd.conf.5 documents every setting of tproxyd -S in its context (type, default, example) and every module type" \
    python3 "$T/check.py" settings "$T/settings" "$T/types" "$M5"

# ---------------------------------------------------------------- configurations

# Files a configuration names under /etc/tproxyd/ (certificates) are made
# in the temp dir, so that -t can load them; the rest is tested as it is.
certs_ready=0
make_certs() {
    [[ $certs_ready == 1 ]] && return 0
    command -v openssl >/dev/null 2>&1 || return 1
    mkdir -p "$T/etc"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=tproxyd.test \
        -keyout "$T/etc/key.pem" -out "$T/etc/cert.pem" >/dev/null 2>&1 || return 1
    certs_ready=1
}
# testable FILE -> prints the file to test (the file itself, or a copy whose
# /etc/tproxyd/*.pem paths point at generated files)
testable() {
    local f=$1 out p
    if ! grep -q '"/etc/tproxyd/[^"]*\.pem"' "$f"; then
        printf '%s\n' "$f"
        return 0
    fi
    make_certs || { printf '%s\n' "$f"; return 0; }
    out=$T/certs-$(basename "$f")
    cp "$f" "$out"
    grep -o '"/etc/tproxyd/[^"]*\.pem"' "$f" | tr -d '"' | sort -u | while read -r p; do
        case $p in
        *key*) cp "$T/etc/key.pem" "$T/etc/$(basename "$p")" 2>/dev/null || true ;;
        *) cp "$T/etc/cert.pem" "$T/etc/$(basename "$p")" 2>/dev/null || true ;;
        esac
    done
    sed -i "s#\"/etc/tproxyd/#\"$T/etc/#g" "$out"
    printf '%s\n' "$out"
}
config_ok() {   # FILE
    local f
    f=$(testable "$1")
    "$TP" -t -c "$f"
}

shopt -s nullglob
confs=("$TPI_ROOT"/conf/*.conf "$TPI_ROOT"/conf/examples/*.conf)
shopt -u nullglob
[[ ${#confs[@]} -gt 0 ]] || tpi_check_soft "conf/ has configuration files" false
[[ -e $TPI_ROOT/conf/tproxyd.conf ]] || tpi_check_soft "conf/tproxyd.conf exists" false
for f in "${confs[@]}"; do
    tpi_check_soft "tproxyd -t accepts ${f#"$TPI_ROOT"/}" config_ok "$f"
done

# conf/tproxyd.conf's commented chain example, uncommented, is valid too
chain_example() {
    local f=$T/tproxyd-chain.conf
    sed -e 's|^\([[:space:]]*\)# chain = |\1chain = |' \
        -e '/^# chains = (/,/^# );/ s/^# \{0,1\}//' "$TPI_ROOT/conf/tproxyd.conf" >"$f"
    grep -q '^chains = (' "$f" || { echo "no commented '# chains = (' ... '# );' block"; return 1; }
    grep -q '^[[:space:]]*chain = ' "$f" || { echo "no commented '# chain = ...' line"; return 1; }
    config_ok "$f"
}
if [[ -e $TPI_ROOT/conf/tproxyd.conf ]]; then
    tpi_check_soft "conf/tproxyd.conf's commented chain example, uncommented, passes -t" chain_example
fi

mkdir -p "$T/ex"
tpi_check_soft "tproxyd.conf.5 EXAMPLES has configurations" python3 "$T/check.py" examples "$M5" "$T/ex"
shopt -s nullglob
for f in "$T"/ex/*.conf; do
    tpi_check_soft "tproxyd -t accepts tproxyd.conf.5 EXAMPLES #$(basename "$f" .conf | tr -dc 0-9)" \
        config_ok "$f"
done
shopt -u nullglob

# tproxyd.8's -L/-F command lines build valid configurations
mkdir -p "$T/cmd"
cmdline_ok() {   # ARGS-FILE: one argument per line
    local -a args
    local f
    mapfile -t args <"$1"
    if grep -q '/etc/tproxyd/[^&"]*\.pem' "$1" && make_certs; then
        f=$T/cmd/$(basename "$1").pem
        sed "s#/etc/tproxyd/\([^&\"]*key[^&\"]*\.pem\)#$T/etc/key.pem#g; s#/etc/tproxyd/[^&\"]*\.pem#$T/etc/cert.pem#g" \
            "$1" >"$f"
        mapfile -t args <"$f"
    fi
    echo "tproxyd ${args[*]}"
    "$TP" "${args[@]}" >/dev/null
}
tpi_check_soft "tproxyd.8 EXAMPLES has -L command lines" python3 "$T/check.py" cmdlines "$M8" "$T/cmd"
shopt -s nullglob
for f in "$T"/cmd/*.args; do
    tpi_check_soft "tproxyd.8 EXAMPLES command line #$(basename "$f" .args | tr -dc 0-9) passes -t" \
        cmdline_ok "$f"
done
shopt -u nullglob

if [[ -e $_TPI_STATE/failed ]]; then
    exit 1
fi
tpi_ok "documentation matches the program"
