"""The class map: explicit, ordered, persisted.

Order is the class index users train with (YOLO's 0-based index is the position here); `id` is
the source's own identifier (COCO's 1..90 with gaps). Neither is ever derived from the other
except where a format has no ids at all, and then the rule is stated in that format's module.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Category:
    id: int
    name: str
    supercategory: str | None = None
    keypoints: tuple[str, ...] = ()
    skeleton: tuple[tuple[int, int], ...] = ()  # 1-based keypoint index pairs, as in COCO

    def to_dict(self) -> dict:
        out: dict = {"id": self.id, "name": self.name}
        if self.supercategory is not None:
            out["supercategory"] = self.supercategory
        if self.keypoints:
            out["keypoints"] = list(self.keypoints)
        if self.skeleton:
            out["skeleton"] = [list(p) for p in self.skeleton]
        return out

    @classmethod
    def from_dict(cls, d: dict) -> Category:
        return cls(int(d["id"]), str(d["name"]), d.get("supercategory"),
                   tuple(d.get("keypoints") or ()),
                   tuple(tuple(int(x) for x in p) for p in d.get("skeleton") or ()))


class Categories(Sequence[Category]):
    """Ordered categories with unique ids. Names may repeat (real exports do this)."""

    def __init__(self, items: Iterable[Category] = ()):
        self._items = tuple(items)
        self._by_id = {c.id: i for i, c in enumerate(self._items)}
        if len(self._by_id) != len(self._items):
            seen: set[int] = set()
            dup = next(c.id for c in self._items if c.id in seen or seen.add(c.id))
            raise ValueError(f"duplicate category id {dup}")

    @classmethod
    def from_names(cls, names: Iterable[str], *, first_id: int = 1) -> Categories:
        return cls(Category(first_id + i, n) for i, n in enumerate(names))

    def __getitem__(self, i):  # type: ignore[override]
        return self._items[i]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Category]:
        return iter(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Categories) and self._items == other._items

    def __repr__(self) -> str:
        return f"Categories({list(self._items)!r})"

    @property
    def ids(self) -> list[int]:
        return [c.id for c in self._items]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self._items]

    def has_id(self, category_id: int) -> bool:
        return category_id in self._by_id

    def by_id(self, category_id: int) -> Category:
        return self._items[self._by_id[category_id]]

    def index_of(self, category_id: int) -> int:
        """Position (the 0-based class index) of a category id."""
        return self._by_id[category_id]

    def index_map(self) -> dict[int, int]:
        return dict(self._by_id)

    def by_name(self, name: str) -> list[Category]:
        return [c for c in self._items if c.name == name]
