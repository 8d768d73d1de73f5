"""Where a benchmark's figures go besides the terminal: the JSON file `--json FILE` names.

One job: write the results dict as indented JSON. It owns no measuring and prints nothing."""
from __future__ import annotations

import json
from typing import Any


def save_json(path: str | None, results: dict[str, Any]) -> None:
    """Write ``results`` to ``path`` as indented UTF-8 JSON; nothing when no path was given."""
    if path:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)
