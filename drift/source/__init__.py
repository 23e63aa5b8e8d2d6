"""Source stage: the tracked repository at its pinned commit, as a clean tree on disk.

`normalize_repo` fixes how a target's repository is stored at track time;
`RepositoryCache` keeps a bare mirror per repository, resolves refs to commits,
checks that a pin still exists upstream and exports the committed tree.
"""

from drift.source.git import RepositoryCache
from drift.source.location import normalize_repo

__all__ = ["RepositoryCache", "normalize_repo"]
