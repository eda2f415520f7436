import sys

from kzoo.presets import main

sys.exit(main())
