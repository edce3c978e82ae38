"""`python -m signalstack.cli`, the same as the `signalstack` command."""

import sys

from . import main

sys.exit(main())
