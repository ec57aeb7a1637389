"""Build ``reports/templates/dvc_plots.html``: a ``dvc plots show --html-template`` that works offline.

DVC's default page loads vega, vega-lite and vega-embed from a CDN, so it is blank without
internet. This template inlines the three libraries' minified builds (about 0.8 MB together) and
has no ``{scripts}`` placeholder, so DVC adds no CDN ``<script>`` tags. It is committed; rebuild it
after upgrading the libraries::

    cd "$(mktemp -d)" && npm pack vega@5 vega-lite@5 vega-embed@6 && for f in *.tgz; do tar xzf $f && mv package ${f%%-[0-9]*}; done
    python -m analysis.templates.dvc_plots THAT_DIR   # writes reports/templates/dvc_plots.html
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from analysis import paths

LIBS = (
    ("vega", "build/vega.min.js"),
    ("vega-lite", "build/vega-lite.min.js"),
    ("vega-embed", "build/vega-embed.min.js"),
)
OUT = paths.DVC_PLOTS_TEMPLATE

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
{refresh_tag}
<title>Resonance: DVC plots</title>
<!-- @@VERSIONS@@: inlined, so the page works offline -->
@@LIBS@@
<style>
body { font-family: system-ui, sans-serif; margin: 24px; }
table { border-spacing: 15px; }
</style>
</head>
<body>
<h1>Resonance: DVC plots</h1>
{plot_divs}
</body>
</html>
"""


def build(npm_dir: Path) -> str:
    """The template's text from unpacked npm packages under ``npm_dir`` (one folder per package)."""
    versions, scripts = [], []
    for name, rel in LIBS:
        folder = npm_dir / name
        js = (folder / rel).read_text(encoding="utf-8")
        for placeholder in ("{plot_divs}", "{scripts}", "{refresh_tag}"):
            if placeholder in js:  # DVC would substitute it inside the library
                raise ValueError(f"{folder / rel} contains {placeholder}")
        version = json.loads((folder / "package.json").read_text())["version"]
        versions.append(f"{name} {version}")
        scripts.append(f"<script>{js}</script>")
    return PAGE.replace("@@VERSIONS@@", ", ".join(versions)).replace("@@LIBS@@", "\n".join(scripts))


def main(argv: list[str] | None = None) -> int:
    """``python -m analysis.templates.dvc_plots NPM_DIR [OUT]``."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        sys.stderr.write(__doc__ or "")
        return 2
    out = Path(args[1]) if len(args) > 1 else OUT
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(build(Path(args[0])), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
