"""`python -m raygitops <command> [args]`: the entry point every tools/<command> shim uses."""
import sys

try:  # Ctrl-C while the interpreter is still importing must not print a traceback either
    from raygitops.cli import main
except KeyboardInterrupt:
    print("interrupted", file=sys.stderr)
    raise SystemExit(130)

raise SystemExit(main())
