"""Run every benchmark in turn; each prints one JSON line."""
from __future__ import annotations

import subprocess
import sys

BENCHMARKS = ["bench.core_requests", "bench.listing_search", "bench.listing_import"]

if __name__ == "__main__":
    failed = 0
    for mod in BENCHMARKS:
        failed |= subprocess.call([sys.executable, "-m", mod, *sys.argv[1:]])
    sys.exit(failed)
