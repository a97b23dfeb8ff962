# Sourced by the benchmarks that build a generated C project (file-heavy.sh, tracing.sh).
# c_project NAME: makes $work under /var/lib/husk-bench (not /tmp or /var/tmp: sandboxes get
# fresh ones), removed at exit, holding project.tar (FILES sources, 200 by default, and a
# Makefile), a copy of husk and an empty run/; sets $as_user (as root, the measuring user
# nobody, who owns the project, as a user's own files are) and $job (untar, make -j2, delete).
c_project() {
    mkdir -p /var/lib/husk-bench
    work=$(mktemp -d "/var/lib/husk-bench/$1.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    mkdir -p "$work/src"
    local i
    for i in $(seq 1 "${FILES:-200}"); do
        {
            echo "#include <stdio.h>"
            echo "#include <string.h>"
            echo "int f$i(const char *s) { int n = 0; for (size_t k = 0; k < strlen(s); k++) n += s[k] * $i; return n; }"
            echo "void g$i(void) { char b[64]; snprintf(b, sizeof b, \"%d\", f$i(\"husk\")); }"
        } >"$work/src/f$i.c"
    done
    echo 'int main(void) { return 0; }' >"$work/src/main.c"
    cat >"$work/src/Makefile" <<'MK'
SRCS := $(wildcard *.c)
OBJS := $(SRCS:.c=.o)
app: $(OBJS)
	$(CC) -o $@ $(OBJS)
%.o: %.c
	$(CC) -O1 -c -o $@ $<
MK
    tar -C "$work" -cf "$work/project.tar" src
    rm -rf "$work/src"
    cp "$root/artifacts/bin/husk" "$work/husk"
    mkdir "$work/run"
    chmod -R a+rwX "$work"
    as_user=()
    if [ "$(id -u)" = 0 ]; then
        as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
        chown -R 65534:65534 "$work"
    fi
    job="cd $work/run && tar xf ../project.tar && cd src && make -s -j2 && cd .. && rm -rf src"
}
