"""``python -m cygen.cli``."""

from cygen.cli.app import main

main()
