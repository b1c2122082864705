"""What one password check costs: argon2-cffi's defaults (argon2id t=3, 64 MiB, 4 lanes; Apel's hashing
before) against Apel's parameters now (attendance.roster.passwords: OWASP's t=2, 19 MiB, 1 lane), in the
same run, interleaved so a change in the machine's load hits both alike.

Per parameter set: CPU seconds per check (this process's CPU time: the 4 lanes' threads included), wall
seconds per check alone, and checks per second with `--threads` checks at once (argon2-cffi releases
the interpreter lock while hashing) — what a burst of logins gets from the machine.

    nice -n 10 .venv/bin/python bench/bench_password_hash.py [--checks 20] [--threads 2]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from argon2 import PasswordHasher

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from attendance.roster import passwords

PASSWORD = "bench-hash-Passw0rd"


def one(hasher: PasswordHasher, digest: str) -> tuple[float, float]:
    c0, w0 = time.process_time(), time.perf_counter()
    hasher.verify(digest, PASSWORD)
    return time.process_time() - c0, time.perf_counter() - w0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checks", type=int, default=20, help="checks per parameter set, one at a time")
    ap.add_argument("--threads", type=int, default=2, help="checks at once for the throughput figure")
    args = ap.parse_args()
    sets = {"argon2-cffi defaults (before)": PasswordHasher(),
            f"Apel now ({passwords.hash_parameters(passwords.hash_password(PASSWORD))})": passwords._hasher}
    digests = {name: h.hash(PASSWORD) for name, h in sets.items()}
    cpu: dict[str, list[float]] = {n: [] for n in sets}
    wall: dict[str, list[float]] = {n: [] for n in sets}
    for _ in range(args.checks):
        for name, h in sets.items():
            c, w = one(h, digests[name])
            cpu[name].append(c)
            wall[name].append(w)
    rate = {}
    with ThreadPoolExecutor(args.threads) as pool:
        for name, h in sets.items():
            n = args.checks * args.threads
            t0 = time.perf_counter()
            list(pool.map(h.verify, [digests[name]] * n, [PASSWORD] * n))
            rate[name] = n / (time.perf_counter() - t0)
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; {args.checks} checks each, medians")
    for name in sets:
        print(f"  {name}: {statistics.median(cpu[name]):.3f} CPU-s a check, {statistics.median(wall[name]):.3f} s "
              f"wall alone; {rate[name]:.1f} checks/s with {args.threads} at once "
              f"(200 logins: {200 / rate[name]:.1f} s)")
    old, new = sets
    print(f"CPU per check before / now: {statistics.median(cpu[old]) / statistics.median(cpu[new]):.1f}x")


if __name__ == "__main__":
    main()
