"""BlobStore.shas_of_paths (the batch form add_revision uses) agrees with sha_of_path."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from visionflow.versioning.store import BlobStore

STORE = BlobStore(Path("/ws/.visionflow/blobs/sha256"), Path("/ws/.visionflow/tmp"))
HEX = st.text("0123456789abcdef", min_size=64, max_size=64)
ROOT = str(STORE.root)


@given(st.lists(st.one_of(
    HEX.map(lambda h: f"{ROOT}/{h[:2]}/{h[2:]}"),             # a blob path
    HEX.map(lambda h: f"{ROOT}//{h[:2]}/{h[2:]}"),            # spelt oddly: the slow path
    HEX.map(lambda h: f"{ROOT}/{h[:3]}/{h[3:]}"),             # wrong fan-out
    HEX.map(lambda h: f"/elsewhere/{h[:2]}/{h[2:]}"),         # not ours
    st.text(max_size=80).filter(lambda s: "\x00" not in s),  # anything
), max_size=20))
def test_batch_equals_one_by_one(paths):
    assert STORE.shas_of_paths(paths) == [STORE.sha_of_path(p) for p in paths]


def test_a_blob_path_gives_its_sha():
    sha = "ab" + "c" * 62
    assert STORE.shas_of_paths([STORE.path(sha), os.path.join(ROOT, "x")]) == [sha, None]
