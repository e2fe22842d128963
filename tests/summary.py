#!/usr/bin/env python3
"""Reads the JUnit XML files of a test run (cmocka unit tests, pytest
integration tests) from a directory, prints one line per suite and every
failure, and ends with "N passed, N failed" (", N skipped" when some were).
Exits 1 if anything failed or nothing ran."""
import glob
import os
import sys
import xml.etree.ElementTree as ET


def cases(path):
    """Yields (suite, case, outcome, message) for one JUnit file."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.iter("testsuite")
    for suite in suites:
        for case in suite.iter("testcase"):
            outcome, message = "passed", ""
            for tag in ("failure", "error", "skipped"):
                node = case.find(tag)
                if node is not None:
                    outcome = "skipped" if tag == "skipped" else "failed"
                    message = (node.get("message") or node.text or "").strip()
                    break
            yield suite.get("name", "?"), case.get("name", "?"), outcome, message


def main():
    totals = {"passed": 0, "failed": 0, "skipped": 0}
    failures = []
    for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.xml"))):
        try:
            rows = list(cases(path))
        except ET.ParseError as e:
            rows = [(os.path.basename(path), "(results)", "failed", str(e))]
        counts = {"passed": 0, "failed": 0, "skipped": 0}
        for suite, case, outcome, message in rows:
            counts[outcome] += 1
            if outcome == "failed":
                failures.append(f"FAILED {suite} :: {case}: {message[:400]}")
        for k in totals:
            totals[k] += counts[k]
        name = os.path.basename(path)[:-4]
        print(f"  {name:40s} {counts['passed']:4d} passed {counts['failed']:3d} failed"
              f" {counts['skipped']:3d} skipped")
    for f in failures:
        print(f)
    line = f"{totals['passed']} passed, {totals['failed']} failed"
    if totals["skipped"]:
        line += f", {totals['skipped']} skipped"
    print(line)
    sys.exit(1 if totals["failed"] or not totals["passed"] else 0)


if __name__ == "__main__":
    main()
