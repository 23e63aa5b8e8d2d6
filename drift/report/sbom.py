"""A software bill of materials per build: CycloneDX (cyclonedx-python-lib) and SPDX 2.3 (spdx-tools)."""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime

from cyclonedx.model import Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.bom_ref import BomRef
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL
from spdx_tools.spdx.model.actor import Actor, ActorType
from spdx_tools.spdx.model.document import CreationInfo, Document
from spdx_tools.spdx.model.package import ExternalPackageRef, ExternalPackageRefCategory
from spdx_tools.spdx.model.package import Package as SpdxPackage
from spdx_tools.spdx.model.relationship import Relationship, RelationshipType
from spdx_tools.spdx.model.spdx_no_assertion import SpdxNoAssertion
from spdx_tools.spdx.writer.json.json_writer import write_document_to_stream

from drift import __version__
from drift.values import BuildSummary, Package


def _purl(package: Package) -> PackageURL | None:
    try:
        return PackageURL.from_string(package.purl) if package.purl else None
    except ValueError:
        return None


def cyclonedx_json(build: BuildSummary, packages: Sequence[Package]) -> str:
    """CycloneDX 1.6 JSON: the image as the described component, one library component per package."""
    bom = Bom()
    root = Component(
        name=build.target,
        version=build.image_id or "",
        type=ComponentType.CONTAINER,
        bom_ref=BomRef(f"drift-build-{build.id}"),
        properties=[
            Property(name="drift:build", value=str(build.id)),
            Property(name="drift:commit", value=build.commit),
        ],
    )
    bom.metadata.component = root
    components = []
    for index, package in enumerate(packages):
        component = Component(
            name=package.name,
            version=package.version,
            type=ComponentType.APPLICATION
            if package.ecosystem == "golang" and package.name == "stdlib"
            else ComponentType.LIBRARY,
            purl=_purl(package),
            bom_ref=BomRef(f"{package.purl or package.name}#{index}"),
            properties=[
                Property(name="drift:ecosystem", value=package.ecosystem),
                Property(name="drift:source", value=package.source),
                *([Property(name="drift:layer", value=str(package.layer))] if package.layer is not None else []),
            ],
        )
        bom.components.add(component)
        components.append(component)
    bom.register_dependency(root, components)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the library warns about its own optional fields
        return str(JsonV1Dot6(bom).output_as_string(indent=2))


def spdx_json(build: BuildSummary, packages: Sequence[Package], *, created: datetime | None = None) -> str:
    """SPDX 2.3 JSON: the image package DESCRIBES-d by the document, CONTAINS every package."""
    root_id = f"SPDXRef-Image-{build.id}"
    document = Document(
        CreationInfo(
            spdx_version="SPDX-2.3",
            spdx_id="SPDXRef-DOCUMENT",
            name=f"drift build {build.id} of {build.target}",
            document_namespace=f"https://drift.invalid/spdx/{build.target}/{build.id}/{build.image_id or 'none'}",
            creators=[Actor(ActorType.TOOL, f"drift-{__version__}")],
            created=(created or datetime.now(UTC)).replace(microsecond=0, tzinfo=None),
        )
    )
    document.packages.append(
        SpdxPackage(
            spdx_id=root_id,
            name=build.target,
            download_location=SpdxNoAssertion(),
            version=build.image_id or None,
            files_analyzed=False,
        )
    )
    document.relationships.append(Relationship("SPDXRef-DOCUMENT", RelationshipType.DESCRIBES, root_id))
    for index, package in enumerate(packages):
        spdx_id = f"SPDXRef-Package-{package.ecosystem}-{index}"
        refs = (
            [ExternalPackageRef(ExternalPackageRefCategory.PACKAGE_MANAGER, "purl", package.purl)]
            if package.purl
            else []
        )
        document.packages.append(
            SpdxPackage(
                spdx_id=spdx_id,
                name=package.name,
                download_location=SpdxNoAssertion(),
                version=package.version,
                files_analyzed=False,
                external_references=refs,
            )
        )
        document.relationships.append(Relationship(root_id, RelationshipType.CONTAINS, spdx_id))
    stream = io.StringIO()
    write_document_to_stream(document, stream, validate=True)
    return stream.getvalue()
