"""npm packages installed in an image, read from each package's own package.json under node_modules.

What is claimed: `<anything>/node_modules/<name>/package.json` and
`<anything>/node_modules/@<scope>/<name>/package.json`, where the last
`node_modules` of the path decides. That covers an application's
dependencies (`/app/node_modules/left-pad/package.json`), nested ones
(`.../node_modules/a/node_modules/b/package.json`), global installs
(`/usr/lib/node_modules/npm/package.json`) and pnpm's store
(`.../node_modules/.pnpm/x@1.0.0/node_modules/x/package.json`).

What is not, and why:
- package.json files deeper inside a package (`node_modules/glob/dist/esm/package.json`
  is `{"type": "module"}`): they describe a folder of the package, not a package, and
  would be warnings at best, phantom packages at worst. syft reads every package.json
  and drops those without name and version; claiming by path is cheaper and quieter.
- directories whose name starts with "." (`node_modules/.bin`, `.cache`, `.pnpm` itself).
- package.json files outside node_modules: an application's own root package.json
  (often `"private": true`, a workspace root) is source, not an installed package.

The package's name is the one its package.json declares, not its directory's: an
npm alias (`npm install foo@npm:bar`) installs bar in `node_modules/foo`.
"""

from __future__ import annotations

import json
import re

from drift.catalog.interface import CatalogContext, Cataloger, CatalogResult
from drift.catalog.records import manifest_package

_PACKAGE_JSON = re.compile(r"(?:^|/)node_modules/(?:@[^/.][^/]*/)?[^/.@][^/]*/package\.json$")
_SCOPED_NAME = re.compile(r"^(@[^/]+)/([^/]+)$")


class NpmCataloger(Cataloger):
    """Installed npm packages, one per package.json at a package's root under node_modules (ecosystem "npm")."""

    ecosystem = "npm"

    def claims(self, path: str, mode: int, size: int) -> bool:
        return path.endswith("/package.json") and _PACKAGE_JSON.search(path) is not None

    def catalog(self, path: str, content: bytes, context: CatalogContext) -> CatalogResult:
        try:
            document = json.loads(content)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return CatalogResult(warnings=(f"{path}: not valid JSON ({exc})",))
        if not isinstance(document, dict):
            return CatalogResult(warnings=(f"{path}: package.json is not a JSON object",))

        name = document.get("name")
        version = document.get("version")
        if not isinstance(name, str) or not isinstance(version, str) or not name.strip() or not version.strip():
            missing = [
                f'no "{field}" string'
                for field, value in (("name", name), ("version", version))
                if not isinstance(value, str) or not value.strip()
            ]
            return CatalogResult(warnings=(f"{path}: {' and '.join(missing)} in package.json",))
        name, version = name.strip(), version.strip()

        # The purl spec puts an npm scope in the namespace ("pkg:npm/%40types/node@...").
        namespace: str | None = None
        bare_name = name
        if name.startswith("@"):
            scoped = _SCOPED_NAME.match(name)
            if scoped is None:
                return CatalogResult(warnings=(f"{path}: malformed scoped package name {name!r}",))
            namespace, bare_name = scoped.group(1), scoped.group(2)
        return manifest_package(self.ecosystem, path, name, version, namespace, bare_name)
