"""The `crm` console script and `python -m crm`: a Ctrl-C at any moment, even while the CLI's modules are still
importing (a second or two on a cold start), ends with one line and exit code 130, never a traceback."""

from __future__ import annotations

import sys

INTERRUPTED = 130  # 128 + SIGINT, what shells report for a job stopped with Ctrl-C


def main() -> None:
    try:
        from crm.cli import cli  # inside the try: a Ctrl-C while the CLI's modules import ends as "interrupted"

        cli(prog_name="crm")
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(INTERRUPTED)


if __name__ == "__main__":
    main()
