"""``python -m fyers.sim``: the simulator alone (same options as ``tickpipe sim``)."""

import logging
import sys

from fyers.sim.cli import main

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
sys.exit(main())
