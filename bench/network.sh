#!/usr/bin/env bash
# Bulk TCP throughput and connection setup time, in one run, through: the host (no sandbox),
# pasta alone (pasta --config-net, no husk), husk run --net nat, and husk run's egress allowlist.
# The upstream is a server of this script's own on the host's loopback (never the outside):
# "bulk" sends BULK_MB MiB per connection, "conn" accepts and closes at once. nat reaches it
# through --allow-host-loopback (the gateway's address), pasta alone through its gateway mapping,
# the allowlist through rules naming bench.test:PORT, a name the script's own DNS responder
# (--dns-upstream) resolves to 127.0.0.1 (inside the sandbox 127.0.0.1 is its own loopback); the
# client looks the name up once, so setup time is the connection's, not the name's. Each path does ROUNDS rounds (best of)
# of one bulk transfer, CONNS sequential connect-and-EOF round trips and CONNS UDP echo round trips
# (one connected socket, 64 bytes each way; the allowlist relays them through a bench.test:PORT/udp
# rule); prints MB/s, ms per connection and µs per UDP round trip with ratios to pasta. Runs as
# nobody when started as root (the rootless paths).
# usage: bench/network.sh [rounds] [conns] [bulk MiB]
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
rounds=${1:-5} conns=${2:-300} bulk=${3:-512}
husk="$root/artifacts/bin/husk"
[ -x "$husk" ] || "$root/build.sh"
command -v pasta >/dev/null || { echo "bench: needs pasta (apt install passt)" >&2; exit 1; }
mkdir -p /var/lib/husk-bench
stage=$(mktemp -d /var/lib/husk-bench/net.XXXXXX)
cp "$husk" "$stage/husk"
cat > "$stage/client.py" <<'PY'
import socket, sys, time
host, bulk_port, conn_port, udp_port, rounds, conns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
host = socket.getaddrinfo(host, bulk_port, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
best_rate, best_conn, best_udp = 0.0, 1e9, 1e9
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(5); u.connect((host, udp_port)); ping = b"x" * 64
buf = bytearray(1 << 20)
for _ in range(rounds):
    s = socket.create_connection((host, bulk_port)); n = 0; t = time.perf_counter()
    while (k := s.recv_into(buf)) > 0: n += k
    best_rate = max(best_rate, n / (time.perf_counter() - t) / 1e6); s.close()
    t = time.perf_counter()
    for _ in range(conns):
        c = socket.create_connection((host, conn_port)); c.recv(1); c.close()
    best_conn = min(best_conn, (time.perf_counter() - t) / conns * 1000)
    t = time.perf_counter()
    for _ in range(conns):
        u.send(ping); u.recv(100)
    best_udp = min(best_udp, (time.perf_counter() - t) / conns * 1e6)
print(f"{best_rate:.1f} {best_conn:.3f} {best_udp:.1f}")
PY
cat > "$stage/server.py" <<'PY'
import socket, sys, threading
bulk = int(sys.argv[1]) << 20
def serve(sock, handler):
    while True:
        c, _ = sock.accept(); threading.Thread(target=handler, args=(c,), daemon=True).start()
def blast(c):
    chunk = b"x" * (1 << 20); left = bulk
    try:
        while left > 0: c.sendall(chunk[:min(left, len(chunk))]); left -= len(chunk)
    finally: c.close()
def close(c): c.close()
socks = []
for h in (blast, close):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", 0)); s.listen(512); socks.append(s)
    threading.Thread(target=serve, args=(s, h), daemon=True).start()
def dns(u):  # every A question is 127.0.0.1 (bench.test for the allowlist), nothing else
    while True:
        q, peer = u.recvfrom(512); end = 12
        while q[end]: end += q[end] + 1
        question = q[12:end + 5]; a = question[-4:-2] == b"\0\1"
        answer = b"\xc0\x0c\0\1\0\1\0\0\0\x3c\0\4\x7f\0\0\1" if a else b""
        u.sendto(q[:2] + b"\x81\x80\0\1" + (b"\0\1" if a else b"\0\0") + b"\0\0\0\0" + question + answer, peer)
def echo(e):
    while True:
        d, peer = e.recvfrom(65536); e.sendto(d, peer)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0))
threading.Thread(target=dns, args=(u,), daemon=True).start()
e = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); e.bind(("127.0.0.1", 0))
threading.Thread(target=echo, args=(e,), daemon=True).start()
print(socks[0].getsockname()[1], socks[1].getsockname()[1], u.getsockname()[1], e.getsockname()[1], flush=True)
threading.Event().wait()
PY
chmod -R a+rX "$stage"
as_user=()
[ "$(id -u)" = 0 ] && as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
cd /
coproc server { exec /usr/bin/python3 "$stage/server.py" "$bulk"; }
trap 'kill $server_PID 2>/dev/null; rm -rf "$stage"' EXIT
read -r bulk_port conn_port dns_port udp_port <&"${server[0]}"
client=(/usr/bin/python3 "$stage/client.py")
args=("$bulk_port" "$conn_port" "$udp_port" "$rounds" "$conns")
gw() { "${as_user[@]}" "$@" sh -c "ip route show default | awk '{print \$3; exit}'"; }
declare -A rate conn udp
run() { # name, then the command before the client's arguments
    local name=$1; shift
    read -r rate[$name] conn[$name] udp[$name] < <("${as_user[@]}" "$@")
}
run host "${client[@]}" 127.0.0.1 "${args[@]}"
pasta_gw=$(gw pasta --config-net --quiet --)
run pasta pasta --config-net --quiet -- "${client[@]}" "$pasta_gw" "${args[@]}"
nat_gw=$(gw "$stage/husk" run --fs ro --net nat --allow-host-loopback --)
run nat "$stage/husk" run --fs ro --net nat --allow-host-loopback -- "${client[@]}" "$nat_gw" "${args[@]}"
run allowlist "$stage/husk" run --fs ro --dns-upstream "127.0.0.1:$dns_port" --allow-host "bench.test:$bulk_port" --allow-host "bench.test:$conn_port" --allow-host "bench.test:$udp_port/udp" -- "${client[@]}" bench.test "${args[@]}"
echo "bulk: $bulk MiB per transfer, best of $rounds; setup: $conns connect + EOF round trips, best of $rounds; udp: $conns echo round trips, best of $rounds"
for name in host pasta nat allowlist; do
    printf '%-10s %8.1f MB/s %6.2fx pasta   %7.3f ms/conn  %+7.3f ms vs pasta   %7.1f us/udp  %6.2fx pasta\n' "$name" "${rate[$name]}" \
        "$(python3 -c "print(${rate[$name]}/${rate[pasta]})")" "${conn[$name]}" "$(python3 -c "print(${conn[$name]}-${conn[pasta]})")" \
        "${udp[$name]}" "$(python3 -c "print(${udp[$name]}/${udp[pasta]})")"
done
