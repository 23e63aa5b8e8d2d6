"""Compare: a build against its baseline: findings, ignore rules, causes and the verdict."""
