"""Several sources as one dataset, with every conflict resolved by the user, never guessed.

Classes are matched by name after the user's renames (`--map src:old=new`). Two conflicts
stop the merge with a message naming the fix:
- one class name with different ids in two sources (cat is 1 in a, 3 in b): pass --renumber
  to number the merged classes 1..N, or rename one side;
- one id with different names (1 is cat in a, kitty in b): map one name onto the other if they
  are the same class, or --renumber.
Images sharing (split, file_name) across sources stop the merge too, unless --prefix puts
each source's images under '<source>/'. Image and annotation ids that collide across sources
are renumbered 1..N and the result says so (ids are not names users train with).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..core.annotations import Annotations
from ..core.categories import Categories, Category
from ..core.dataset import Dataset
from ..core.errors import Error
from ..core.images import Images


class MergeConflict(Error):
    pass


def parse_mapping(items: Sequence[str] | Mapping[str, Mapping[str, str]] | None,
                  ) -> dict[str, dict[str, str]]:
    """["src:old=new", ...] (or an already nested dict) -> {src: {old: new}}."""
    if items is None:
        return {}
    if isinstance(items, Mapping):
        return {str(s): {str(k): str(v) for k, v in m.items()} for s, m in items.items()}
    out: dict[str, dict[str, str]] = {}
    for item in items:
        src, colon, rest = item.partition(":")
        old, eq, new = rest.partition("=")
        if not colon or not eq or not src.strip() or not old.strip() or not new.strip():
            raise Error(f"--map expects SOURCE:OLD=NEW (e.g. 'b:kitty=cat'), got {item!r}")
        mapping = out.setdefault(src.strip(), {})
        if old.strip() in mapping and mapping[old.strip()] != new.strip():
            raise Error(f"--map gives class {old.strip()!r} of source {src.strip()!r} two new "
                        f"names ({mapping[old.strip()]!r} and {new.strip()!r})")
        mapping[old.strip()] = new.strip()
    return out


def combine(parts: Sequence[tuple[str, Dataset]], mapping: dict[str, dict[str, str]] | None = None,
            *, renumber: bool = False, prefix: bool = False,
            merge_first: bool = False) -> tuple[Dataset, list[str]]:
    """One dataset from (source name, dataset) pairs; returns it and notes for the user.

    merge_first: the caller has no --map/--renumber/--prefix (`version create`), so a conflict
    tells the user to combine the sources with `visionflow merge` first.
    """
    mapping = mapping or {}
    names = [n for n, _ in parts]

    def fix(merge_hint: str, *flags: str) -> str:
        """The hint for the command the user is running: `merge_hint` names merge's options;
        `version create` has none, so it says to merge first with them."""
        if not merge_first:
            return merge_hint
        return (f"version create cannot resolve this: merge the sources first "
                f"('visionflow merge {' '.join(names)} --name NEW {' or '.join(flags)}') "
                "and version NEW (--sources NEW)")
    for src, m in mapping.items():
        if src not in names:
            raise Error(f"--map names source {src!r}, which is not being merged "
                        f"(merging: {', '.join(names)})")
        known = {c.name for c in dict(parts)[src].categories}
        for old in m:
            if old not in known:
                raise Error(f"--map: source {src!r} has no class {old!r} "
                            f"(its classes: {', '.join(sorted(known))})")
    notes: list[str] = []
    categories, remaps = _categories(parts, mapping, renumber, fix)
    images = _images(parts, prefix, notes, fix)
    offsets = np.cumsum([0] + [len(ds.images) for _, ds in parts])
    anns = []
    for (_, ds), off, remap in zip(parts, offsets, remaps):
        a = ds.annotations
        lookup = np.vectorize(remap.__getitem__, otypes=[np.int64]) if len(a) else None
        anns.append(a.replace(image_index=a.image_index + off,
                              category_id=lookup(a.category_id) if lookup else a.category_id))
    ann = Annotations.concat(anns)
    split_of = images.split[ann.image_index] if len(ann) else np.zeros(0, object)
    pairs = set()
    collide = False
    for s, i in zip(split_of.tolist(), ann.id.tolist()):
        if (s, i) in pairs:
            collide = True
            break
        pairs.add((s, i))
    if collide:
        ann = ann.replace(id=np.arange(1, len(ann) + 1, dtype=np.int64))
        notes.append("annotation ids collide across sources: renumbered 1..N")
    return Dataset(images, ann, categories, {}), notes


def _categories(parts, mapping, renumber, fix) -> tuple[Categories, list[dict[int, int]]]:
    # name -> [(source, id, category, renamed)] in first-seen order. A class renamed onto a
    # name by --map takes the id of the class that has that name in its own source: the user
    # said they are one class, so its old id is no conflict.
    by_name: dict[str, list[tuple[str, int, Category, bool]]] = {}
    for src, ds in parts:
        m = mapping.get(src, {})
        seen: dict[str, int] = {}
        for c in ds.categories:
            name = m.get(c.name, c.name)
            if name in seen and c.name not in m:
                raise MergeConflict(
                    f"source {src!r} has two classes named {name!r} (ids {seen[name]} and "
                    f"{c.id}); " + fix(f"rename one with --map {src}:{name}=NEW before merging",
                                       f"--map {src}:{name}=NEW"))
            if name in seen:  # an explicit rename merging two classes of one source
                continue
            seen[name] = c.id
            by_name.setdefault(name, []).append((src, c.id, c, c.name != name))
    chosen: dict[str, tuple[str, int, Category, bool]] = {}
    for name, uses in by_name.items():
        own = [u for u in uses if not u[3]] or uses[:1]
        chosen[name] = own[0]
        if renumber:
            continue
        for u in own[1:]:
            if u[1] != own[0][1]:
                raise MergeConflict(
                    f"class {name!r} has id {own[0][1]} in {own[0][0]} and id {u[1]} in {u[0]}; "
                    + fix(f"pass --renumber to number the merged classes 1..N, or keep them apart "
                          f"with --map {u[0]}:{name}=NEW_NAME",
                          "--renumber", f"--map {u[0]}:{name}=NEW_NAME"))
    if not renumber:
        owner: dict[int, tuple[str, str]] = {}
        for name, (src, cid, cat, _) in chosen.items():
            if cid in owner:
                s1, n1 = owner[cid]
                raise MergeConflict(
                    f"class id {cid} is {n1!r} in {s1} and {name!r} in {src}; "
                    + fix(f"if they are the same class map one onto the other (--map "
                          f"{src}:{cat.name}={n1}), else pass --renumber",
                          f"--map {src}:{cat.name}={n1}", "--renumber"))
            owner[cid] = (src, name)
    cats: list[Category] = []
    new_id: dict[str, int] = {}
    for k, (name, (_, cid, first, _)) in enumerate(chosen.items()):
        cid = k + 1 if renumber else cid
        new_id[name] = cid
        cats.append(Category(cid, name, first.supercategory, first.keypoints, first.skeleton))
    remaps = []
    for src, ds in parts:
        m = mapping.get(src, {})
        remaps.append({c.id: new_id[m.get(c.name, c.name)] for c in ds.categories})
    return Categories(cats), remaps


def _images(parts, prefix: bool, notes: list[str], fix) -> Images:
    blocks = []
    for src, ds in parts:
        im = ds.images
        if prefix:
            im = im.replace(file_name=np.array([f"{src}/{f}" for f in im.file_name], dtype=object))
        blocks.append(im)
    images = Images.concat(blocks)
    owner: dict[tuple[str, str], str] = {}
    clashes: list[tuple[str, str, str]] = []
    for (src, _), im in zip(parts, blocks):
        for key in zip(im.split.tolist(), im.file_name.tolist()):
            if key in owner and owner[key] != src:
                clashes.append((f"{key[0]}/{key[1]}" if key[0] else key[1], owner[key], src))
            owner.setdefault(key, src)
    if clashes:
        name, s1, s2 = clashes[0]
        more = f" (and {len(clashes) - 1} more)" if len(clashes) > 1 else ""
        raise MergeConflict(f"image {name!r} is in both {s1} and {s2}{more}; "
                            + fix("pass --prefix to keep each source's images under '<source>/'",
                                  "--prefix"))
    keys = set()
    for s, i in zip(images.split.tolist(), images.id.tolist()):
        if (s, i) in keys:
            images = images.replace(id=np.arange(1, len(images) + 1, dtype=np.int64))
            notes.append("image ids collide across sources: renumbered 1..N")
            break
        keys.add((s, i))
    return images
