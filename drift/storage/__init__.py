"""Storage: the database schema and the functions that read and write drift history."""
