"""``python -m lib.cli``: the same as the ``imagelab`` command."""

import sys

from lib.cli import main

sys.exit(main())
