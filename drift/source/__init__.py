"""Source stage: the tracked repository at its pinned commit, as a clean tree on disk.

`location.normalize_repo` fixes how a target's repository is stored at track
time (and `location.redact_credentials` how it is shown); `git.RepositoryCache`
keeps a bare mirror per repository, resolves refs to commits, checks that a
pin still exists upstream and exports the committed tree.
"""
