"""Run on the producer host: map IDs over the fleet, print what came back as one JSON line."""

from __future__ import annotations

import argparse
import json
import time

from producer import FleetExecutor


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--model")
    parser.add_argument("--timeout", type=float, default=180)
    args = parser.parse_args()
    with FleetExecutor(model=args.model, batch_size=args.batch) as executor:
        start = time.perf_counter()
        items = list(executor.map(range(args.count), timeout=args.timeout))
        elapsed = time.perf_counter() - start
    errors = [item for item in items if "error" in item]
    print(json.dumps({"elapsed": elapsed, "ids": [i["id"] for i in items], "errors": errors[:5]}))


if __name__ == "__main__":
    main()
