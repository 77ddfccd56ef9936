import sys

from tickpipe.cli import main

sys.exit(main())
