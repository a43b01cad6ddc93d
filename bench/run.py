"""Run every benchmark in turn with its defaults; each prints one JSON line."""
from __future__ import annotations

import subprocess
import sys

BENCHMARKS = ["bench.core_requests", "bench.listing_search", "bench.listing_import",
              "bench.allocation", "bench.agreements_sign"]

if __name__ == "__main__":
    failed = 0
    for mod in BENCHMARKS:
        failed |= subprocess.call([sys.executable, "-m", mod])
    sys.exit(failed)
