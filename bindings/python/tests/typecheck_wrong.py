"""Wrong on purpose: a key must be a str. scripts/test-python.sh asserts that `mypy --strict`
reports the error on the marked line. Never run: not a test."""

from buildnet import BuildNetClient

bn = BuildNetClient("buildnet.yaml")
bn.get_state(1)  # error: an int is not a key
