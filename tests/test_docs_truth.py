"""What ARCHITECTURE.md claims about the code stays true (issue 27): one atomic writer, no pointer to files the
repository does not hold."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CODE = [p for d in ("src", "benchmarks") for p in (ROOT / d).rglob("*.py")]
# Owned by work running beside issue 27 (the pluggable objective, the parametric engine's split): each still names a
# file outside the repository in its opening docstring. Remove an entry when its file is fixed; the test then holds.
PENDING: set[str] = set()  # files that still cite a document outside the repository (none left)


def test_only_the_atomic_writer_renames_files_into_place():
    users = {str(p.relative_to(ROOT)) for p in CODE if "os.replace(" in p.read_text()}
    assert users == {"src/masque/atomic.py"}


def test_no_code_points_at_a_document_the_repository_does_not_hold():
    names = ("DESIGN.md", "REFERENCES.md", "STYLE.md")
    assert not any((ROOT / n).exists() for n in names)  # they live outside the clone
    citing = {str(p.relative_to(ROOT)) for p in CODE if any(n in p.read_text() for n in names)}
    assert citing <= PENDING, sorted(citing - PENDING)
    for doc in ("ARCHITECTURE.md", "docs/protocol.md"):  # where the pointers lead now
        assert (ROOT / doc).is_file()
