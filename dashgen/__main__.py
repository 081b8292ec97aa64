"""``python -m dashgen``: same as the ``dbhealth-dashboards`` console script."""

import sys

from dashgen.cli import main

sys.exit(main())
