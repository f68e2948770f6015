"""`python -m stratolink` runs the command line."""

from stratolink.cli import main

main()
