"""Report: what the recorded builds say, as a table, a JSON document and more."""
