"""Where a claim's time goes, in-process: Django's ``WSGIHandler`` without HTTP, one thread, under cProfile.

    python bench/claim_profile.py                   # SQLite file under var/bench/, 2,000 claims
    python bench/claim_profile.py --pg --redis      # PostgreSQL (database allot_bench_profile) + Redis db 13
    python bench/claim_profile.py -n 5000 --top 40 --no-profile   # just the per-claim time
    python bench/claim_profile.py --threads 8 -n 4000 [--pg --redis]   # CPU per claim with 8 claims at once

Prints the per-claim wall time of accepted claims and of "sold out" refusals (after the quota is gone), then
the top functions by cumulative time of the claims. The database is recreated on every run.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import surge  # noqa: E402


def environ(path: str, body: bytes) -> dict[str, object]:
    return {
        "REQUEST_METHOD": "POST", "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": "",
        "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)), "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "127.0.0.1",
        "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
        "wsgi.multithread": True, "wsgi.multiprocess": True, "wsgi.run_once": False, "wsgi.version": (1, 0),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # (a serial loop sends each claim to the group-commit writer alone: its per-claim time includes the hand-over
    # to the writer thread that a surge shares out over a batch; --threads shows the surge's case)
    p.add_argument("--pg", action="store_true")
    p.add_argument("--redis", action="store_true")
    p.add_argument("-n", type=int, default=2000, help="claims")
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--no-profile", action="store_true")
    p.add_argument("--threads", type=int, default=0,
                   help="instead: N threads claim at once (no profile); prints the process's CPU time per claim, "
                        "which other load on the machine disturbs less than wall time, and claims/s")
    args = p.parse_args()
    args.cap, args.pg_db, args.redis_db, args.no_proof = 8, "allot_bench_profile", 13, False
    args.lane_cap = 48   # (read by surge.bench_env; the claim lane is not in this process)
    env = surge.bench_env(args)
    if not args.pg:
        env["DATABASE_URL"] = f"sqlite:///{ROOT / 'var' / 'bench' / 'profile.sqlite3'}"
    surge.prepare_database(args, env)
    surge.django_setup(env)
    from config.wsgi import application as app  # as served: the admission wrapper and the short API chain
    surge.campaign_create("profile", args.n)
    proofs = iter(surge.proofs(args.n * 2 + 100, env, no_proof=False))   # solved beforehand, as bench/surge.py
    path = "/api/v1/campaigns/profile/claims"
    statuses: dict[str, int] = {}
    counting = threading.Lock()   # with --threads, a count updated between two threads' turns was lost

    def call(n: int) -> None:
        status = []
        out = app(environ(path, surge.claim_body(n, next(proofs))), lambda s, h, *a: status.append(s))
        b"".join(out)
        getattr(out, "close", lambda: None)()
        with counting:
            statuses[status[0][:3]] = statuses.get(status[0][:3], 0) + 1

    for n in range(50):   # warm-up: caches, connections, imports
        call(10_000_000 + n)
    if args.threads:
        from allot.firstcome import services

        per = (args.n - 50) // args.threads
        cpu0, wall0 = time.process_time(), time.perf_counter()
        workers = [threading.Thread(target=lambda k=k: [call(1_000_000 * (k + 1) + i) for i in range(per)])
                   for k in range(args.threads)]
        for t in workers:
            t.start()
        for t in workers:
            t.join()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        w = services._claim_writer
        print(f"answers {statuses}; {args.threads} threads: {cpu / (per * args.threads) * 1e6:.0f} µs of CPU per "
              f"claim, {per * args.threads / wall:.0f} claims/s; group commit: {w.jobs} claims in {w.batches} "
              f"transactions")
        return
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    if not args.no_profile:
        prof.enable()
    for n in range(args.n - 50):
        call(n)
    if not args.no_profile:
        prof.disable()
    claims_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for n in range(args.n):
        call(20_000_000 + n)
    refusals_s = time.perf_counter() - t0
    print(f"answers {statuses}")
    print(f"claim: {claims_s / (args.n - 50) * 1e6:.0f} µs each ({'profiled' if not args.no_profile else 'plain'}); "
          f"'sold out': {refusals_s / args.n * 1e6:.0f} µs each (not profiled)")
    if not args.no_profile:
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats("cumulative").print_stats(args.top)
        print(s.getvalue())
        prof.dump_stats(str(ROOT / "var" / "bench" / "claim.prof"))
    os.environ.pop("DJANGO_SETTINGS_MODULE", None)


if __name__ == "__main__":
    main()
