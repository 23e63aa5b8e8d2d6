"""Prints the version of the library pip installed at build time."""

import drift_sample_lib

print(f"drift_sample_lib {drift_sample_lib.VERSION}")
