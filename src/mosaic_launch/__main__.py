"""``python -m mosaic_launch``: the same as the ``mosaic`` command."""

from mosaic_launch.cli import main

main()
