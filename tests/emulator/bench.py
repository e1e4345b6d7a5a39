#!/usr/bin/env python3
"""The stalecreds benchmark: prints figures, asserts nothing about time.

Seeds moto with N member accounts x M users (default 50 x 20) and runs `stalecreds scan` in
both modes under four conditions: as is, with latency added to every request (AWS is not on
loopback), with a share of IAM requests answered `Throttling`, and under injected faults (500,
503, dropped connections and answers slower than the attempt timeout, on every service). For each run it prints the
wall time, the AWS requests per member account (counted at the emulator, AssumeRole included)
and the peak RSS of the stalecreds process, and checks that the findings are those of the
undisturbed run. With --fanout N it also runs the same scan fanned out (`stalecreds plan`, N
`stalecreds scan --plan … --batch I` processes at once, `stalecreds merge`) and prints the same
figures, each phase's wall time and the management account's requests of both. Run it with
scripts/bench.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def http(endpoint: str, path: str, payload: dict | None = None) -> dict:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(endpoint + path, data=data, method="POST" if data is not None else "GET")
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def aws_env(endpoint: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }


def run_scan(binary: Path, endpoint: str, args: list[str]) -> tuple[float, int, dict, int]:
    """(wall seconds, peak RSS KiB, report, exit status) of one scan."""
    env = aws_env(endpoint)
    started = time.monotonic()
    process = subprocess.Popen(
        [str(binary), "scan", "--format", "json", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    stdout, stderr = process.communicate()
    wall = time.monotonic() - started
    # This runs in a helper process whose only child is the scan (see measure()), so the
    # children's peak RSS is the scan's own.
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if not stdout:
        sys.exit(f"stalecreds printed no report (exit {process.returncode}): {stderr.decode()[-2000:]}")
    return wall, rss, json.loads(stdout), process.returncode


def run_fanout(binary: Path, endpoint: str, args: list[str], batches: int, accounts: int) -> dict:
    """Plan, `batches` batch processes at once, merge: wall times, peak RSS KiB, report, status."""
    import tempfile

    env = aws_env(endpoint)
    place = tempfile.mkdtemp(prefix="stalecreds-bench-")
    batch_size = str(math.ceil(accounts / batches))
    started = time.monotonic()
    planned = subprocess.run(
        [str(binary), "plan", "--out", place + "/", "--batch-size", batch_size, *args],
        env=env,
        capture_output=True,
        check=False,
    )
    if planned.returncode != 0:
        sys.exit(f"stalecreds plan failed: {planned.stderr.decode()[-2000:]}")
    plan = planned.stdout.decode().strip()
    planned_at = time.monotonic()
    # The plan decides the batches (the management account is one more account to scan).
    with open(plan, encoding="utf-8") as file:
        batches = len(json.load(file)["batches"])
    workers = [
        subprocess.Popen(
            [str(binary), "scan", "--plan", plan, "--batch", str(index), *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for index in range(batches)
    ]
    for worker in workers:
        _, stderr = worker.communicate()
        if worker.returncode not in (0, 1):
            sys.exit(f"a batch failed (exit {worker.returncode}): {stderr.decode()[-2000:]}")
    scanned_at = time.monotonic()
    merged = subprocess.run(
        [str(binary), "merge", "--plan", plan, "--format", "json", *args],
        env=env,
        capture_output=True,
        check=False,
    )
    ended = time.monotonic()
    if not merged.stdout:
        sys.exit(f"stalecreds merge printed no report (exit {merged.returncode}): {merged.stderr.decode()[-2000:]}")
    return {
        "batches": batches,
        "wall": ended - started,
        "phases": [planned_at - started, scanned_at - planned_at, ended - scanned_at],
        "rss": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        "report": json.loads(merged.stdout),
        "status": merged.returncode,
    }


def measure_fanout(binary: Path, endpoint: str, args: list[str], batches: int, accounts: int) -> dict:
    """run_fanout in a fresh helper process: its RUSAGE_CHILDREN peak is the largest step's."""
    helper = subprocess.run(
        [sys.executable, __file__, "--fanout-one", str(binary), endpoint, json.dumps(args), str(batches), str(accounts)],
        stdout=subprocess.PIPE,
        check=True,
    )
    return json.loads(helper.stdout)


def management_requests(stats: dict, management: str) -> str:
    counts: dict[str, int] = {}
    for row in stats["requests"]:
        if row["account"] == management:
            counts[row["action"]] = counts.get(row["action"], 0) + row["count"]
    return ", ".join(f"{action} {count}" for action, count in sorted(counts.items()))


def measure(binary: Path, endpoint: str, args: list[str]) -> tuple[float, int, dict, int]:
    """Runs one scan in a fresh helper process, so that its RUSAGE_CHILDREN peak is this scan's alone."""
    helper = subprocess.run(
        [sys.executable, __file__, "--one", str(binary), endpoint, json.dumps(args)],
        stdout=subprocess.PIPE,
        check=True,
    )
    result = json.loads(helper.stdout)
    return result["wall"], result["rss"], result["report"], result["status"]


def findings_of(report: dict) -> list[tuple]:
    return sorted(
        (f["account_id"], f["user_name"], f["credential"], f["access_key_id"], f["idle_days"]) for f in report["findings"]
    )


def per_member(stats: dict, management: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in stats["requests"]:
        if row["account"] != management:
            counts[row["account"]] = counts.get(row["account"], 0) + row["count"]
    return counts


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--one":
        binary, endpoint, args = Path(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
        wall, rss, report, status = run_scan(binary, endpoint, args)
        print(json.dumps({"wall": wall, "rss": rss, "report": report, "status": status}))
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "--fanout-one":
        binary, endpoint, args = Path(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
        print(json.dumps(run_fanout(binary, endpoint, args, int(sys.argv[5]), int(sys.argv[6]))))
        return 0

    parser = argparse.ArgumentParser(description="stalecreds benchmark")
    parser.add_argument("--binary", default=str(ROOT / "target/release/stalecreds"))
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--throttle-rate", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--modes", default="report,api")
    parser.add_argument("--fault-rate", type=float, default=0.1)
    parser.add_argument(
        "--conditions",
        default="as-is,latency,throttle,faults",
        help="a subset, for an older binary; `securityhub` adds a run that imports into Security Hub",
    )
    parser.add_argument(
        "--fanout", type=int, default=0, help="also run each mode as-is as plan, N batches at once, merge"
    )
    options = parser.parse_args()

    fixture = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "tests/emulator/moto_fixture.py"),
            "--scenario",
            "bench",
            "--accounts",
            str(options.accounts),
            "--users",
            str(options.users),
            "--max-seconds",
            "3600",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        seeded_at = time.monotonic()
        ready = json.loads(fixture.stdout.readline())
        endpoint = ready["endpoint"]
        management = ready["accounts"]["management"]
        print(
            f"seeded {options.accounts} member accounts x {options.users} users on {endpoint} "
            f"in {time.monotonic() - seeded_at:.1f} s; binary {options.binary}"
        )
        print()
        header = f"{'mode':<7} {'condition':<22} {'wall s':>7} {'req/member (min/mean/max)':>27} {'peak RSS MiB':>13} {'findings':>9}  same"
        print(header)
        print("-" * len(header))
        # (name, label, fixture settings, extra scan arguments)
        every = [
            ("as-is", "as is", {}, []),
            ("latency", f"+{options.latency_ms} ms per request", {"latency_ms": options.latency_ms}, []),
            ("throttle", f"{options.throttle_rate:.0%} IAM throttled", {"throttle_rate": options.throttle_rate}, []),
            (
                "faults",
                f"{options.fault_rate:.0%} faults, 1 s attempts",
                {"faults": {"rate": options.fault_rate, "slow_ms": 2500, "seed": 3}},
                ["--attempt-timeout", "1", "--call-timeout", "60"],
            ),
            ("securityhub", "as is, + Security Hub", {}, ["--security-hub"]),
        ]
        wanted = options.conditions.split(",")
        conditions = [condition for condition in every if condition[0] in wanted]
        for mode in options.modes.split(","):
            baseline = None
            for _, label, fixture_settings, extra in conditions:
                latency = fixture_settings.get("latency_ms", 0)
                http(endpoint, "/_fixture/config", fixture_settings)
                http(endpoint, "/_fixture/reset", {})
                args = ["--mode", mode, "--concurrency", str(options.concurrency), *extra]
                wall, rss, report, status = measure(Path(options.binary), endpoint, args)
                counts = per_member(http(endpoint, "/_fixture/stats"), management)
                found = findings_of(report)
                if baseline is None:
                    baseline = found
                values = list(counts.values()) or [0]
                print(
                    f"{mode:<7} {label:<22} {wall:>7.2f} "
                    f"{min(values):>9} / {sum(values) / len(values):>6.1f} / {max(values):>5} "
                    f"{rss / 1024:>13.1f} {len(found):>9}  {'yes' if found == baseline else 'NO'}"
                    + ("" if status in (0, 1) else f"  (exit {status}: {report['summary']})")
                )
                if mode == "report" and label == "as is":
                    with_keys = sum(
                        1
                        for _ in {(f["account_id"], f["user_name"]) for f in report["findings"] if f["credential"] == "access_key"}
                    )
                    print(
                        f"{'':<7} {'':<22} users with key findings: {with_keys} "
                        f"({with_keys / max(1, options.accounts):.1f} per member); "
                        f"target: <= 4 + that per member"
                    )
                if "--security-hub" in extra:
                    stats = http(endpoint, "/_fixture/stats")
                    imports = sum(
                        row["count"] for row in stats["requests"] if row["action"] == "BatchImportFindings"
                    )
                    print(f"{'':<7} {'':<22} BatchImportFindings calls: {imports} for {len(found)} open findings")
                if latency:
                    rounds = math.ceil(options.accounts / options.concurrency)
                    print(f"{'':<7} {'':<22} {rounds} rounds of {options.concurrency} accounts at {latency} ms per call")
                if options.fanout and not fixture_settings and not extra:
                    stats = http(endpoint, "/_fixture/stats")
                    print(f"{'':<7} {'':<22} management account: {management_requests(stats, management)}")
                    http(endpoint, "/_fixture/reset", {})
                    fanned = measure_fanout(Path(options.binary), endpoint, args, options.fanout, options.accounts)
                    stats = http(endpoint, "/_fixture/stats")
                    values = list(per_member(stats, management).values()) or [0]
                    found = findings_of(fanned["report"])
                    label = f"fan-out, {fanned['batches']} batches"
                    print(
                        f"{mode:<7} {label:<22} {fanned['wall']:>7.2f} "
                        f"{min(values):>9} / {sum(values) / len(values):>6.1f} / {max(values):>5} "
                        f"{fanned['rss'] / 1024:>13.1f} {len(found):>9}  {'yes' if found == baseline else 'NO'}"
                        + ("" if fanned["status"] in (0, 1) else f"  (exit {fanned['status']}: {fanned['report']['summary']})")
                    )
                    plan_s, batches_s, merge_s = fanned["phases"]
                    print(
                        f"{'':<7} {'':<22} plan {plan_s:.2f} s, batches {batches_s:.2f} s, merge {merge_s:.2f} s; "
                        f"accounts scanned {fanned['report']['summary']['accounts_scanned']}"
                    )
                    print(f"{'':<7} {'':<22} management account: {management_requests(stats, management)}")
        http(endpoint, "/_fixture/config", {})
    finally:
        fixture.stdin.close()
        fixture.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
