"""The server's RFC 6962 tree against the RFC's reference vectors and the
independent verifier in tools/verify.py."""

import importlib.util
from pathlib import Path

import pytest

from evidence import merkle

LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
# Roots of the first n leaves, n = 1..8 (RFC 6962 reference implementation vectors).
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def load_verifier():
    path = Path(__file__).resolve().parents[2] / "tools" / "verify.py"
    spec = importlib.util.spec_from_file_location("casebook_bundle_verify", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


verify = load_verifier()
LEAF_HASHES = [merkle.leaf_hash(leaf) for leaf in LEAVES]


def test_empty_tree_root_is_hash_of_nothing():
    assert merkle.MerkleTree([]).root().hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_rfc_vectors(size):
    assert merkle.MerkleTree(LEAF_HASHES[:size]).root().hex() == ROOTS[size - 1]


@pytest.mark.parametrize("size", range(1, 9))
def test_compact_frontier_gives_the_same_root(size):
    frontier = []
    for leaf in LEAF_HASHES[:size]:
        frontier = merkle.frontier_append(frontier, leaf)
    assert merkle.frontier_root(frontier).hex() == ROOTS[size - 1]


def test_inclusion_proofs_verify_independently_for_every_leaf_and_size():
    leaves = [merkle.leaf_hash(str(i).encode()) for i in range(37)]
    tree = merkle.MerkleTree(leaves)
    for size in range(1, 38):
        root = tree.root(size)
        for index in range(size):
            path = tree.inclusion_proof(index, size)
            assert (
                verify.root_from_inclusion_proof(index, size, leaves[index], path)
                == root
            )


def test_consistency_proofs_verify_independently_for_every_pair():
    leaves = [merkle.leaf_hash(str(i).encode()) for i in range(37)]
    tree = merkle.MerkleTree(leaves)
    for first in range(0, 38):
        for second in range(first, 38):
            path = tree.consistency_proof(first, second)
            assert verify.verify_consistency(
                first, second, tree.root(first), tree.root(second), path
            ), (first, second)


def test_rfc_inclusion_vector():
    # PATH(0, D[8]) from the reference implementation's test vectors.
    tree = merkle.MerkleTree(LEAF_HASHES)
    assert [h.hex() for h in tree.inclusion_proof(0, 8)] == [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ]


def test_rfc_consistency_vector():
    tree = merkle.MerkleTree(LEAF_HASHES)
    assert [h.hex() for h in tree.consistency_proof(1, 8)] == [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ]
