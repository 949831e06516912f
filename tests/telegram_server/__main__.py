"""`python -m tests.telegram_server`: the standalone server (`cli.py`)."""

from tests.telegram_server.cli import main

if __name__ == "__main__":
    main()
