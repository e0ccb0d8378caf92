"""The OpenAPI contract at size: schemathesis sends ≥ 10,000 generated requests to a live server and
checks each answer against /openapi.json (the driver is tests/api/contract.py, as in the test).

    PYTHONPATH=src python bench/openapi_fuzz.py [--examples 150] [--seed 1]

Prints requests by operation and status class, the 5xx and schema violations, and the share of 2xx
on CreateLink / CreateJob; exits 1 if any request got a 5xx or broke the contract.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "api")]

from conftest import start_server  # noqa: E402
from contract import fuzz  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=150, help="generated cases per operation and mode")
    parser.add_argument("--create-weight", type=int, default=4, help="times more cases for CreateLink/CreateJob")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="opencdm-fuzz-") as scratch:
        root = Path(scratch) / "files"
        root.mkdir()
        server = start_server(Path(scratch) / "home", env={"OPENCDM_FILE_ROOTS": str(root)})
        try:
            weights = {"CreateLink": args.create_weight, "CreateJob": args.create_weight}
            report = fuzz(server, root, examples=args.examples, seed=args.seed, weights=weights,
                          progress=lambda line: print(line, file=sys.stderr, flush=True))
        finally:
            server.stop()
    print(report.table())
    print()
    print(report.summary())
    for line in report.failures:
        print(line)
    print(f"finished {time.strftime('%Y-%m-%d %H:%M:%S')}")
    return 1 if report.failures or report.server_errors else 0


if __name__ == "__main__":
    sys.exit(main())
