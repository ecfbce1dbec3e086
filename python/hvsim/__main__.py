"""`python3 -m hvsim ...` is the same as `./hvsim ...` without the build step."""
import sys

from .cli import main

sys.exit(main())
