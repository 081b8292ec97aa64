"""``python -m receiver`` is ``dbhealth-receiver``."""

import sys

from .cli import main

sys.exit(main())
