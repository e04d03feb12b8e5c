"""Summarises the TRACE lines of scripts/experiments/warning-trace.patch (docs/scaling.md):
   python3 scripts/experiments/warning-trace.py trace.err
Per configuration of `bench --cluster` (100 faults each, in run order): publish -> pipeline,
the wait in the store lane and the store write, p50 / p99 in ms; then the lane's tasks by kind."""
import collections
import re
import sys

lines = [line for line in open(sys.argv[1]) if line.startswith('TRACE')]
series = {'publish -> pipeline': r'onDeviceEvent \S+ sinceTs=(-?\d+)', 'lane wait': r'applyOne \S+ laneWait=(\d+)', 'store write': r'applyOne \S+ laneWait=\d+ store=(\d+)'}
for name, pat in series.items():
    xs = [int(m.group(1)) for m in (re.search(pat, line) for line in lines) if m]
    for i in range(0, len(xs), 100):
        c = sorted(xs[i:i + 100])
        print(f'{name:20} configuration {i // 100}: p50 {c[len(c) // 2]:6} p99 {c[max(0, int(len(c) * 0.99) - 1)]:6} ({len(c)} faults)')
kinds = collections.defaultdict(lambda: [0, 0])
for m in (re.search(r'lane (\S+) wait=\d+ run=(\d+)', line) for line in lines):
    if m:
        kinds[m.group(1)][0] += 1
        kinds[m.group(1)][1] += int(m.group(2))
for k, (n, ms) in kinds.items():
    print(f'lane task {k:40} {n:5} tasks, {ms / 1000:.1f} s of lane time')
