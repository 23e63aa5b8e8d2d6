"""Storage: the database schema and the functions that read and write drift history.

One module per repository (targets, builds, images, baselines, noise, history, leases, alerts, garbage,
installation), with what they share in rows. Every function takes the caller's session (its unit of
work); SQLAlchemy stays inside this package.
"""
