#!/usr/bin/env python3
"""Memory of a fresh leader under many idle connections, and after they close.

Starts `ferry leader` on a fresh data directory, opens N idle connections to it (TLS connections
that complete the handshake and never send a request, or bare TCP connections), holds them, closes
them, and reads the leader's VmRSS (/proc/PID/status) at each step:

    baseline | with N open | right after close | settled (after --settle seconds)

Usage: bench/idle-connections.py [--ferry .build/debug/ferry] [--connections 10000]
                                 [--mode tls|tcp] [--runs 3] [--settle 15]
Prints one line per run and the medians (MB). Raise `ulimit -n` above N first.
"""
import argparse, asyncio, os, socket, ssl, statistics, subprocess, sys, tempfile, time


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def open_connections(port, count, mode, ca):
    context = None
    if mode == "tls":
        context = ssl.create_default_context(cafile=ca)
        context.check_hostname = False
    connections, limit = [], asyncio.Semaphore(200)

    async def one():
        async with limit:
            for _ in range(5):
                try:
                    return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port, ssl=context), 30)
                except (OSError, asyncio.TimeoutError, ssl.SSLError):
                    await asyncio.sleep(0.2)
            return None

    for result in await asyncio.gather(*(one() for _ in range(count))):
        if result:
            connections.append(result[1])
    return connections


async def close_all(writers):
    for writer in writers:
        writer.transport.abort() if writer.transport else None
    await asyncio.sleep(0.5)


def run_once(args):
    with tempfile.TemporaryDirectory(prefix="ferry-idle-") as data:
        port = free_port()
        leader = subprocess.Popen(
            [args.ferry, "leader", "--data-dir", data, "--listen", f"127.0.0.1:{port}", "--log-level", "warning",
             # Every connection comes from this one address: no per-client cap.
             "--max-connections-per-client", "0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 60
            while not os.path.exists(f"{data}/address"):
                if time.time() > deadline or leader.poll() is not None:
                    raise SystemExit("the leader did not start")
                time.sleep(0.1)
            time.sleep(2)
            baseline = rss_mb(leader.pid)
            loop = asyncio.new_event_loop()
            writers = loop.run_until_complete(open_connections(port, args.connections, args.mode, f"{data}/ca.pem"))
            time.sleep(2)
            opened = rss_mb(leader.pid)
            loop.run_until_complete(close_all(writers))
            loop.close()
            time.sleep(2)
            closed = rss_mb(leader.pid)
            time.sleep(args.settle)
            settled = rss_mb(leader.pid)
            return len(writers), baseline, opened, closed, settled
        finally:
            leader.terminate()
            try:
                leader.wait(120)
            except subprocess.TimeoutExpired:
                leader.kill()
                leader.wait()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ferry", default=".build/debug/ferry")
    parser.add_argument("--connections", type=int, default=10000)
    parser.add_argument("--mode", choices=["tls", "tcp"], default="tls")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--settle", type=float, default=15)
    args = parser.parse_args()
    rows = []
    for run in range(args.runs):
        row = run_once(args)
        rows.append(row)
        print(f"run {run + 1}: {row[0]} connections  baseline {row[1]:.0f} MB  open {row[2]:.0f} MB  "
              f"closed {row[3]:.0f} MB  settled {row[4]:.0f} MB", flush=True)
    median = [statistics.median(r[i] for r in rows) for i in range(1, 5)]
    print(f"median ({args.mode}, {args.connections}): baseline {median[0]:.0f} MB  open {median[1]:.0f} MB  "
          f"closed {median[2]:.0f} MB  settled {median[3]:.0f} MB")


if __name__ == "__main__":
    sys.exit(main())
