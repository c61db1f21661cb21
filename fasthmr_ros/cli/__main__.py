"""python -m fasthmr_ros.cli: the `fasthmr` command."""

from fasthmr_ros.cli import main

raise SystemExit(main())
