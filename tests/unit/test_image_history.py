"""Image history text turned into the Dockerfile instruction a finding names."""

from __future__ import annotations

import pytest

from drift.image import instruction_from_created_by, instruction_from_history


@pytest.mark.parametrize(
    ("created_by", "instruction"),
    [
        # legacy builder, non-RUN steps
        ("/bin/sh -c #(nop) COPY file:ab12cd in /app ", "COPY file:ab12cd in /app"),
        ('/bin/sh -c #(nop)  CMD ["sh"]', 'CMD ["sh"]'),
        ("/bin/sh -c #(nop) WORKDIR /app", "WORKDIR /app"),
        ('/bin/bash -o pipefail -c #(nop)  ENTRYPOINT ["/run"]', 'ENTRYPOINT ["/run"]'),
        # legacy builder, RUN steps
        ("/bin/sh -c wget -O /x $URL", "RUN wget -O /x $URL"),
        ("|1 URL=http://x /bin/sh -c wget -O /x $URL", "RUN wget -O /x $URL"),
        ("|2 A=1 B=2 /bin/sh -c make && make install", "RUN make && make install"),
        ("|1 MSG=two words /bin/sh -c echo $MSG", "RUN echo $MSG"),
        ("/bin/bash -o pipefail -c curl -fsS https://x | sh", "RUN curl -fsS https://x | sh"),
        ("/bin/sh -ec set -x; true", "RUN set -x; true"),
        ("cmd /S /C dir", "RUN dir"),
        # BuildKit
        ("RUN /bin/sh -c apt-get install -y curl # buildkit", "RUN apt-get install -y curl"),
        ("RUN |1 URL=http://x /bin/sh -c wget $URL # buildkit", "RUN wget $URL"),
        ("COPY x /y # buildkit", "COPY x /y"),
        ("WORKDIR /app", "WORKDIR /app"),
        ("ENV A=b", "ENV A=b"),
        # nothing to translate
        ("", ""),
        ("   ", ""),
        ("Imported from -", "Imported from -"),
    ],
)
def test_instruction_from_created_by(created_by: str, instruction: str) -> None:
    assert instruction_from_created_by(created_by) == instruction


def test_imported_base_layer_is_named_by_its_comment() -> None:
    # What `docker import` writes: no created_by at all.
    assert instruction_from_history({"created": "2026-01-01T00:00:00Z", "comment": "Imported from -"}) == (
        "Imported from -"
    )
    assert instruction_from_history({"created_by": "/bin/sh -c true", "comment": "ignored"}) == "RUN true"
    assert instruction_from_history({}) == ""
