"""Package URLs (purls) for every cataloger, built by packageurl-python so all ecosystems share one canonical form.

The canonical form matters: findings compare packages across builds by purl,
so two catalogers (or two releases of drift) must never spell the same package
two ways. packageurl-python percent-encodes the version ("+" -> "%2B"), sorts
the qualifiers and applies each type's case rules (apk names are lowercased).
"""

from __future__ import annotations

from collections.abc import Mapping

from packageurl import PackageURL

from drift.catalog.interface import Distro


def make_purl(
    type: str,
    namespace: str | None,
    name: str,
    version: str | None,
    qualifiers: Mapping[str, str] | None = None,
) -> str:
    """The canonical purl string; empty namespace, version and qualifier values are left out.

    >>> make_purl("deb", "debian", "curl", "7.88.1-10+deb12u8", {"arch": "amd64", "distro": "debian-12"})
    'pkg:deb/debian/curl@7.88.1-10%2Bdeb12u8?arch=amd64&distro=debian-12'
    """
    kept = {key: value for key, value in (qualifiers or {}).items() if value}
    return str(
        PackageURL(
            type=type,
            namespace=namespace or None,
            name=name,
            version=version or None,
            qualifiers=kept or None,
        ).to_string()
    )


def distro_qualifier(distro: Distro) -> str:
    """The purl "distro" qualifier value, as syft writes it: "debian-12"; "debian" without a VERSION_ID
    (Debian sid has none); "" when the distro is unknown, which leaves the qualifier out.
    """
    if not distro.id:
        return ""
    if not distro.version_id:
        return distro.id
    return f"{distro.id}-{distro.version_id}"
