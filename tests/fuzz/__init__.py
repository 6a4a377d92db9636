"""Fuzzing Cairn's parsers and CLI over mutated real inputs (``./dev fuzz``, docs/development.md).

``corpus`` builds the seeds from real vectors, ``mutate`` changes them, ``targets`` feeds them to
each parser and ``cairn`` subcommand, ``run`` is the time-bounded driver. The property test
``tests/verifier/cli/test_no_internal_errors.py`` drives the same targets with hypothesis.
"""
