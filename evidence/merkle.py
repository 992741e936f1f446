"""RFC 6962 Merkle tree hashing: leaves, roots, inclusion and consistency proofs.

leaf = SHA-256(0x00 || entry), node = SHA-256(0x01 || left || right), empty = SHA-256("").
The verifier an outside expert runs (tools/verify.py) checks these proofs independently.
"""

import hashlib

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


# The compact frontier: roots of the perfect subtrees that make up the tree, largest
# first, as (size, hash). Appending merges equal-sized neighbours like a binary counter.


def frontier_append(
    frontier: list[tuple[int, bytes]], leaf: bytes
) -> list[tuple[int, bytes]]:
    frontier = [*frontier, (1, leaf)]
    while len(frontier) >= 2 and frontier[-1][0] == frontier[-2][0]:
        (size, left), (_, right) = frontier[-2], frontier[-1]
        frontier[-2:] = [(size * 2, node_hash(left, right))]
    return frontier


def frontier_root(frontier: list[tuple[int, bytes]]) -> bytes:
    if not frontier:
        return EMPTY_ROOT
    root = frontier[-1][1]
    for _, subtree in reversed(frontier[:-1]):
        root = node_hash(subtree, root)
    return root


class MerkleTree:
    """A tree over known leaf hashes, with every complete aligned subtree precomputed,
    so any root, inclusion proof or consistency proof costs O(log n) hashes."""

    def __init__(self, leaves: list[bytes]) -> None:
        self.size = len(leaves)
        self.levels = [list(leaves)]
        while len(self.levels[-1]) > 1:
            below = self.levels[-1]
            self.levels.append(
                [node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
            )

    def subtree(self, start: int, end: int) -> bytes:
        """MTH of leaves [start, end)."""
        count = end - start
        if count == 0:
            return EMPTY_ROOT
        if count & (count - 1) == 0 and start % count == 0:
            return self.levels[count.bit_length() - 1][start // count]
        split = _largest_power_of_two_below(count)
        return node_hash(
            self.subtree(start, start + split), self.subtree(start + split, end)
        )

    def root(self, size: int | None = None) -> bytes:
        return self.subtree(0, self.size if size is None else size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """PATH(m, D[0:size]) from RFC 6962 section 2.1.1."""
        if not 0 <= index < size <= self.size:
            raise ValueError(f"no leaf {index} in a tree of {size}")
        return self._path(index, 0, size)

    def _path(self, index: int, start: int, end: int) -> list[bytes]:
        if end - start == 1:
            return []
        split = _largest_power_of_two_below(end - start)
        if index < split:
            return [
                *self._path(index, start, start + split),
                self.subtree(start + split, end),
            ]
        return [
            *self._path(index - split, start + split, end),
            self.subtree(start, start + split),
        ]

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """PROOF(m, D[0:n]) from RFC 6962 section 2.1.2."""
        if not 0 <= first <= second <= self.size:
            raise ValueError(f"no consistency between {first} and {second}")
        if first == 0 or first == second:
            return []
        return self._subproof(first, 0, second, True)

    def _subproof(self, m: int, start: int, end: int, complete: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if complete else [self.subtree(start, end)]
        split = _largest_power_of_two_below(n)
        if m <= split:
            return [
                *self._subproof(m, start, start + split, complete),
                self.subtree(start + split, end),
            ]
        return [
            *self._subproof(m - split, start + split, end, False),
            self.subtree(start, start + split),
        ]
