"""``python -m analysis``: the same as the ``resonance`` console script."""

import sys

from analysis.cli import main

sys.exit(main())
