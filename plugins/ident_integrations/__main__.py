"""``python -m ident_integrations`` is the ``ident`` command."""

import sys

from ident_integrations.cli import main

sys.exit(main())
