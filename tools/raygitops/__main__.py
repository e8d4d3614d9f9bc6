"""`python -m raygitops <command> [args]`: the entry point every tools/<command> shim uses."""
from raygitops.cli import main

raise SystemExit(main())
