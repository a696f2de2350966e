"""``python -m hcserver.simulator``: the printer simulator in the foreground (``hcserver simulate-printer``)."""
import sys

from hcserver.simulator import main

sys.exit(main())
