"""``python -m earmark`` (and ``torchrun -m earmark``) runs the command line."""

from earmark.cli import main

main()
