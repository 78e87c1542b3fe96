"""Sum the layout tests' figures (one JSON per layout) and print them."""

import json
import sys
from pathlib import Path

figures = {p.stem: json.loads(p.read_text()) for p in sorted(Path(sys.argv[1]).glob("*.json"))}
total = {k: sum(f[k] for f in figures.values()) for k in ("files", "edited", "edits")}
print("layouts checked: %d; files compared: %d; files edited: %d; edits checked: %d"
      % (len(figures), total["files"], total["edited"], total["edits"]))
