"""Tests for tools/verify.py, the standalone custody-bundle verifier.

The verifier is imported by path (tools/ is not a package), the way an outside
expert's copy would be used. A reference Merkle tree (MTH, PATH, PROOF exactly as
written in RFC 6962 section 2.1) lives here, not in the verifier, so the
verifier's RFC 9162 bit-twiddling algorithms are checked against an independent
implementation and against the published certificate-transparency vectors.
"""

import base64
import hashlib
import importlib.util
import json
import os
import random
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROOT = Path(__file__).resolve().parents[2]
VERIFY_PY = ROOT / "tools" / "verify.py"
VERIFY_MD = ROOT / "tools" / "VERIFY.md"

_spec = importlib.util.spec_from_file_location("casebook_tools_verify", VERIFY_PY)
verify = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(verify)


def h(hex_text):
    return bytes.fromhex(hex_text)


# --------------------------------------------------------------------------
# RFC 6962 reference test vectors (as used by google/certificate-transparency
# and transparency-dev/merkle, proof/verify_test.go)
# --------------------------------------------------------------------------

RFC_LEAVES = [
    h(x)
    for x in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]

EMPTY_ROOT = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

# RFC_ROOTS[n - 1] is the root of the tree of the first n leaves.
RFC_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]

# (leaf index, 0-based, tree size, path). The upstream Go table numbers leaves
# from 1 ({1, 8, ...} is leaf index 0); converted here.
RFC_INCLUSION = [
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]

# (first size, second size, path)
RFC_CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]

SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")


# --------------------------------------------------------------------------
# Reference Merkle tree, written straight from RFC 6962 section 2.1
# (recursive MTH, PATH and PROOF/SUBPROOF over leaf hashes)
# --------------------------------------------------------------------------


def _split(n):
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(hashes):
    n = len(hashes)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashes[0]
    k = _split(n)
    return verify.node_hash(mth(hashes[:k]), mth(hashes[k:]))


def ref_path(m, hashes):
    n = len(hashes)
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return ref_path(m, hashes[:k]) + [mth(hashes[k:])]
    return ref_path(m - k, hashes[k:]) + [mth(hashes[:k])]


def ref_proof(m, hashes):
    if m == 0 or m == len(hashes):
        return []
    return _subproof(m, hashes, True)


def _subproof(m, hashes, complete):
    n = len(hashes)
    if m == n:
        return [] if complete else [mth(hashes)]
    k = _split(n)
    if m <= k:
        return _subproof(m, hashes[:k], complete) + [mth(hashes[k:])]
    return _subproof(m - k, hashes[k:], False) + [mth(hashes[:k])]


def _flip(data: bytes, bit=3) -> bytes:
    return bytes([data[0] ^ (1 << bit)]) + data[1:]


# --------------------------------------------------------------------------
# Hash and proof functions
# --------------------------------------------------------------------------


def test_reference_roots_match_rfc6962():
    hashes = [verify.leaf_hash(x) for x in RFC_LEAVES]
    assert mth([]).hex() == EMPTY_ROOT
    for n in range(1, 9):
        assert mth(hashes[:n]).hex() == RFC_ROOTS[n - 1], n


def test_leaf_and_node_hash():
    assert verify.leaf_hash(b"").hex() == RFC_ROOTS[0]
    assert verify.leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    left, right = hashlib.sha256(b"l").digest(), hashlib.sha256(b"r").digest()
    assert (
        verify.node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()
    )
    assert verify.EMPTY_ROOT.hex() == EMPTY_ROOT


@pytest.mark.parametrize("index,size,path", RFC_INCLUSION)
def test_rfc_inclusion_vectors(index, size, path):
    hashes = [verify.leaf_hash(x) for x in RFC_LEAVES[:size]]
    path = [h(p) for p in path]
    assert ref_path(index, hashes) == path  # the reference builder agrees
    root = h(RFC_ROOTS[size - 1])
    leaf = hashes[index]
    assert verify.root_from_inclusion_proof(index, size, leaf, path) == root
    assert verify.verify_inclusion(index, size, leaf, path, root)

    # The corruptions transparency-dev/merkle tries; none may verify.
    probes = [
        (index - 1, size, leaf, path, root),
        (index + 1, size, leaf, path, root),
        (index ^ 2, size, leaf, path, root),
        (index, size * 2, leaf, path, root),
        (index, size // 2, leaf, path, root),
        (index, size, verify.leaf_hash(b"WrongLeaf"), path, root),
        (index, size, leaf, path, h(EMPTY_ROOT)),
        (index, size, leaf, path, SOME_HASH),
        (index, size, leaf, [*path, b""], root),
        (index, size, leaf, [*path, root], root),
        (index, size, leaf, [b"", *path], root),
        (index, size, leaf, [root, *path], root),
        (index, size, leaf, path[:-1], root),
        (index, size, leaf, [path[0], SOME_HASH, *path[1:]], root),
    ]
    for i in range(len(path)):
        probes.append(
            (index, size, leaf, [*path[:i], _flip(path[i]), *path[i + 1 :]], root)
        )
    for probe in probes:
        if probe[0] < 0:
            continue
        assert not verify.verify_inclusion(*probe), probe[:2]


def test_inclusion_invalid_sizes_and_single_leaf():
    with pytest.raises(ValueError):
        verify.root_from_inclusion_proof(0, 0, SOME_HASH, [])
    with pytest.raises(ValueError):
        verify.root_from_inclusion_proof(2, 1, SOME_HASH, [])
    with pytest.raises(ValueError):
        verify.root_from_inclusion_proof(0, 1, b"short", [])
    with pytest.raises(ValueError):
        verify.root_from_inclusion_proof(0, 2, SOME_HASH, [])  # proof too short
    for index, size in ((0, 0), (0, 1), (1, 0), (2, 1)):
        assert not verify.verify_inclusion(index, size, SOME_HASH, [], h(EMPTY_ROOT))
    leaf = verify.leaf_hash(b"data")
    assert verify.root_from_inclusion_proof(0, 1, leaf, []) == leaf
    assert verify.verify_inclusion(0, 1, leaf, [], leaf)
    assert not verify.verify_inclusion(0, 1, leaf, [], b"")


@pytest.mark.parametrize("first,second,path", RFC_CONSISTENCY)
def test_rfc_consistency_vectors(first, second, path):
    hashes = [verify.leaf_hash(x) for x in RFC_LEAVES[:second]]
    path = [h(p) for p in path]
    assert ref_proof(first, hashes) == path  # the reference builder agrees
    root1, root2 = h(RFC_ROOTS[first - 1]), h(RFC_ROOTS[second - 1])
    assert verify.verify_consistency(first, second, root1, root2, path)
    if not path:
        return
    probes = [
        (first - 1, second, root1, root2, path),
        (first + 1, second, root1, root2, path),
        (first ^ 2, second, root1, root2, path),
        (first, second * 2, root1, root2, path),
        (first, second // 2, root1, root2, path),
        (first, second, SOME_HASH, root2, path),
        (first, second, root1, SOME_HASH, path),
        (first, second, root2, root1, path),
        (first, second, root1, root2, []),
        (first, second, root1, root2, [*path, b""]),
        (first, second, root1, root2, [*path, root1]),
        (first, second, root1, root2, [*path, root2]),
        (first, second, root1, root2, [b"", *path]),
        (first, second, root1, root2, [root1, *path]),
        (first, second, root1, root2, [root2, *path]),
        (first, second, root1, root2, [path[0], *path]),
        (first, second, root1, root2, path[:-1]),
    ]
    for i in range(len(path)):
        probes.append(
            (
                first,
                second,
                root1,
                root2,
                [*path[:i], _flip(path[i], 4), *path[i + 1 :]],
            )
        )
    for probe in probes:
        assert not verify.verify_consistency(*probe), probe[:2]


def test_consistency_edge_cases():
    r1, r2 = SOME_HASH, hashlib.sha256(b"other").digest()
    empty = h(EMPTY_ROOT)
    assert verify.verify_consistency(0, 0, r1, r1, [])
    assert verify.verify_consistency(0, 1, r1, r2, [])  # everything extends empty
    assert verify.verify_consistency(1, 1, r2, r2, [])
    assert not verify.verify_consistency(0, 0, r1, r2, [])
    assert not verify.verify_consistency(1, 1, r1, r2, [])
    assert not verify.verify_consistency(1, 0, r1, r2, [])  # time travel
    assert not verify.verify_consistency(2, 1, r1, r2, [])
    assert not verify.verify_consistency(1, 2, r1, r2, [])  # empty proof
    assert not verify.verify_consistency(0, 0, empty, empty, [empty])
    assert not verify.verify_consistency(0, 1, empty, empty, [empty])
    assert not verify.verify_consistency(1, 1, empty, empty, [empty])
    assert not verify.verify_consistency(-1, 1, r1, r2, [])
    assert not verify.verify_consistency(1, 2, r1, r2, ["not bytes"])


def test_every_proof_of_trees_up_to_40_leaves():
    """Exhaustive round trip against the reference tree, covering every shape."""
    hashes = [verify.leaf_hash(i.to_bytes(2, "big")) for i in range(40)]
    roots = [mth(hashes[:n]) for n in range(41)]
    for n in range(1, 41):
        for m in range(n):
            path = ref_path(m, hashes[:n])
            assert verify.root_from_inclusion_proof(m, n, hashes[m], path) == roots[n]
            assert not verify.verify_inclusion(m, n, SOME_HASH, path, roots[n])
        for m in range(0, n + 1):
            proof = ref_proof(m, hashes[:n])
            assert verify.verify_consistency(m, n, roots[m], roots[n], proof), (m, n)
            if 0 < m < n:
                assert proof, (m, n)
                assert not verify.verify_consistency(
                    m, n, roots[m], roots[n], [_flip(proof[0]), *proof[1:]]
                )
                assert not verify.verify_consistency(
                    m, n, roots[m], roots[n - 1], proof
                )


def test_canonical_json_and_checkpoint_message():
    obj = {"b": 1, "a": {"y": [1, 2], "x": None}, "z": "Zürich"}
    assert (
        verify.canonical_json(obj)
        == '{"a":{"x":null,"y":[1,2]},"b":1,"z":"Zürich"}'.encode()
    )
    assert verify.checkpoint_message(40, "ab" * 32, "2026-11-27T09:00:00.123456Z") == (
        b"casebook-custody-checkpoint/1\n40\n"
        + b"ab" * 32
        + b"\n2026-11-27T09:00:00.123456Z\n"
    )


# --------------------------------------------------------------------------
# A bundle built from scratch, the way the server's exporter is specified to
# ---------------------------------------------------------------------------

INCIDENT = "INC-2026-0001"
OTHER = "INC-2026-0002"
ZERO = "0" * 64

ITEMS = [
    # id, exhibit, file name in bundle (None = not included), content
    (7, "EX-0001", "files/EX-0001.bin", bytes(random.Random(7).randbytes(300_000))),
    (8, "EX-0002", None, b"query log export, not shipped in the bundle\n" * 50),
    (9, "EX-0003", "files/EX-0003.txt", "Zürich report\n".encode() * 20),
]
OTHER_ITEMS = [(20, "EX-0001", b"other incident item A"), (21, "EX-0002", b"other B")]

# (incident, evidence id, action) in global log order; other incidents interleave.
PLAN = [
    ("other", 20, "received"),
    ("ours", 7, "received"),
    ("ours", 8, "ingested"),
    ("other", 21, "received"),
    ("ours", 7, "viewed"),
    ("ours", 9, "received"),
    ("other", 20, "analysed"),
    ("ours", 8, "transferred"),
    ("ours", 7, "downloaded"),
    ("other", 21, "viewed"),
    ("ours", 9, "analysed"),
    ("ours", 7, "transferred"),
    ("other", 20, "exported"),
    ("ours", 8, "viewed"),
    ("ours", 9, "sealed"),
    ("other", 21, "transferred"),
    ("ours", 7, "exported"),
] + [("other", 20 + i % 2, "viewed") for i in range(20)]  # 37 entries in all


class Bundle:
    def __init__(self, path, key, entries, checkpoints):
        self.path = path
        self.key = key
        self.entries = entries  # global log: list of entry dicts, index = seq
        self.checkpoints = checkpoints

    def read_lines(self, name):
        return (self.path / name).read_text(encoding="utf-8").splitlines()

    def write_lines(self, name, lines):
        (self.path / name).write_text(
            "".join(line + "\n" for line in lines), encoding="utf-8"
        )

    def rows(self, name):
        return [json.loads(line) for line in self.read_lines(name)]

    def write_rows(self, name, rows):
        self.write_lines(name, [json.dumps(r, ensure_ascii=False) for r in rows])

    def manifest(self):
        return json.loads((self.path / "manifest.json").read_text(encoding="utf-8"))

    def write_manifest(self, manifest, sign=False):
        """Rewrite manifest.json; re-sign it with the bundle's key only if `sign`
        (i.e. as the server would have exported it; a forger cannot)."""
        data = json.dumps(manifest, indent=2, ensure_ascii=False).encode()
        (self.path / "manifest.json").write_bytes(data)
        if sign:
            (self.path / "manifest.sig").write_bytes(_sign_manifest(self.key, data))

    def line_index(self, seq):
        for i, row in enumerate(self.rows("ledger.jsonl")):
            if row["seq"] == seq:
                return i
        raise KeyError(seq)

    def zip(self, out=None, prefix=""):
        out = out or self.path.with_suffix(".zip")
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            for file in sorted(self.path.rglob("*")):
                if file.is_file():
                    zf.write(file, prefix + file.relative_to(self.path).as_posix())
        return out


def _sign(key, size, root_hex, signed_at):
    raw = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    signature = key.sign(verify.checkpoint_message(size, root_hex, signed_at))
    return {
        "tree_size": size,
        "root_hash": root_hex,
        "signed_at": signed_at,
        "key_id": hashlib.sha256(raw).hexdigest()[:16],
        "signature": base64.b64encode(signature).decode(),
    }


def _sign_manifest(key, manifest_bytes):
    """manifest.sig as the server writes it: standard base64, with padding, of the
    Ed25519 signature over the domain line and manifest.json's exact bytes."""
    message = b"casebook-custody-manifest/1\n" + manifest_bytes
    assert verify.manifest_message(manifest_bytes) == message
    return base64.b64encode(key.sign(message))


def build_bundle(directory: Path, checkpoint_sizes=(5, 11, 18, 37), key=None) -> Bundle:
    key = key or Ed25519PrivateKey.generate()
    directory.mkdir(parents=True)
    sha = {item[0]: hashlib.sha256(item[3]).hexdigest() for item in ITEMS}
    sha.update({item[0]: hashlib.sha256(item[2]).hexdigest() for item in OTHER_ITEMS})
    exhibit = {item[0]: item[1] for item in ITEMS + OTHER_ITEMS}

    entries, hashes, last = [], {}, {}
    for seq, (who, evidence, action) in enumerate(PLAN):
        entry = {
            "v": 1,
            "seq": seq,
            "evidence": evidence,
            "incident": INCIDENT if who == "ours" else OTHER,
            "exhibit": exhibit[evidence],
            "action": action,
            "actor": "alice" if seq % 2 else "bob",
            "at": f"2026-11-{10 + seq // 10:02d}T{seq % 24:02d}:15:00.{seq:06d}Z",
            "location": "Zürich evidence store" if seq % 3 == 0 else "casebook-prod",
            "purpose": f"case work step {seq}: {action}",
            "sha256_observed": None if action == "viewed" else sha[evidence],
            "prev_hash": last.get(evidence, ZERO),
            "details": {"note": "synthetic", "n": seq, "ratio": 0.25},
        }
        entry_hash = hashlib.sha256(verify.canonical_json(entry)).hexdigest()
        last[evidence] = entry_hash
        hashes[seq] = entry_hash
        entries.append(entry)

    leaves = [verify.leaf_hash(verify.canonical_json(e)) for e in entries]
    sizes = list(checkpoint_sizes)
    assert sizes[-1] == len(entries)
    checkpoints = [
        _sign(key, n, mth(leaves[:n]).hex(), f"2026-11-{20 + i:02d}T09:00:00.{i:06d}Z")
        for i, n in enumerate(sizes)
    ]
    size = sizes[-1]

    ours = [e for e in entries if e["incident"] == INCIDENT]
    manifest_items = []
    for evidence, label, name, content in ITEMS:
        own = [e for e in ours if e["evidence"] == evidence]
        manifest_items.append(
            {
                "id": evidence,
                "exhibit": label,
                "title": f"Exhibit {label}",
                "original_name": f"{label.lower()}.dat",
                "size": len(content),
                "sha256": sha[evidence],
                "media_type": "application/octet-stream",
                "file": name,
                "events": len(own),
                "head_hash": hashes[own[-1]["seq"]],
            }
        )
        if name:
            (directory / name).parent.mkdir(parents=True, exist_ok=True)
            (directory / name).write_bytes(content)
    manifest = {
        "format": "casebook-custody-bundle/1",
        "incident": INCIDENT,
        "item_count": len(manifest_items),
        "generated_at": "2026-11-27T09:00:00Z",
        "tree_size": size,
        "items": manifest_items,
    }
    bundle = Bundle(directory, key, entries, checkpoints)
    bundle.write_manifest(manifest, sign=True)
    bundle.write_rows(
        "ledger.jsonl",
        [{"seq": e["seq"], "entry": e, "entry_hash": hashes[e["seq"]]} for e in ours],
    )
    bundle.write_rows("checkpoints.jsonl", checkpoints)
    (directory / "public_key.pem").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    (directory / "proofs").mkdir()
    bundle.write_rows(
        "proofs/inclusion.jsonl",
        [
            {
                "seq": e["seq"],
                "tree_size": size,
                "leaf_hash": leaves[e["seq"]].hex(),
                "path": [p.hex() for p in ref_path(e["seq"], leaves[:size])],
            }
            for e in ours
        ],
    )
    bundle.write_rows(
        "proofs/consistency.jsonl",
        [
            {
                "first": m,
                "second": n,
                "path": [p.hex() for p in ref_proof(m, leaves[:n])],
            }
            for m, n in zip(sizes, sizes[1:], strict=False)
        ],
    )
    shutil.copy(VERIFY_PY, directory / "verify.py")
    if VERIFY_MD.exists():
        shutil.copy(VERIFY_MD, directory / "VERIFY.md")
    return bundle


@pytest.fixture
def bundle(tmp_path):
    return build_bundle(tmp_path / "bundle")


def run_cli(*args, python=(sys.executable,), env=None):
    return subprocess.run(
        [*python, str(VERIFY_PY), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def check(path, capsys, backend="auto"):
    """(exit code, stdout) of verify.main, in-process."""
    code = verify.main([str(path), "--backend", backend])
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return code, out.out


def assert_fails(path, capsys, *expected):
    code, out = check(path, capsys)
    assert code == 1, out
    fail_lines = [line for line in out.splitlines() if line.startswith("FAIL ")]
    assert fail_lines, out
    for text in expected:
        assert any(text in line for line in fail_lines), f"{text!r} not in:\n{out}"
    assert verify.verify_bundle(path) == fail_lines
    return fail_lines


# --------------------------------------------------------------------------
# The untouched bundle verifies
# --------------------------------------------------------------------------


def test_untouched_bundle_verifies_in_process(bundle, capsys):
    zipped = bundle.zip()
    assert verify.verify_bundle(zipped) == []
    assert verify.verify_bundle(bundle.path) == []  # the extracted directory too
    code, out = check(zipped, capsys)
    assert code == 0, out
    assert "INC-2026-0001" in out
    assert "items        3" in out
    assert "entries      11" in out
    assert "tree sizes 5, 11, 18, 37" in out
    assert "file not included" in out
    assert "FAIL" not in out
    assert out.count("PASS ") == 7
    assert "PASS manifest signature" in out
    assert "RESULT: OK" in out


def test_cli_with_cryptography(bundle):
    result = run_cli(bundle.zip())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "cryptography" in result.stdout
    assert "RESULT: OK" in result.stdout


def test_cli_with_bare_python_falls_back_to_openssl(bundle):
    """-I -S: no site-packages at all, so no `cryptography`; only the stdlib and
    the openssl command are left, as on an expert's plain machine."""
    assert shutil.which("openssl"), "openssl is part of the Debian base image"
    result = run_cli(bundle.zip(), python=(sys.executable, "-I", "-S"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "openssl command" in result.stdout
    assert "RESULT: OK" in result.stdout


def test_cli_with_system_python(bundle):
    # The interpreter an expert would have: the system's, outside any virtualenv.
    system_python = (
        shutil.which("python3", path="/usr/bin:/usr/local/bin") or sys.executable
    )
    result = run_cli(bundle.zip(), python=(system_python, "-I"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_signature_verifier_is_a_failure(bundle, tmp_path):
    empty_bin = tmp_path / "empty-bin"
    empty_bin.mkdir()
    env = {**os.environ, "PATH": str(empty_bin)}
    result = run_cli(bundle.zip(), python=(sys.executable, "-I", "-S"), env=env)
    assert result.returncode == 1
    assert "FAIL checkpoint signatures NOT verified" in result.stdout
    assert "FAIL manifest.sig NOT verified" in result.stdout
    assert "Traceback" not in result.stderr


def test_openssl_backend_rejects_bad_signature(bundle):
    rows = bundle.rows("checkpoints.jsonl")
    sig = bytearray(base64.b64decode(rows[1]["signature"]))
    sig[10] ^= 1
    rows[1]["signature"] = base64.b64encode(bytes(sig)).decode()
    bundle.write_rows("checkpoints.jsonl", rows)
    failures = verify.verify_bundle(bundle.zip(), backend="openssl")
    assert "FAIL checkpoint tree_size 11: bad signature" in failures
    result = run_cli(bundle.zip(), python=(sys.executable, "-I", "-S"))
    assert result.returncode == 1
    assert "FAIL checkpoint tree_size 11: bad signature" in result.stdout


def test_first_checkpoint_of_empty_tree(tmp_path, capsys):
    bundle = build_bundle(tmp_path / "b", checkpoint_sizes=(0, 9, 37))
    assert bundle.checkpoints[0]["root_hash"] == EMPTY_ROOT
    assert verify.verify_bundle(bundle.zip()) == []
    rows = bundle.rows("proofs/consistency.jsonl")
    assert rows[0] == {"first": 0, "second": 9, "path": []}


def test_single_checkpoint_needs_no_consistency_proof(tmp_path):
    bundle = build_bundle(tmp_path / "b", checkpoint_sizes=(37,))
    assert (bundle.path / "proofs/consistency.jsonl").read_text() == ""
    assert verify.verify_bundle(bundle.zip()) == []


def test_zip_with_a_top_level_folder(bundle, tmp_path):
    zipped = bundle.zip(tmp_path / "nested.zip", prefix="casebook-INC-2026-0001/")
    assert verify.verify_bundle(zipped) == []


# --------------------------------------------------------------------------
# Tampering: each must exit 1 and name what failed
# --------------------------------------------------------------------------


def test_flipped_byte_in_entry_purpose(bundle, capsys):
    lines = bundle.read_lines("ledger.jsonl")
    i = bundle.line_index(11)
    assert "case work step 11" in lines[i]
    lines[i] = lines[i].replace("case work step 11", "case work step 12")
    bundle.write_lines("ledger.jsonl", lines)
    fails = assert_fails(
        bundle.zip(),
        capsys,
        "ledger seq 11 (EX-0001 transferred): entry_hash mismatch",
        "inclusion proof seq 11: leaf_hash does not match",
        # the next event of EX-0001 no longer links to what is now there
        "ledger seq 16 (EX-0001 exported): prev_hash does not match",
    )
    assert not any("seq 4 " in f for f in fails)


def test_changed_entry_hash(bundle, capsys):
    rows = bundle.rows("ledger.jsonl")
    i = bundle.line_index(7)
    rows[i]["entry_hash"] = ("f" if rows[i]["entry_hash"][0] != "f" else "e") + rows[i][
        "entry_hash"
    ][1:]
    bundle.write_rows("ledger.jsonl", rows)
    assert_fails(
        bundle.zip(), capsys, "ledger seq 7 (EX-0002 transferred): entry_hash mismatch"
    )


def test_consistently_rehashed_entry_is_caught_by_the_signed_tree(bundle, capsys):
    """An insider edits an event AND recomputes its hash and the chain after it:
    only the Merkle proof against the signed checkpoint can catch that."""
    rows = bundle.rows("ledger.jsonl")
    i = bundle.line_index(14)  # the last EX-0003 event, so no later prev_hash
    rows[i]["entry"]["actor"] = "mallory"
    rows[i]["entry_hash"] = hashlib.sha256(
        verify.canonical_json(rows[i]["entry"])
    ).hexdigest()
    bundle.write_rows("ledger.jsonl", rows)
    fails = assert_fails(
        bundle.zip(), capsys, "inclusion proof seq 14: leaf_hash does not match"
    )
    # Rewrite the proof's leaf hash too: then the path no longer leads to the root.
    proofs = bundle.rows("proofs/inclusion.jsonl")
    for p in proofs:
        if p["seq"] == 14:
            p["leaf_hash"] = verify.leaf_hash(
                verify.canonical_json(rows[i]["entry"])
            ).hex()
    bundle.write_rows("proofs/inclusion.jsonl", proofs)
    fails = assert_fails(
        bundle.zip(),
        capsys,
        "inclusion proof seq 14: proof does not lead to the root of checkpoint tree_size 37",
        # the signed manifest names the original last event of EX-0003 as its head
        "EX-0003: manifest head_hash",
    )
    assert len(fails) == 2


def test_dropped_ledger_line(bundle, capsys):
    lines = bundle.read_lines("ledger.jsonl")
    del lines[bundle.line_index(7)]
    bundle.write_lines("ledger.jsonl", lines)
    assert_fails(
        bundle.zip(),
        capsys,
        "ledger seq 13 (EX-0002 viewed): prev_hash does not match the hash of the item's "
        "previous event (seq 2)",
        "inclusion proof seq 7: no ledger entry",
    )


def test_swapped_ledger_lines(bundle, capsys):
    lines = bundle.read_lines("ledger.jsonl")
    a, b = bundle.line_index(4), bundle.line_index(8)
    lines[a], lines[b] = lines[b], lines[a]
    bundle.write_lines("ledger.jsonl", lines)
    assert_fails(bundle.zip(), capsys, "out of order")


def test_moved_seq_number(bundle, capsys):
    rows = bundle.rows("ledger.jsonl")
    i = bundle.line_index(13)
    rows[i]["seq"] = 12
    bundle.write_rows("ledger.jsonl", rows)
    assert_fails(bundle.zip(), capsys, "entry seq 13 differs from line seq 12")


def test_altered_file_bytes(bundle, capsys):
    path = bundle.path / "files/EX-0001.bin"
    data = bytearray(path.read_bytes())
    data[123_456] ^= 0x01
    path.write_bytes(bytes(data))
    assert_fails(bundle.zip(), capsys, "file files/EX-0001.bin: sha256 mismatch")


def test_truncated_and_missing_file(bundle, capsys):
    path = bundle.path / "files/EX-0003.txt"
    path.write_bytes(path.read_bytes()[:-1])
    assert_fails(bundle.zip(), capsys, "file files/EX-0003.txt: size mismatch")
    path.unlink()
    assert_fails(
        bundle.zip(),
        capsys,
        "file files/EX-0003.txt: listed in manifest.json but missing",
    )


def test_manifest_hash_edited_to_match_a_substituted_file(bundle, capsys):
    """Swap the file and update manifest size and sha256: the logged custody events
    recorded the original hash, so sha256_observed no longer matches."""
    new = b"a different file"
    (bundle.path / "files/EX-0003.txt").write_bytes(new)
    manifest = json.loads((bundle.path / "manifest.json").read_text())
    manifest["items"][2].update(size=len(new), sha256=hashlib.sha256(new).hexdigest())
    (bundle.path / "manifest.json").write_text(json.dumps(manifest))
    assert_fails(
        bundle.zip(),
        capsys,
        "ledger seq 5 (EX-0003 received): sha256_observed differs from the manifest sha256",
    )


def test_altered_checkpoint_root(bundle, capsys):
    rows = bundle.rows("checkpoints.jsonl")
    rows[2]["root_hash"] = "00" + rows[2]["root_hash"][2:]
    bundle.write_rows("checkpoints.jsonl", rows)
    assert_fails(
        bundle.zip(),
        capsys,
        "checkpoint tree_size 18: bad signature",
        "consistency proof 11 -> 18: does not verify",
    )


def test_altered_signature(bundle, capsys):
    rows = bundle.rows("checkpoints.jsonl")
    sig = bytearray(base64.b64decode(rows[3]["signature"]))
    sig[0] ^= 0x80
    rows[3]["signature"] = base64.b64encode(bytes(sig)).decode()
    bundle.write_rows("checkpoints.jsonl", rows)
    assert_fails(bundle.zip(), capsys, "checkpoint tree_size 37: bad signature")


def test_altered_signed_at(bundle, capsys):
    rows = bundle.rows("checkpoints.jsonl")
    rows[0]["signed_at"] = rows[0]["signed_at"].replace("T09", "T08")
    bundle.write_rows("checkpoints.jsonl", rows)
    assert_fails(bundle.zip(), capsys, "checkpoint tree_size 5: bad signature")


def test_altered_inclusion_path(bundle, capsys):
    rows = bundle.rows("proofs/inclusion.jsonl")
    rows[3]["path"][1] = _flip(h(rows[3]["path"][1])).hex()
    bundle.write_rows("proofs/inclusion.jsonl", rows)
    seq = rows[3]["seq"]
    assert_fails(
        bundle.zip(),
        capsys,
        f"inclusion proof seq {seq}: proof does not lead to the root of checkpoint tree_size 37",
    )


def test_missing_inclusion_proof(bundle, capsys):
    lines = bundle.read_lines("proofs/inclusion.jsonl")
    del lines[0]
    bundle.write_lines("proofs/inclusion.jsonl", lines)
    assert_fails(
        bundle.zip(), capsys, "ledger seq 1 (EX-0001 received): no inclusion proof"
    )


def test_altered_consistency_proof(bundle, capsys):
    rows = bundle.rows("proofs/consistency.jsonl")
    rows[1]["path"][0] = _flip(h(rows[1]["path"][0]), 4).hex()
    bundle.write_rows("proofs/consistency.jsonl", rows)
    assert_fails(bundle.zip(), capsys, "consistency proof 11 -> 18: does not verify")


def test_missing_consistency_proof(bundle, capsys):
    lines = bundle.read_lines("proofs/consistency.jsonl")
    del lines[2]
    bundle.write_lines("proofs/consistency.jsonl", lines)
    assert_fails(bundle.zip(), capsys, "consistency proof 18 -> 37: missing")


def test_removed_middle_checkpoint(bundle, capsys):
    lines = bundle.read_lines("checkpoints.jsonl")
    del lines[1]
    bundle.write_lines("checkpoints.jsonl", lines)
    assert_fails(
        bundle.zip(),
        capsys,
        "consistency proof 5 -> 18: missing",
        "consistency proof 5 -> 11: does not connect two consecutive checkpoints",
    )


def test_removed_first_and_last_checkpoint(bundle, capsys):
    lines = bundle.read_lines("checkpoints.jsonl")
    bundle.write_lines("checkpoints.jsonl", lines[1:])
    assert_fails(bundle.zip(), capsys, "consistency proof 5 -> 11: does not connect")
    bundle.write_lines("checkpoints.jsonl", lines[:-1])
    assert_fails(
        bundle.zip(),
        capsys,
        "last checkpoint tree_size 18 is not the manifest tree_size 37",
        "tree_size 37 matches no valid checkpoint",
    )


def test_checkpoints_out_of_order(bundle, capsys):
    lines = bundle.read_lines("checkpoints.jsonl")
    lines[1], lines[2] = lines[2], lines[1]
    bundle.write_lines("checkpoints.jsonl", lines)
    assert_fails(
        bundle.zip(),
        capsys,
        "checkpoint tree_size 11: tree sizes do not strictly increase",
    )


def test_replaced_public_key(bundle, capsys):
    other = Ed25519PrivateKey.generate().public_key()
    (bundle.path / "public_key.pem").write_bytes(
        other.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    assert_fails(
        bundle.zip(),
        capsys,
        "checkpoint tree_size 5: key_id",
        "checkpoint tree_size 5: bad signature",
        "checkpoint tree_size 37: bad signature",
    )


def test_everything_resigned_with_another_key_still_verifies_internally(tmp_path):
    """A forger with their own key can produce a self-consistent bundle; only the
    key fingerprint, compared out of band, exposes it (documented in VERIFY.md)."""
    forged = build_bundle(tmp_path / "forged", key=Ed25519PrivateKey.generate())
    assert verify.verify_bundle(forged.zip()) == []


def test_not_an_ed25519_key(bundle, capsys):
    (bundle.path / "public_key.pem").write_text(
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
    )
    assert_fails(
        bundle.zip(), capsys, "public_key.pem: not an Ed25519 SubjectPublicKeyInfo"
    )


@pytest.mark.parametrize(
    "bad_path",
    [
        "../outside.bin",
        "/etc/passwd",
        "files/../../outside.bin",
        "C:/x.bin",
        "files\\..\\x",
    ],
)
def test_manifest_file_path_escaping_the_bundle(bundle, capsys, bad_path):
    outside = bundle.path.parent / "outside.bin"
    content = (bundle.path / "files/EX-0003.txt").read_bytes()
    outside.write_bytes(content)  # same bytes: it must still not be read
    manifest = json.loads((bundle.path / "manifest.json").read_text())
    manifest["items"][2]["file"] = bad_path
    (bundle.path / "manifest.json").write_text(json.dumps(manifest))
    # directory form: the file really exists at ../outside.bin
    code, out = check(bundle.path, capsys)
    assert code == 1
    assert f"FAIL file {bad_path}: unsafe path" in out
    assert_fails(bundle.zip(), capsys, f"file {bad_path}: unsafe path")


def test_symlink_out_of_the_bundle_directory(bundle, capsys):
    target = bundle.path.parent / "outside.bin"
    path = bundle.path / "files/EX-0003.txt"
    target.write_bytes(path.read_bytes())
    path.unlink()
    path.symlink_to(target)
    code, out = check(bundle.path, capsys)
    assert code == 1
    assert "FAIL file files/EX-0003.txt" in out


def test_item_without_custody_events_and_foreign_events(bundle, capsys):
    manifest = json.loads((bundle.path / "manifest.json").read_text())
    manifest["items"].append(dict(manifest["items"][1], id=99, exhibit="EX-0099"))
    (bundle.path / "manifest.json").write_text(json.dumps(manifest))
    assert_fails(
        bundle.zip(), capsys, "manifest item EX-0099 (id 99): no custody events"
    )
    manifest["items"] = manifest["items"][1:3]  # drop EX-0001 (id 7)
    (bundle.path / "manifest.json").write_text(json.dumps(manifest))
    assert_fails(
        bundle.zip(),
        capsys,
        "ledger seq 1 (EX-0001 received): evidence id 7 is not an item of this bundle's manifest",
    )


def test_item_chain_must_start_with_receipt(tmp_path, capsys):
    """If the first events of an item are dropped, the chain's start is wrong."""
    bundle = build_bundle(tmp_path / "b")
    lines = bundle.read_lines("ledger.jsonl")
    del lines[bundle.line_index(5)]  # EX-0003 received
    bundle.write_lines("ledger.jsonl", lines)
    assert_fails(
        bundle.zip(),
        capsys,
        "ledger seq 10 (EX-0003 analysed): first event of the item but prev_hash is not 64 zeros",
        "ledger seq 10 (EX-0003 analysed): first event of the item is 'analysed'",
    )


def test_hostile_text_cannot_forge_output_lines(bundle, capsys):
    rows = bundle.rows("ledger.jsonl")
    rows[0]["entry"]["exhibit"] = "EX-0001\nRESULT: OK - every check passed."
    bundle.write_rows("ledger.jsonl", rows)
    manifest = json.loads((bundle.path / "manifest.json").read_text())
    manifest["items"][0]["file"] = "../x\nPASS files"
    (bundle.path / "manifest.json").write_text(json.dumps(manifest))
    code, out = check(bundle.zip(), capsys)
    assert code == 1
    lines = out.splitlines()
    assert not any(line.startswith(("PASS", "RESULT: OK")) for line in lines)
    assert "EX-0001?RESULT" in out  # the newline was neutralised


def test_documented_openssl_recipe(bundle, tmp_path):
    """The by-hand signature check in VERIFY.md works as written."""
    cp = bundle.checkpoints[2]
    script = (
        "printf 'casebook-custody-checkpoint/1\\n%s\\n%s\\n%s\\n' "
        f"{cp['tree_size']} '{cp['root_hash']}' '{cp['signed_at']}' > message.txt && "
        f"printf '%s' '{cp['signature']}' | openssl base64 -d -A > signature.bin && "
        f"openssl pkeyutl -verify -pubin -inkey '{bundle.path}/public_key.pem' -rawin "
        "-in message.txt -sigfile signature.bin"
    )
    assert (
        "openssl pkeyutl -verify -pubin -inkey public_key.pem -rawin"
        in VERIFY_MD.read_text()
    )
    result = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert "Signature Verified Successfully" in result.stdout, result.stderr
    fingerprint = subprocess.run(
        [
            "bash",
            "-c",
            f"openssl pkey -pubin -in '{bundle.path}/public_key.pem' -outform DER "
            "| tail -c 32 | sha256sum",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert fingerprint.startswith(cp["key_id"])


# --------------------------------------------------------------------------
# The signed manifest: dropped latest events and dropped exhibits show
# --------------------------------------------------------------------------


def _drop_seqs(bundle, seqs):
    """Remove ledger lines and their inclusion proofs, as a careful exporter would."""
    for name in ("ledger.jsonl", "proofs/inclusion.jsonl"):
        bundle.write_rows(name, [r for r in bundle.rows(name) if r["seq"] not in seqs])


@pytest.mark.parametrize(
    "exhibit,dropped,events",
    [("EX-0001", {11, 16}, 5), ("EX-0002", {13}, 3), ("EX-0003", {14}, 3)],
)
def test_dropped_latest_events_with_their_proofs(
    bundle, capsys, exhibit, dropped, events
):
    """Formerly undetectable (the log also holds other incidents' events): every
    remaining event is intact, chained and proven. The signed count and head show."""
    _drop_seqs(bundle, dropped)
    left = events - len(dropped)
    fails = assert_fails(
        bundle.zip(),
        capsys,
        f"FAIL {exhibit}: manifest says {events} events, ledger has {left} (events dropped?)",
        f"FAIL {exhibit}: manifest head_hash",
    )
    assert len(fails) == 2, fails  # nothing else catches it: only the signed manifest

    # Editing the manifest to match breaks its signature.
    manifest = bundle.manifest()
    item = next(i for i in manifest["items"] if i["exhibit"] == exhibit)
    last = max(
        r["seq"]
        for r in bundle.rows("ledger.jsonl")
        if r["entry"]["evidence"] == item["id"]
    )
    item["events"] = left
    item["head_hash"] = next(
        r["entry_hash"] for r in bundle.rows("ledger.jsonl") if r["seq"] == last
    )
    bundle.write_manifest(manifest)
    fails = assert_fails(bundle.zip(), capsys, "FAIL manifest.sig: bad signature")
    assert len(fails) == 1, fails

    # Only the key holder can make such a bundle verify (an export as of then).
    bundle.write_manifest(manifest, sign=True)
    assert verify.verify_bundle(bundle.zip()) == []


def test_removed_exhibit(bundle, capsys):
    """Drop EX-0003 entirely: its manifest entry, events, proofs and file; re-zip."""
    _drop_seqs(bundle, {5, 10, 14})
    (bundle.path / "files/EX-0003.txt").unlink()
    manifest = bundle.manifest()
    manifest["items"] = [i for i in manifest["items"] if i["exhibit"] != "EX-0003"]
    bundle.write_manifest(manifest)
    assert_fails(
        bundle.zip(),
        capsys,
        "FAIL manifest.json: item_count is 3 but 'items' lists 2 (exhibits removed or added?)",
        "FAIL manifest.sig: bad signature",
    )
    manifest["item_count"] = 2
    bundle.write_manifest(manifest)
    fails = assert_fails(bundle.zip(), capsys, "FAIL manifest.sig: bad signature")
    assert len(fails) == 1, fails
    # Without the signature check this bundle would be self-consistent:
    bundle.write_manifest(manifest, sign=True)
    assert verify.verify_bundle(bundle.zip()) == []


def test_removed_exhibit_from_the_zip_itself(bundle, tmp_path, capsys):
    """The same, done on the zip as received: rewrite it member by member."""
    zipped = bundle.zip()
    with zipfile.ZipFile(zipped) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    manifest = json.loads(members["manifest.json"])
    manifest["items"] = manifest["items"][:2]
    manifest["item_count"] = 2
    members["manifest.json"] = json.dumps(manifest, indent=2).encode()
    for name in ("ledger.jsonl", "proofs/inclusion.jsonl"):
        rows = [json.loads(line) for line in members[name].decode().splitlines()]
        keep = [r for r in rows if r["seq"] not in (5, 10, 14)]
        members[name] = "".join(json.dumps(r) + "\n" for r in keep).encode()
    del members["files/EX-0003.txt"]
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(tampered, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    fails = assert_fails(tampered, capsys, "FAIL manifest.sig: bad signature")
    assert len(fails) == 1, fails


def test_manifest_edit_that_changes_no_checked_field_still_fails(bundle, capsys):
    manifest = bundle.manifest()
    manifest["items"][1]["title"] = "Exhibit EX-0002 (renamed)"
    bundle.write_manifest(manifest)
    fails = assert_fails(bundle.zip(), capsys, "FAIL manifest.sig: bad signature")
    assert len(fails) == 1
    # Whitespace alone changes the signed bytes too.
    data = (bundle.path / "manifest.json").read_bytes()
    bundle.write_manifest(json.loads(data), sign=True)
    (bundle.path / "manifest.json").write_bytes(
        (bundle.path / "manifest.json").read_bytes() + b"\n"
    )
    assert_fails(bundle.zip(), capsys, "FAIL manifest.sig: bad signature")


@pytest.mark.parametrize("backend", ["cryptography", "openssl"])
def test_altered_manifest_sig(bundle, capsys, backend):
    sig = bytearray(base64.b64decode((bundle.path / "manifest.sig").read_bytes()))
    sig[5] ^= 0x01
    (bundle.path / "manifest.sig").write_bytes(base64.b64encode(bytes(sig)))
    failures = verify.verify_bundle(bundle.zip(), backend=backend)
    assert failures == [
        "FAIL manifest.sig: bad signature; manifest.json is not what public_key.pem "
        "signed (exhibits, counts or hashes altered?)"
    ]
    code, out = check(bundle.zip(), capsys, backend)
    assert code == 1
    assert "PASS" not in out


@pytest.mark.parametrize(
    "content",
    [b"", b"not base64!", b"AAAA", base64.b64encode(bytes(63)), b"\xff\xfe"],
)
def test_malformed_manifest_sig(bundle, capsys, content):
    (bundle.path / "manifest.sig").write_bytes(content)
    assert_fails(
        bundle.zip(),
        capsys,
        "manifest.sig: not the base64 of a 64-byte Ed25519 signature",
    )


def test_manifest_sig_with_trailing_newline_is_accepted(bundle):
    path = bundle.path / "manifest.sig"
    path.write_bytes(path.read_bytes() + b"\n")
    assert verify.verify_bundle(bundle.zip()) == []


def test_manifest_sig_by_another_key_or_without_domain_line(bundle, capsys):
    data = (bundle.path / "manifest.json").read_bytes()
    other = Ed25519PrivateKey.generate()
    (bundle.path / "manifest.sig").write_bytes(_sign_manifest(other, data))
    assert_fails(bundle.zip(), capsys, "FAIL manifest.sig: bad signature")
    # The same key over the bare manifest (no domain-separation line) is refused.
    (bundle.path / "manifest.sig").write_bytes(base64.b64encode(bundle.key.sign(data)))
    assert_fails(bundle.zip(), capsys, "FAIL manifest.sig: bad signature")


def test_missing_manifest_sig(bundle, capsys):
    (bundle.path / "manifest.sig").unlink()
    fails = assert_fails(
        bundle.zip(),
        capsys,
        "FAIL manifest.sig: missing from the bundle; the manifest is not signed",
    )
    assert len(fails) == 1
    code, out = check(bundle.path, capsys)  # the extracted directory too
    assert code == 1
    assert "FAIL manifest.sig: missing" in out


def test_signed_manifest_fields_are_checked(bundle, capsys):
    """Even correctly signed, the counts must agree with the bundle's content."""
    manifest = bundle.manifest()
    manifest["item_count"] = 4
    manifest["items"][0]["events"] = 6
    manifest["items"][1]["events"] = 2
    manifest["items"][2]["head_hash"] = manifest["items"][0]["head_hash"]
    bundle.write_manifest(manifest, sign=True)
    fails = assert_fails(
        bundle.zip(),
        capsys,
        "FAIL manifest.json: item_count is 4 but 'items' lists 3",
        "FAIL EX-0001: manifest says 6 events, ledger has 5 (events dropped?)",
        "FAIL EX-0002: manifest says 2 events, ledger has 3 (events added?)",
        "FAIL EX-0003: manifest head_hash",
    )
    assert len(fails) == 4, fails


@pytest.mark.parametrize(
    "change,expected",
    [
        ({"events": None}, "manifest item EX-0002: 'events' is missing or not"),
        ({"events": True}, "manifest item EX-0002: 'events' is missing or not"),
        ({"events": -1}, "manifest item EX-0002: 'events' is missing or not"),
        ({"head_hash": None}, "manifest item EX-0002: 'head_hash' is missing or not"),
        (
            {"head_hash": "AB" * 32},
            "manifest item EX-0002: 'head_hash' is missing or not",
        ),
        ({"head_hash": 7}, "manifest item EX-0002: 'head_hash' is missing or not"),
    ],
)
def test_malformed_signed_manifest_fields(bundle, capsys, change, expected):
    manifest = bundle.manifest()
    manifest["items"][1].update(change)
    bundle.write_manifest(manifest, sign=True)
    assert_fails(bundle.zip(), capsys, expected)
    for key in ("events", "head_hash"):
        manifest = bundle.manifest()
        del manifest["items"][1][key]
        bundle.write_manifest(manifest, sign=True)
        assert_fails(bundle.zip(), capsys, f"manifest item EX-0002: '{key}' is missing")
    manifest = bundle.manifest()
    del manifest["item_count"]
    bundle.write_manifest(manifest, sign=True)
    assert_fails(bundle.zip(), capsys, "manifest.json: 'item_count' is missing")


def test_documented_openssl_recipe_for_the_manifest(bundle, tmp_path):
    """The by-hand manifest.sig check in VERIFY.md works as written."""
    doc = VERIFY_MD.read_text()
    recipe = [
        "{ printf 'casebook-custody-manifest/1\\n'; cat manifest.json; } > message.txt",
        "openssl base64 -d -A -in manifest.sig > signature.bin",
        "openssl pkeyutl -verify -pubin -inkey public_key.pem -rawin -in message.txt -sigfile signature.bin",
    ]
    for line in recipe:
        assert line in doc, line
    work = tmp_path / "by-hand"
    work.mkdir()
    for name in ("manifest.json", "manifest.sig", "public_key.pem"):
        shutil.copy(bundle.path / name, work / name)
    result = subprocess.run(
        ["bash", "-c", " && ".join(recipe)],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Signature Verified Successfully" in result.stdout, result.stderr
    (work / "manifest.json").write_bytes(
        (work / "manifest.json").read_bytes().replace(b"EX-0003", b"EX-0004")
    )
    result = subprocess.run(
        ["bash", "-c", " && ".join(recipe)],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Signature Verified Successfully" not in result.stdout


# --------------------------------------------------------------------------
# Malformed and unusable input: FAIL lines or exit 2, never a traceback
# --------------------------------------------------------------------------

GARBAGE = [
    "{not json",
    "[]",
    "null",
    "42",
    '{"seq": "7"}',
    '{"seq": true, "entry": {}, "entry_hash": 1}',
    '{"seq": 7, "entry": [], "entry_hash": null}',
    '{"seq": 7, "entry": {"seq": 7}, "entry_hash": "zz"}',
    '{"seq": 1, "tree_size": -1, "leaf_hash": 3, "path": "x"}',
    '{"seq": 1, "tree_size": 37, "leaf_hash": "00", "path": [1, 2]}',
    '{"first": "a", "second": null, "path": {}}',
    '{"first": 5, "second": 11, "path": ["xyz"]}',
    '{"tree_size": 5, "root_hash": 5, "signed_at": [], "key_id": {}, "signature": "!!"}',
    '{"tree_size": 5, "root_hash": "00", "signed_at": "x", "signature": 12345}',
    '{"a": 1, "a": 2}',
    '"\\ud800"',
    "[" * 100_000,
]


@pytest.mark.parametrize(
    "name",
    [
        "ledger.jsonl",
        "checkpoints.jsonl",
        "proofs/inclusion.jsonl",
        "proofs/consistency.jsonl",
    ],
)
def test_garbage_lines_give_fail_lines(bundle, capsys, name):
    original = bundle.read_lines(name)
    for garbage in GARBAGE:
        lines = list(original)
        lines.insert(len(lines) // 2, garbage)
        bundle.write_lines(name, lines)
        code, out = check(bundle.path, capsys)
        assert code == 1, (name, garbage, out)
        assert "FAIL " in out
    bundle.write_lines(name, original)
    assert check(bundle.path, capsys)[0] == 0


@pytest.mark.parametrize(
    "manifest",
    [
        "{",
        "[]",
        '{"format": "casebook-custody-bundle/1"}',
        '{"format": "other/9", "incident": 1, "tree_size": "x", "items": {}}',
        '{"format": "casebook-custody-bundle/1", "incident": "INC-2026-0001", "tree_size": 37, "items": [1, {"id": "x"}, {"id": 7, "exhibit": 1, "size": -1, "sha256": "AB", "file": 3}]}',
    ],
)
def test_malformed_manifest_is_a_failure_not_a_crash(bundle, capsys, manifest):
    (bundle.path / "manifest.json").write_text(manifest)
    code, out = check(bundle.zip(), capsys)
    assert code == 1
    assert "FAIL " in out


def test_missing_members(bundle, capsys):
    for name in [
        "ledger.jsonl",
        "checkpoints.jsonl",
        "public_key.pem",
        "proofs/inclusion.jsonl",
        "manifest.sig",
    ]:
        b = build_bundle(bundle.path.parent / name.replace("/", "_"))
        (b.path / name).unlink()
        code, out = check(b.zip(), capsys)
        assert code == 1
        assert f"{name} is missing" in out or f"{name}: missing" in out


def test_garbage_ledger_via_cli_has_no_traceback(bundle):
    (bundle.path / "ledger.jsonl").write_bytes(
        b'{"seq": 1, "entry": \xff\xfe}\n\x00\x01garbage\n'
    )
    result = run_cli(bundle.zip())
    assert result.returncode == 1
    assert "FAIL ledger line 1: not valid JSON" in result.stdout
    assert "FAIL ledger line 2: not valid JSON" in result.stdout
    assert "Traceback" not in result.stderr


def test_random_byte_flips_are_all_detected(bundle, capsys):
    """Any single bit flipped anywhere in the ledger, proofs, checkpoints or an
    included file makes verification fail (exit 1), without a traceback."""
    rng = random.Random(20261127)
    targets = [
        "ledger.jsonl",
        "checkpoints.jsonl",
        "proofs/inclusion.jsonl",
        "proofs/consistency.jsonl",
        "files/EX-0001.bin",
        "files/EX-0003.txt",
        "manifest.json",
        "manifest.sig",
    ]
    for name in targets:
        path = bundle.path / name
        original = path.read_bytes()
        for _ in range(25):
            position = rng.randrange(len(original))
            data = bytearray(original)
            data[position] ^= 1 << rng.randrange(8)
            path.write_bytes(bytes(data))
            code, out = check(bundle.path, capsys)
            assert code == 1, (name, position, out)
        path.write_bytes(original)
    assert check(bundle.path, capsys)[0] == 0


def test_corrupted_zip_member_is_a_failure(bundle, capsys):
    zipped = bundle.zip()
    data = bytearray(zipped.read_bytes())
    # Corrupt the stored (compressed) bytes of the big file inside the archive.
    with zipfile.ZipFile(zipped) as zf:
        info = zf.getinfo("files/EX-0001.bin")
    data[info.header_offset + 30 + len(info.filename) + 5000] ^= 0xFF
    zipped.write_bytes(bytes(data))
    code, out = check(zipped, capsys)
    assert code == 1
    assert "FAIL file files/EX-0001.bin" in out


def test_duplicate_zip_member(bundle, capsys):
    zipped = bundle.zip()
    with pytest.warns(UserWarning), zipfile.ZipFile(zipped, "a") as zf:
        zf.writestr("ledger.jsonl", "")
    code, out = check(zipped, capsys)
    assert code == 1
    assert "FAIL bundle: zip member ledger.jsonl appears more than once" in out


def test_not_a_zip_exits_2(tmp_path):
    junk = tmp_path / "bundle.zip"
    junk.write_bytes(b"this is not a zip file")
    result = run_cli(junk)
    assert result.returncode == 2
    assert "not a zip file" in result.stderr
    assert "Traceback" not in result.stderr
    assert run_cli(tmp_path / "nope.zip").returncode == 2
    assert verify.main([str(junk)]) == 2
    assert verify.verify_bundle(junk)[0].startswith("FAIL bundle:")


def test_zip_without_manifest_exits_2(tmp_path):
    zipped = tmp_path / "empty.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("ledger.jsonl", "")
    result = run_cli(zipped)
    assert result.returncode == 2
    assert "no manifest.json" in result.stderr
    (tmp_path / "dir").mkdir()
    assert run_cli(tmp_path / "dir").returncode == 2


def test_usage_error_exits_2():
    assert run_cli().returncode == 2
