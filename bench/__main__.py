"""Entry point of ``python -m bench``: the benchmark harness (bench/harness.py)."""
from __future__ import annotations

from smalltalk_vm.bench.harness import main

if __name__ == "__main__":
    raise SystemExit(main())
