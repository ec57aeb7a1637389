"""``python -m analysis``: the same as the ``resonance`` console script, without the
interpreter's teardown at the end (:func:`analysis.cli.exit_now`)."""

from analysis.cli import exit_now, main

exit_now(main())
