"""Prints the punycode of a name: enough to prove the venv's packages load."""

import idna
import six

print(six.ensure_str(idna.encode("bücher.example")))
