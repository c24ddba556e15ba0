"""`python -m catd_node` = `catd-node`."""

import sys

from catd_node.cli import main

sys.exit(main())
