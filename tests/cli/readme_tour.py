#!/usr/bin/python3
"""Runs the README's tour and checks its output: readme_e2e.sh's worker.

Usage: readme_tour.py README.md TOUR_DIR [TIME_BUDGET_S]

Every ```console block of the README is part of the tour. In a block, a line starting with "$ "
is a command (run by bash in TOUR_DIR, where build/src/cli/nncompress, models/ and tools/ are
set up by the caller); the lines after it, up to the next command, are its expected stdout.
Each expected line must match an output line, in order (the command may print more lines).
A match is exact except that numbers followed by "s" (seconds) may be any number and "..."
stands for any text. The whole tour must end within TIME_BUDGET_S seconds.
"""
import re
import subprocess
import sys
import time

NUMBER = re.compile(r"\d+(?:\.\d+)?")


def tour(readme):
    """[(command, [expected lines])] from the ```console blocks, in order."""
    steps, in_block = [], False
    for line in open(readme, encoding="utf-8").read().splitlines():
        if line.startswith("```"):
            in_block = line.strip() == "```console"
            continue
        if not in_block:
            continue
        if line.startswith("$ "):
            steps.append((line[2:], []))
        elif steps and line.strip():
            steps[-1][1].append(line)
    return steps


def pattern(expected):
    """The regular expression an expected output line stands for."""
    out, pos = [], 0
    for m in NUMBER.finditer(expected):
        out.append(re.escape(expected[pos:m.start()]))
        after = expected[m.end():m.end() + 2]
        seconds = after[:1] == "s" and not after[1:].isalpha()
        out.append(r"\d+(?:\.\d+)?" if seconds else re.escape(m.group()))
        pos = m.end()
    out.append(re.escape(expected[pos:]))
    return "".join(out).replace(re.escape("..."), ".*")


def main():
    readme, cwd = sys.argv[1], sys.argv[2]
    budget = float(sys.argv[3]) if len(sys.argv) > 3 else 180
    steps = tour(readme)
    if len(steps) < 3:
        sys.exit(f"FAIL: {readme}: expected the tour's ```console blocks, found {len(steps)} commands")
    start = time.monotonic()
    for command, expected in steps:
        t0 = time.monotonic()
        run = subprocess.run(["bash", "-c", "set -o pipefail; " + command], cwd=cwd, capture_output=True, text=True,
                             timeout=max(1.0, budget - (t0 - start)))
        took = time.monotonic() - t0
        if run.returncode != 0:
            sys.exit(f"FAIL: `{command}` exited {run.returncode}:\n{run.stderr[-2000:]}")
        actual = run.stdout.splitlines()
        i = 0
        for line in expected:
            regex = re.compile(pattern(line))
            while i < len(actual) and not regex.fullmatch(actual[i]):
                i += 1
            if i == len(actual):
                sys.exit(f"FAIL: `{command}`: the README shows\n  {line}\nbut it printed\n  " + "\n  ".join(actual))
            i += 1
        print(f"ok ({took:.1f}s): {command}")
    total = time.monotonic() - start
    print(f"tour: {len(steps)} commands in {total:.1f}s (budget {budget:.0f}s)")
    if total > budget:
        sys.exit(f"FAIL: the tour took {total:.1f}s, more than its {budget:.0f}s budget")


if __name__ == "__main__":
    main()
