#!/usr/bin/env python3
"""Runs the workspace's test binaries, several at a time, as `cargo test --workspace --no-fail-fast` would.

Most end-to-end tests spend their time waiting (transaction timeouts, checkpoint intervals, reconcile loops,
pod starts), so on two cores two binaries at once finish well before one after the other. Each binary runs as
cargo runs it: from its package's directory, with CARGO_MANIFEST_DIR and CARGO_PKG_NAME set. Its whole output
is printed, in one piece, when it ends, followed by a line saying how it ended and after how long; the exit
status is non-zero when any binary failed. Doc tests are not binaries: ./test.sh runs them with
`cargo test --doc` afterwards.

    scripts/test-binaries.py --jobs 2 [--durations FILE]

The crash tests paced to a live input (ALONE) run one at a time after the others.

--durations keeps each binary's last wall time, so the next run starts the longest ones first (the real-node
test first on a run without history), which keeps the last binary from running alone at the end.
"""

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import threading
import time

# Run first when no durations are on record: the longest binary by far (docs/testing.md).
LONGEST_WITHOUT_HISTORY = ("kube_node",)
# Crash tests whose kill schedules are paced to a live input of fixed length: beside another binary on two
# cores too few rounds fit before the input ends (seen on 2026-12-08 at a860d5e). They run alone, after the rest.
ALONE = ("worker_crash_at_speed", "worker_exactly_once")


def test_executables():
    """(name, package, package dir, executable) of every test binary `cargo test --workspace` would run."""
    cmd = ["cargo", "test", "--locked", "--workspace", "--no-run", "--message-format=json-render-diagnostics"]
    built = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    if built.returncode != 0:
        # cargo printed the compile errors on stderr.
        sys.exit(f"test-binaries: building the tests failed (`{' '.join(cmd)}` exited {built.returncode})")
    out = built.stdout
    found = []
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") != "compiler-artifact" or not msg.get("executable"):
            continue
        if not msg["profile"]["test"]:
            continue
        target = msg["target"]
        manifest_dir = os.path.dirname(msg["manifest_path"])
        package_name = package_name_of(msg["package_id"], manifest_dir)
        kind = "/".join(target["kind"])
        name = f"{package_name} {kind} {target['name']}" if kind != "lib" else f"{package_name} lib"
        found.append({"name": name, "target": target["name"], "package": package_name, "dir": manifest_dir,
                      "exe": msg["executable"]})
    return found


def package_name_of(package_id, manifest_dir):
    """The name in a package id: `path+file:///w/testbed#sluice-testbed@0.1.0`, or `path+file:///w/core#0.1.0`
    when the name is the directory's."""
    spec = package_id.rsplit("#", 1)[-1]
    return spec.split("@", 1)[0] if "@" in spec else os.path.basename(manifest_dir)


def load_durations(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def order(binaries, durations):
    def key(b):
        if b["name"] in durations:
            return (0, -durations[b["name"]], b["name"])
        if b["target"] in LONGEST_WITHOUT_HISTORY:
            return (0, -float("inf"), b["name"])
        return (1, 0, b["name"])
    return sorted(binaries, key=key)


def run_one(b):
    env = dict(os.environ, CARGO_MANIFEST_DIR=b["dir"], CARGO_PKG_NAME=b["package"])
    started = time.monotonic()
    proc = subprocess.run([b["exe"]], cwd=b["dir"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL)
    return proc.returncode, proc.stdout.decode("utf-8", "replace"), time.monotonic() - started


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--durations")
    args = ap.parse_args()
    if args.jobs < 1:
        sys.exit("--jobs must be at least 1")

    binaries = test_executables()
    if not binaries:
        sys.exit("no test binaries found: did `cargo test --no-run` build nothing?")
    durations = load_durations(args.durations) if args.durations else {}
    queue = order(binaries, durations)
    print(f"running {len(queue)} test binaries, {args.jobs} at a time", flush=True)

    printing = threading.Lock()
    failed = []

    def run_and_print(b):
        status, output, seconds = run_one(b)
        with printing:
            print(f"\n     Running {b['exe']} ({b['name']})", flush=True)
            sys.stdout.write(output)
            verdict = "ok" if status == 0 else f"FAILED (exit status {status})"
            print(f"==> {b['name']}: {verdict} after {seconds:.1f} s", flush=True)
            if status != 0:
                failed.append(b["name"])
        return b["name"], seconds

    shared = [b for b in queue if b["target"] not in ALONE]
    alone = [b for b in queue if b["target"] in ALONE]
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        finished = dict(pool.map(run_and_print, shared))
    finished.update(run_and_print(b) for b in alone)
    if args.durations:
        durations.update(finished)
        with open(args.durations, "w") as f:
            json.dump(durations, f, indent=1, sort_keys=True)
    if failed:
        print(f"\n{len(failed)} test binaries failed: {', '.join(failed)}", flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
