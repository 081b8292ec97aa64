"""``python -m rulegen``: same as the ``dbhealth-rules`` console script."""

import sys

from rulegen.cli import main

sys.exit(main())
