"""The ``cairn`` command-line interface."""
