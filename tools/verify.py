#!/usr/bin/env python3
"""Standalone verifier for a Casebook custody bundle (casebook-custody-bundle/1).

Usage:
    python3 verify.py BUNDLE.zip            (or an already-extracted directory)
    python3 verify.py --backend openssl BUNDLE.zip

Exit status: 0 every check passed; 1 at least one check failed (one "FAIL ..."
line per failure); 2 the input is unusable (not a zip file or directory, or no
manifest.json in it).

It needs only the Python 3 standard library, plus for the Ed25519 signatures
(checkpoints and manifest.sig) either the `cryptography` package (if importable)
or the `openssl` command (OpenSSL 3). If neither is available the signatures
count as unverified and the bundle fails. See VERIFY.md for what each check
proves and its limits.

The Merkle tree is the one of RFC 6962 / RFC 9162:
leaf = SHA-256(0x00 || entry), node = SHA-256(0x01 || left || right), and the
proofs are checked with the algorithms of RFC 9162 sections 2.1.3.2 and 2.1.4.2.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile

FORMAT = "casebook-custody-bundle/1"
CHECKPOINT_PREFIX = "casebook-custody-checkpoint/1"
MANIFEST_PREFIX = b"casebook-custody-manifest/1\n"
ZERO_HASH = "0" * 64
EMPTY_ROOT = hashlib.sha256(b"").digest()
FIRST_ACTIONS = ("received", "ingested")
CHUNK = 1 << 20

# DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): SEQUENCE {
# SEQUENCE { OID 1.3.101.112 }, BIT STRING (0 unused bits) <32-byte key> }.
ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")

HEX64 = re.compile(r"[0-9a-f]{64}\Z")
RFC3339_Z = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z\Z")
ENTRY_FIELDS = (
    "v",
    "seq",
    "evidence",
    "incident",
    "exhibit",
    "action",
    "actor",
    "at",
    "location",
    "purpose",
    "sha256_observed",
    "prev_hash",
    "details",
)


# --------------------------------------------------------------------------
# Hashing and Merkle proofs (RFC 6962 / RFC 9162)
# --------------------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + bytes(data)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + bytes(left) + bytes(right)).digest()


def _is_size(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_hash(value) -> bool:
    return isinstance(value, (bytes, bytearray)) and len(value) == 32


def root_from_inclusion_proof(
    leaf_index: int, tree_size: int, leaf_hash: bytes, path: list[bytes]
) -> bytes:
    """Root hash implied by an inclusion proof (RFC 9162 section 2.1.3.2).

    Raises ValueError when the proof cannot be valid for any root (index out
    of range, wrong number of path elements, elements that are not 32 bytes).
    The caller compares the returned root with the signed one.
    """
    if not _is_size(leaf_index) or not _is_size(tree_size):
        raise ValueError("leaf_index and tree_size must be non-negative integers")
    if leaf_index >= tree_size:
        raise ValueError(
            f"leaf index {leaf_index} is outside a tree of size {tree_size}"
        )
    if not _is_hash(leaf_hash):
        raise ValueError("leaf hash must be 32 bytes")
    if not isinstance(path, (list, tuple)) or not all(_is_hash(p) for p in path):
        raise ValueError("every proof element must be 32 bytes")
    fn, sn = leaf_index, tree_size - 1
    r = bytes(leaf_hash)
    for p in path:
        if sn == 0:
            raise ValueError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("inclusion proof is too short")
    return r


def verify_inclusion(
    leaf_index: int, tree_size: int, leaf_hash: bytes, path: list[bytes], root: bytes
) -> bool:
    """True when `path` proves `leaf_hash` is leaf `leaf_index` of the tree `root`."""
    try:
        computed = root_from_inclusion_proof(leaf_index, tree_size, leaf_hash, path)
    except ValueError:
        return False
    return _is_hash(root) and hmac.compare_digest(computed, bytes(root))


def verify_consistency(
    first_size: int,
    second_size: int,
    first_root: bytes,
    second_root: bytes,
    path: list[bytes],
) -> bool:
    """Consistency proof check (RFC 9162 section 2.1.4.2): True when the tree of
    `second_size` leaves with root `second_root` extends, append-only, the tree
    of `first_size` leaves with root `first_root`."""
    if not _is_size(first_size) or not _is_size(second_size):
        return False
    if not isinstance(path, (list, tuple)) or not all(_is_hash(p) for p in path):
        return False
    if not _is_hash(first_root) or not _is_hash(second_root):
        return False
    first_root, second_root = bytes(first_root), bytes(second_root)
    if second_size < first_size:
        return False
    if first_size == second_size:
        return len(path) == 0 and hmac.compare_digest(first_root, second_root)
    if first_size == 0:
        # Every tree extends the empty tree; the proof is empty.
        return len(path) == 0
    if not path:
        return False
    path = [bytes(p) for p in path]
    if first_size & (first_size - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first_size - 1, second_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return (
        sn == 0
        and hmac.compare_digest(fr, first_root)
        and hmac.compare_digest(sr, second_root)
    )


def canonical_json(obj) -> bytes:
    """The canonical bytes of a ledger entry (what is hashed and logged)."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def checkpoint_message(tree_size: int, root_hash_hex: str, signed_at: str) -> bytes:
    """The exact bytes the server signs for a checkpoint."""
    return f"{CHECKPOINT_PREFIX}\n{tree_size}\n{root_hash_hex}\n{signed_at}\n".encode()


def manifest_message(manifest_bytes: bytes) -> bytes:
    """The exact bytes the server signs for the manifest (manifest.sig): a
    domain-separation line, then manifest.json byte for byte as in the bundle."""
    return MANIFEST_PREFIX + bytes(manifest_bytes)


def decode_signature(text) -> bytes:
    """64 signature bytes from canonical standard base64; ValueError if not."""
    if not isinstance(text, str):
        raise ValueError("not text")
    signature = base64.b64decode(text, validate=True)
    if len(signature) != 64 or base64.b64encode(signature).decode() != text:
        raise ValueError("not the base64 of 64 bytes")
    return signature


# --------------------------------------------------------------------------
# Ed25519 public key and signatures
# --------------------------------------------------------------------------


def parse_ed25519_pem(pem: bytes) -> bytes:
    """Raw 32-byte Ed25519 key from a PEM SubjectPublicKeyInfo; ValueError if not."""
    text = pem.decode("ascii")
    match = re.search(
        r"-----BEGIN PUBLIC KEY-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END PUBLIC KEY-----",
        text,
    )
    if not match:
        raise ValueError("no PEM 'PUBLIC KEY' block")
    der = base64.b64decode("".join(match.group(1).split()), validate=True)
    if len(der) != 44 or not der.startswith(ED25519_SPKI_PREFIX):
        raise ValueError("not an Ed25519 SubjectPublicKeyInfo")
    return der[len(ED25519_SPKI_PREFIX) :]


def key_id(raw_key: bytes) -> str:
    """First 16 hex digits of SHA-256 of the raw 32-byte public key."""
    return hashlib.sha256(raw_key).hexdigest()[:16]


def _pem_from_raw(raw_key: bytes) -> bytes:
    body = base64.b64encode(ED25519_SPKI_PREFIX + raw_key).decode("ascii")
    return f"-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----\n".encode()


class SignatureBackendUnavailable(Exception):
    pass


class _CryptographyBackend:
    def __init__(self):
        from cryptography import __version__
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import (
            Ed25519PublicKey,
        )

        self._invalid = InvalidSignature
        self._key_class = Ed25519PublicKey
        self.name = f"Python 'cryptography' {__version__}"

    def verify(self, raw_key: bytes, message: bytes, signature: bytes) -> bool:
        try:
            key = self._key_class.from_public_bytes(raw_key)
        except ValueError:
            return False
        try:
            key.verify(signature, message)
        except self._invalid:
            return False
        return True


class _OpensslBackend:
    def __init__(self):
        exe = shutil.which("openssl")
        if not exe:
            raise SignatureBackendUnavailable("no 'openssl' command on PATH")
        self.exe = exe
        try:
            out = subprocess.run(  # noqa: S603 - fixed argv, no shell
                [exe, "version"], capture_output=True, text=True, timeout=30
            )
            version = out.stdout.strip() or "openssl"
        except (OSError, subprocess.SubprocessError) as exc:
            raise SignatureBackendUnavailable(f"openssl does not run: {exc}") from exc
        self.name = f"openssl command ({version})"

    def verify(self, raw_key: bytes, message: bytes, signature: bytes) -> bool:
        with tempfile.TemporaryDirectory(prefix="casebook-verify-") as tmp:
            paths = {}
            for name, data in (
                ("key.pem", _pem_from_raw(raw_key)),
                ("msg", message),
                ("sig", signature),
            ):
                paths[name] = os.path.join(tmp, name)
                with open(paths[name], "wb") as fh:
                    fh.write(data)
            argv = [
                self.exe,
                "pkeyutl",
                "-verify",
                "-pubin",
                "-inkey",
                paths["key.pem"],
                "-rawin",
                "-in",
                paths["msg"],
                "-sigfile",
                paths["sig"],
            ]
            try:
                out = subprocess.run(  # noqa: S603 - fixed argv, no shell
                    argv, capture_output=True, text=True, timeout=60
                )
            except (OSError, subprocess.SubprocessError) as exc:
                raise SignatureBackendUnavailable(f"openssl failed: {exc}") from exc
        text = out.stdout + out.stderr
        if out.returncode == 0 and "Signature Verified Successfully" in text:
            return True
        if "Signature Verification Failure" in text:
            return False
        detail = " ".join(text.split())[:200]
        raise SignatureBackendUnavailable(
            f"openssl could not check the signature (needs OpenSSL 3): {detail}"
        )


def signature_backend(preference: str = "auto"):
    """An Ed25519 verifier: `cryptography` if importable, else `openssl`."""
    errors = []
    if preference in ("auto", "cryptography"):
        try:
            return _CryptographyBackend()
        except ImportError as exc:
            errors.append(f"Python package 'cryptography' not importable ({exc})")
    if preference in ("auto", "openssl"):
        try:
            return _OpensslBackend()
        except SignatureBackendUnavailable as exc:
            errors.append(str(exc))
    raise SignatureBackendUnavailable(
        "; ".join(errors) or f"unknown backend {preference!r}"
    )


# --------------------------------------------------------------------------
# Reading the bundle (zip file or extracted directory)
# --------------------------------------------------------------------------


class UnusableBundle(Exception):
    """The input is not a bundle at all (exit status 2)."""


def safe_member_path(name) -> bool:
    """A relative path inside the bundle: no absolute path, drive, '..' or '\\'."""
    if not isinstance(name, str) or not name or "\x00" in name or "\\" in name:
        return False
    if name.startswith("/") or re.match(r"[A-Za-z]:", name):
        return False
    parts = name.split("/")
    return all(part not in ("", ".", "..") for part in parts)


class _Source:
    """Read-only access to the members of a zip file or a directory."""

    def __init__(self, path: str):
        self.path = path
        self.zip = None
        self.root = None
        self.prefix = ""
        self.duplicates = []
        if os.path.isdir(path):
            self.root = os.path.realpath(path)
            if not os.path.isfile(os.path.join(self.root, "manifest.json")):
                subdirs = [
                    d
                    for d in sorted(os.listdir(self.root))
                    if os.path.isfile(os.path.join(self.root, d, "manifest.json"))
                ]
                if len(subdirs) != 1:
                    raise UnusableBundle(f"{path}: no manifest.json in this directory")
                self.prefix = subdirs[0] + "/"
        elif os.path.isfile(path):
            try:
                self.zip = zipfile.ZipFile(path)  # noqa: SIM115 - closed in close()
            except (zipfile.BadZipFile, OSError, ValueError) as exc:
                raise UnusableBundle(f"{path}: not a zip file ({exc})") from exc
            names = self.zip.namelist()
            seen = set()
            for name in names:
                if name in seen and name not in self.duplicates:
                    self.duplicates.append(name)
                seen.add(name)
            if "manifest.json" not in seen:
                tops = sorted(
                    n[: -len("manifest.json")]
                    for n in seen
                    if n.endswith("/manifest.json") and n.count("/") == 1
                )
                if len(tops) != 1:
                    self.close()
                    raise UnusableBundle(f"{path}: no manifest.json in this zip file")
                self.prefix = tops[0]
        else:
            raise UnusableBundle(f"{path}: no such file or directory")

    def close(self):
        if self.zip is not None:
            self.zip.close()
            self.zip = None

    def exists(self, name: str) -> bool:
        if not safe_member_path(name):
            return False
        if self.zip is not None:
            try:
                info = self.zip.getinfo(self.prefix + name)
            except KeyError:
                return False
            return not info.is_dir()
        full = self._dir_path(name)
        return full is not None and os.path.isfile(full)

    def _dir_path(self, name: str):
        full = os.path.realpath(os.path.join(self.root, self.prefix, name))
        base = os.path.realpath(os.path.join(self.root, self.prefix))
        if os.path.commonpath([full, base]) != base:
            return None  # a symlink pointing out of the bundle
        return full

    def open(self, name: str):
        """A binary file object; raise OSError when the member is unusable."""
        if not safe_member_path(name):
            raise OSError("unsafe path")
        if self.zip is not None:
            try:
                return self.zip.open(self.prefix + name)
            except KeyError as exc:
                raise FileNotFoundError(name) from exc
            except (zipfile.BadZipFile, RuntimeError, NotImplementedError) as exc:
                raise OSError(str(exc)) from exc
        full = self._dir_path(name)
        if full is None:
            raise OSError("path leads outside the bundle")
        return open(full, "rb")  # noqa: SIM115 - callers use `with`

    def read(self, name: str) -> bytes:
        try:
            with self.open(name) as fh:
                return fh.read()
        except (zipfile.BadZipFile, EOFError, ValueError) as exc:
            raise OSError(f"unreadable ({exc})") from exc

    def digest(self, name: str):
        """(size, sha256 hex) of a member, streamed in chunks."""
        h = hashlib.sha256()
        size = 0
        try:
            with self.open(name) as fh:
                while True:
                    chunk = fh.read(CHUNK)
                    if not chunk:
                        break
                    size += len(chunk)
                    h.update(chunk)
        except (zipfile.BadZipFile, EOFError, ValueError) as exc:
            raise OSError(f"unreadable ({exc})") from exc
        return size, h.hexdigest()


# --------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------


def _no_duplicate_keys(pairs):
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"duplicate key {key!r}")
        obj[key] = value
    return obj


def _loads(data):
    return json.loads(data, object_pairs_hook=_no_duplicate_keys)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_hex64(value) -> bool:
    return isinstance(value, str) and HEX64.match(value) is not None


def _clean(value, limit=80) -> str:
    """Text from the bundle made safe to print on one line (no control chars)."""
    text = value if isinstance(value, str) else repr(value)
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _entry_label(seq, entry) -> str:
    return f"ledger seq {seq} ({_clean(entry.get('exhibit'), 40)} {_clean(entry.get('action'), 40)})"


def _short(value, limit=60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Report:
    def __init__(self):
        self.failures = []
        self.passes = []
        self.info = []
        self.item_lines = []

    def fail(self, message: str):
        self.failures.append(f"FAIL {message}")

    def count(self) -> int:
        return len(self.failures)


class _Verifier:
    def __init__(self, source: _Source, backend: str):
        self.src = source
        self.backend_pref = backend
        self.r = _Report()
        self.manifest = None
        self.items = {}  # evidence id -> manifest item
        self.entries = {}  # seq -> (entry, computed entry hash hex)
        self.checkpoints = []  # valid-shaped checkpoints in file order
        self.raw_key = None
        self.manifest_bytes = None  # manifest.json exactly as stored
        self.manifest_signed = False
        self._backend = None
        self._backend_error = None

    def _signature_backend(self):
        """The Ed25519 verifier, chosen once; raises SignatureBackendUnavailable."""
        if self._backend is None and self._backend_error is None:
            try:
                self._backend = signature_backend(self.backend_pref)
                self.backend_name = self._backend.name
            except SignatureBackendUnavailable as exc:
                self._backend_error = exc
        if self._backend_error is not None:
            raise self._backend_error
        return self._backend

    # -- helpers ----------------------------------------------------------

    def _read_jsonl(self, name: str, label: str):
        """[(line number, parsed object)], reporting unreadable lines."""
        try:
            data = self.src.read(name)
        except FileNotFoundError:
            self.r.fail(f"{label}: {name} is missing from the bundle")
            return None
        except OSError as exc:
            self.r.fail(f"{label}: {name} cannot be read ({exc})")
            return None
        rows = []
        for number, raw in enumerate(data.split(b"\n"), start=1):
            if not raw.strip():
                continue
            try:
                obj = _loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError, RecursionError) as exc:
                self.r.fail(f"{label} line {number}: not valid JSON ({exc})")
                continue
            if not isinstance(obj, dict):
                self.r.fail(f"{label} line {number}: not a JSON object")
                continue
            rows.append((number, obj))
        return rows

    # -- manifest and files -----------------------------------------------

    def check_manifest(self):
        try:
            self.manifest_bytes = self.src.read("manifest.json")
            manifest = _loads(self.manifest_bytes.decode("utf-8"))
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
            self.r.fail(f"manifest.json: not valid JSON ({exc})")
            return
        if not isinstance(manifest, dict):
            self.r.fail("manifest.json: not a JSON object")
            return
        self.manifest = manifest
        if manifest.get("format") != FORMAT:
            self.r.fail(
                f"manifest.json: format is {_short(manifest.get('format'))}, expected {FORMAT!r}"
            )
        if not isinstance(manifest.get("incident"), str):
            self.r.fail("manifest.json: 'incident' is missing or not a string")
        if not _is_size(manifest.get("tree_size")):
            self.r.fail("manifest.json: 'tree_size' is missing or not an integer >= 0")
        items = manifest.get("items")
        if not isinstance(items, list):
            self.r.fail("manifest.json: 'items' is missing or not a list")
            return
        count = manifest.get("item_count")
        if not _is_size(count):
            self.r.fail("manifest.json: 'item_count' is missing or not an integer >= 0")
        elif count != len(items):
            self.r.fail(
                f"manifest.json: item_count is {count} but 'items' lists {len(items)} "
                "(exhibits removed or added?)"
            )
        for index, item in enumerate(items):
            self._check_item(index, item)

    def _check_item(self, index, item):
        where = f"manifest item #{index + 1}"
        if not isinstance(item, dict):
            self.r.fail(f"{where}: not a JSON object")
            return
        exhibit = item.get("exhibit")
        if isinstance(exhibit, str):
            where = f"manifest item {_clean(exhibit, 40)}"
        ok = True
        for key in ("id", "exhibit", "size", "sha256", "file"):
            if key not in item:
                self.r.fail(f"{where}: missing field '{key}'")
                ok = False
        if not ok:
            return
        if not _is_int(item["id"]):
            self.r.fail(f"{where}: 'id' is not an integer")
            return
        if item["id"] in self.items:
            self.r.fail(f"{where}: evidence id {item['id']} is listed twice")
            return
        self.items[item["id"]] = item
        if not isinstance(exhibit, str):
            self.r.fail(f"{where}: 'exhibit' is not a string")
        events = item.get("events")
        if not _is_size(events):
            self.r.fail(f"{where}: 'events' is missing or not an integer >= 0")
        head = item.get("head_hash")
        if not (_is_hex64(head) or (head is None and events == 0)):
            self.r.fail(
                f"{where}: 'head_hash' is missing or not 64 lowercase hex digits"
            )
        if not _is_size(item["size"]):
            self.r.fail(f"{where}: 'size' is not an integer >= 0")
        if not _is_hex64(item["sha256"]):
            self.r.fail(f"{where}: 'sha256' is not 64 lowercase hex digits")
        label = _clean(exhibit, 40) if isinstance(exhibit, str) else f"id {item['id']}"
        path = item["file"]
        if path is None:
            self.r.item_lines.append(
                f"  {label:<10} {item['sha256']}  file not included"
            )
            return
        if not isinstance(path, str):
            self.r.fail(f"{where}: 'file' is neither a path nor null")
            return
        shown = _clean(path, 200)
        if not safe_member_path(path):
            self.r.fail(
                f"file {shown}: unsafe path (absolute or leaving the bundle); not read"
            )
            return
        if not self.src.exists(path):
            self.r.fail(
                f"file {shown}: listed in manifest.json but missing from the bundle"
            )
            return
        try:
            size, digest = self.src.digest(path)
        except OSError as exc:
            self.r.fail(f"file {shown}: cannot be read ({exc})")
            return
        bad = False
        if _is_size(item["size"]) and size != item["size"]:
            self.r.fail(
                f"file {shown}: size mismatch (manifest {item['size']}, file {size})"
            )
            bad = True
        if digest != item["sha256"]:
            self.r.fail(
                f"file {shown}: sha256 mismatch (manifest {_short(item['sha256'], 70)}, file {digest})"
            )
            bad = True
        state = "MISMATCH" if bad else f"file verified ({size} bytes)"
        self.r.item_lines.append(f"  {label:<10} {item['sha256']}  {state}")

    # -- ledger -----------------------------------------------------------

    def check_ledger(self):
        rows = self._read_jsonl("ledger.jsonl", "ledger")
        if rows is None:
            return
        incident = self.manifest.get("incident") if self.manifest else None
        last_seq = None
        for number, row in rows:
            seq = row.get("seq")
            entry = row.get("entry")
            declared = row.get("entry_hash")
            if not _is_size(seq):
                self.r.fail(
                    f"ledger line {number}: 'seq' is missing or not an integer >= 0"
                )
                continue
            if not isinstance(entry, dict):
                self.r.fail(f"ledger seq {seq}: 'entry' is missing or not an object")
                continue
            where = _entry_label(seq, entry)
            if seq in self.entries:
                self.r.fail(f"{where}: seq appears more than once")
                continue
            if last_seq is not None and seq < last_seq:
                self.r.fail(f"{where}: out of order (comes after seq {last_seq})")
            last_seq = seq if last_seq is None else max(seq, last_seq)
            try:
                computed = hashlib.sha256(canonical_json(entry)).hexdigest()
            except (ValueError, TypeError, RecursionError) as exc:
                self.r.fail(f"{where}: entry cannot be serialised ({exc})")
                continue
            self.entries[seq] = (entry, computed)
            if not _is_hex64(declared):
                self.r.fail(
                    f"{where}: 'entry_hash' is missing or not 64 lowercase hex digits"
                )
            elif declared != computed:
                self.r.fail(f"{where}: entry_hash mismatch")
            self._check_entry_fields(where, seq, entry, incident)
        self._check_chains()

    def _check_entry_fields(self, where, seq, entry, incident):
        missing = [k for k in ENTRY_FIELDS if k not in entry]
        if missing:
            self.r.fail(f"{where}: missing field(s) {', '.join(missing)}")
        if "v" in entry and not (_is_int(entry["v"]) and entry["v"] == 1):
            self.r.fail(f"{where}: unsupported entry version {_short(entry['v'])}")
        if "seq" in entry and not (_is_int(entry["seq"]) and entry["seq"] == seq):
            self.r.fail(
                f"{where}: entry seq {_short(entry['seq'])} differs from line seq {seq}"
            )
        if "evidence" in entry and not _is_int(entry["evidence"]):
            self.r.fail(f"{where}: 'evidence' is not an integer id")
        if (
            "incident" in entry
            and incident is not None
            and entry["incident"] != incident
        ):
            self.r.fail(
                f"{where}: incident {_short(entry['incident'])} is not the bundle's {incident!r}"
            )
        for key in ("action", "actor"):
            if key in entry and not isinstance(entry[key], str):
                self.r.fail(f"{where}: '{key}' is not a string")
        if "at" in entry and not (
            isinstance(entry["at"], str) and RFC3339_Z.match(entry["at"])
        ):
            self.r.fail(f"{where}: 'at' is not an RFC 3339 UTC time ending in Z")
        if "prev_hash" in entry and not _is_hex64(entry["prev_hash"]):
            self.r.fail(f"{where}: 'prev_hash' is not 64 lowercase hex digits")
        observed = entry.get("sha256_observed")
        if observed is not None and not _is_hex64(observed):
            self.r.fail(
                f"{where}: 'sha256_observed' is neither null nor 64 lowercase hex"
            )
        if "details" in entry and not isinstance(entry["details"], dict):
            self.r.fail(f"{where}: 'details' is not an object")

    def _check_chains(self):
        by_item = {}
        for seq in sorted(self.entries):
            entry, _ = self.entries[seq]
            evidence = entry.get("evidence")
            if not _is_int(evidence):
                continue
            by_item.setdefault(evidence, []).append(seq)
        for evidence, seqs in by_item.items():
            item = self.items.get(evidence)
            previous = None
            for seq in seqs:
                entry, computed = self.entries[seq]
                where = _entry_label(seq, entry)
                if item is None and previous is None:
                    self.r.fail(
                        f"{where}: evidence id {evidence} is not an item of this bundle's manifest"
                    )
                if previous is None:
                    if entry.get("prev_hash") != ZERO_HASH:
                        self.r.fail(
                            f"{where}: first event of the item but prev_hash is not 64 zeros"
                        )
                    if entry.get("action") not in FIRST_ACTIONS:
                        self.r.fail(
                            f"{where}: first event of the item is {_short(entry.get('action'))}, "
                            "not 'received' or 'ingested'"
                        )
                elif entry.get("prev_hash") != self.entries[previous][1]:
                    self.r.fail(
                        f"{where}: prev_hash does not match the hash of the item's "
                        f"previous event (seq {previous}); hash chain broken"
                    )
                observed = entry.get("sha256_observed")
                if (
                    item is not None
                    and observed is not None
                    and observed != item.get("sha256")
                ):
                    self.r.fail(
                        f"{where}: sha256_observed differs from the manifest sha256 of "
                        f"{_clean(item.get('exhibit'), 40)}"
                    )
                previous = seq
        for evidence, item in self.items.items():
            if evidence not in by_item:
                self.r.fail(
                    f"manifest item {_clean(item.get('exhibit'), 40)} (id {evidence}): no custody "
                    "events in ledger.jsonl"
                )
        self.chains = len(by_item)
        self._check_item_heads(by_item)

    def _check_item_heads(self, by_item):
        """The signed manifest's event count and head hash of each item must match
        the ledger: dropping an item's latest events (with their proofs) shows."""
        self.heads_ok = 0
        for evidence, item in self.items.items():
            exhibit = item.get("exhibit")
            label = (
                _clean(exhibit, 40) if isinstance(exhibit, str) else f"id {evidence}"
            )
            seqs = by_item.get(evidence, [])
            events, head = item.get("events"), item.get("head_hash")
            ok = True
            if _is_size(events) and events != len(seqs):
                hint = "events dropped?" if events > len(seqs) else "events added?"
                self.r.fail(
                    f"{label}: manifest says {events} events, ledger has {len(seqs)} ({hint})"
                )
                ok = False
            if _is_hex64(head):
                last = self.entries[seqs[-1]][1] if seqs else None
                if last != head:
                    where = f"seq {seqs[-1]}" if seqs else "none in the ledger"
                    self.r.fail(
                        f"{label}: manifest head_hash {head[:16]}... is not the hash of "
                        f"the item's last ledger event ({where}); events dropped or altered?"
                    )
                    ok = False
            elif head is not None or seqs:
                ok = False  # malformed field, reported with the manifest
            if ok and _is_size(events):
                self.heads_ok += 1

    # -- checkpoints and signatures ---------------------------------------

    def check_public_key(self):
        try:
            pem = self.src.read("public_key.pem")
        except FileNotFoundError:
            self.r.fail("public_key.pem: missing from the bundle")
            return
        except OSError as exc:
            self.r.fail(f"public_key.pem: cannot be read ({exc})")
            return
        try:
            self.raw_key = parse_ed25519_pem(pem)
        except (ValueError, UnicodeDecodeError) as exc:
            self.r.fail(f"public_key.pem: {exc}")

    def check_manifest_signature(self):
        """manifest.sig: Ed25519 by public_key.pem over the domain-separation line
        and the exact bytes of manifest.json."""
        try:
            raw = self.src.read("manifest.sig")
        except FileNotFoundError:
            self.r.fail(
                "manifest.sig: missing from the bundle; the manifest is not signed, so "
                "removed exhibits or events could not be detected"
            )
            return
        except OSError as exc:
            self.r.fail(f"manifest.sig: cannot be read ({exc})")
            return
        try:
            signature = decode_signature(raw.strip(b" \t\r\n").decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            self.r.fail("manifest.sig: not the base64 of a 64-byte Ed25519 signature")
            return
        if self.raw_key is None or self.manifest_bytes is None:
            return  # the unusable public key or manifest is reported on its own
        try:
            backend = self._signature_backend()
        except SignatureBackendUnavailable as exc:
            self.r.fail(
                "manifest.sig NOT verified: no Ed25519 verifier available "
                f"({exc}); install the Python package 'cryptography' or OpenSSL 3"
            )
            return
        try:
            good = backend.verify(
                self.raw_key, manifest_message(self.manifest_bytes), signature
            )
        except SignatureBackendUnavailable as exc:
            self.r.fail(f"manifest.sig: signature could not be checked ({exc})")
            return
        if good:
            self.manifest_signed = True
        else:
            self.r.fail(
                "manifest.sig: bad signature; manifest.json is not what public_key.pem "
                "signed (exhibits, counts or hashes altered?)"
            )

    def check_checkpoints(self):
        rows = self._read_jsonl("checkpoints.jsonl", "checkpoints")
        if rows is None:
            return
        if not rows:
            self.r.fail("checkpoints.jsonl: no checkpoints")
            return
        backend = None
        if self.raw_key is not None:
            try:
                backend = self._signature_backend()
            except SignatureBackendUnavailable as exc:
                self.r.fail(
                    "checkpoint signatures NOT verified: no Ed25519 verifier available "
                    f"({exc}); install the Python package 'cryptography' or OpenSSL 3"
                )
        expected_kid = key_id(self.raw_key) if self.raw_key is not None else None
        previous_size = None
        self.signatures_ok = 0
        for number, cp in rows:
            size = cp.get("tree_size")
            if not _is_size(size):
                self.r.fail(
                    f"checkpoints line {number}: 'tree_size' is missing or not an integer >= 0"
                )
                continue
            where = f"checkpoint tree_size {size}"
            root = cp.get("root_hash")
            signed_at = cp.get("signed_at")
            kid = cp.get("key_id")
            sig_text = cp.get("signature")
            shape_ok = True
            if not _is_hex64(root):
                self.r.fail(f"{where}: 'root_hash' is not 64 lowercase hex digits")
                shape_ok = False
            if not isinstance(signed_at, str) or not RFC3339_Z.match(signed_at):
                self.r.fail(
                    f"{where}: 'signed_at' is not an RFC 3339 UTC time ending in Z"
                )
                shape_ok = shape_ok and isinstance(signed_at, str)
            if previous_size is not None and size <= previous_size:
                self.r.fail(
                    f"{where}: tree sizes do not strictly increase (follows {previous_size})"
                )
            previous_size = size if previous_size is None else max(size, previous_size)
            if expected_kid is not None and kid != expected_kid:
                self.r.fail(
                    f"{where}: key_id {_short(kid)} does not match public_key.pem "
                    f"({expected_kid})"
                )
            signature = None
            try:
                signature = decode_signature(sig_text)
            except ValueError:
                self.r.fail(f"{where}: 'signature' is not the base64 of 64 bytes")
                signature = None
            if size == 0 and _is_hex64(root) and root != EMPTY_ROOT.hex():
                self.r.fail(f"{where}: root_hash is not the empty-tree hash")
            if shape_ok:
                self.checkpoints.append(cp)
            if backend is None or signature is None or not shape_ok:
                continue  # a missing verifier is reported once, above
            try:
                message = checkpoint_message(size, root, signed_at)
                good = backend.verify(self.raw_key, message, signature)
            except UnicodeEncodeError:
                self.r.fail(
                    f"{where}: 'signed_at' is not encodable text; bad signature"
                )
                continue
            except SignatureBackendUnavailable as exc:
                self.r.fail(f"{where}: signature could not be checked ({exc})")
                continue
            if good:
                self.signatures_ok += 1
            else:
                self.r.fail(f"{where}: bad signature")
        if self.manifest is not None and _is_size(self.manifest.get("tree_size")):
            last = rows[-1][1].get("tree_size")
            if last != self.manifest["tree_size"]:
                self.r.fail(
                    f"checkpoints.jsonl: last checkpoint tree_size {_short(last)} is not "
                    f"the manifest tree_size {self.manifest['tree_size']}"
                )

    # -- proofs -----------------------------------------------------------

    @staticmethod
    def _path(value):
        if not isinstance(value, list) or not all(_is_hex64(p) for p in value):
            return None
        return [bytes.fromhex(p) for p in value]

    def check_inclusion(self):
        rows = self._read_jsonl("proofs/inclusion.jsonl", "inclusion proofs")
        if rows is None:
            return
        roots = {cp["tree_size"]: cp["root_hash"] for cp in self.checkpoints}
        seen = set()
        self.inclusion_ok = 0
        self.inclusion_sizes = set()
        for number, proof in rows:
            seq = proof.get("seq")
            if not _is_size(seq):
                self.r.fail(
                    f"inclusion proofs line {number}: 'seq' is missing or not an integer >= 0"
                )
                continue
            where = f"inclusion proof seq {seq}"
            if seq in seen:
                self.r.fail(f"{where}: more than one proof for this seq")
                continue
            seen.add(seq)
            if seq not in self.entries:
                self.r.fail(f"{where}: no ledger entry with this seq in ledger.jsonl")
                continue
            entry, _ = self.entries[seq]
            size = proof.get("tree_size")
            declared = proof.get("leaf_hash")
            path = self._path(proof.get("path"))
            if not _is_size(size):
                self.r.fail(f"{where}: 'tree_size' is missing or not an integer >= 0")
                continue
            if size not in roots:
                self.r.fail(f"{where}: tree_size {size} matches no valid checkpoint")
                continue
            if not _is_hex64(declared):
                self.r.fail(f"{where}: 'leaf_hash' is not 64 lowercase hex digits")
                continue
            if path is None:
                self.r.fail(f"{where}: 'path' is not a list of 64-hex-digit hashes")
                continue
            actual = leaf_hash(canonical_json(entry)).hex()
            if declared != actual:
                self.r.fail(
                    f"{where}: leaf_hash does not match the ledger entry (entry altered?)"
                )
                continue
            if seq >= size:
                self.r.fail(f"{where}: seq is outside the tree of size {size}")
                continue
            if verify_inclusion(
                seq, size, bytes.fromhex(actual), path, bytes.fromhex(roots[size])
            ):
                self.inclusion_ok += 1
                self.inclusion_sizes.add(size)
            else:
                self.r.fail(
                    f"{where}: proof does not lead to the root of checkpoint tree_size {size}"
                )
        for seq in sorted(set(self.entries) - seen):
            entry, _ = self.entries[seq]
            self.r.fail(f"{_entry_label(seq, entry)}: no inclusion proof")

    def check_consistency(self):
        rows = self._read_jsonl("proofs/consistency.jsonl", "consistency proofs")
        if rows is None:
            return
        proofs = {}
        for number, proof in rows:
            first, second = proof.get("first"), proof.get("second")
            if not _is_size(first) or not _is_size(second):
                self.r.fail(
                    f"consistency proofs line {number}: 'first'/'second' missing or not integers"
                )
                continue
            if (first, second) in proofs:
                self.r.fail(
                    f"consistency proof {first} -> {second}: listed more than once"
                )
                continue
            proofs[(first, second)] = proof.get("path")
        cps = self.checkpoints
        pairs = [(cps[i], cps[i + 1]) for i in range(len(cps) - 1)]
        expected = set()
        self.consistency_ok = 0
        for a, b in pairs:
            key = (a["tree_size"], b["tree_size"])
            expected.add(key)
            where = f"consistency proof {key[0]} -> {key[1]}"
            if key not in proofs:
                self.r.fail(
                    f"{where}: missing (needed between consecutive checkpoints)"
                )
                continue
            path = self._path(proofs[key])
            if path is None:
                self.r.fail(f"{where}: 'path' is not a list of 64-hex-digit hashes")
                continue
            if verify_consistency(
                key[0],
                key[1],
                bytes.fromhex(a["root_hash"]),
                bytes.fromhex(b["root_hash"]),
                path,
            ):
                self.consistency_ok += 1
            else:
                self.r.fail(
                    f"{where}: does not verify; the log of size {key[1]} is not an "
                    f"append-only extension of the log of size {key[0]}"
                )
        for key in sorted(set(proofs) - expected):
            self.r.fail(
                f"consistency proof {key[0]} -> {key[1]}: does not connect two "
                "consecutive checkpoints (checkpoint removed or sizes altered?)"
            )

    # -- driver -----------------------------------------------------------

    def run(self):
        for name in self.src.duplicates:
            self.r.fail(
                f"bundle: zip member {_clean(name, 200)} appears more than once"
            )
        steps = (
            self.check_manifest,
            self.check_ledger,
            self.check_public_key,
            self.check_manifest_signature,
            self.check_checkpoints,
            self.check_inclusion,
            self.check_consistency,
        )
        for step in steps:
            try:
                step()
            except Exception as exc:  # never a traceback on a hostile bundle
                self.r.fail(
                    f"verification step {step.__name__} stopped: {type(exc).__name__}: {exc}"
                )
        return self.r


def _verify(path, backend="auto"):
    source = _Source(os.fspath(path))
    try:
        verifier = _Verifier(source, backend)
        verifier.run()
        return verifier
    finally:
        source.close()


def verify_bundle(path, backend: str = "auto") -> list[str]:
    """Verify a bundle (zip or directory); the list of "FAIL ..." lines, empty if OK.

    Never raises for bad input: an unusable input gives one "FAIL bundle: ..." line.
    """
    try:
        return list(_verify(path, backend).r.failures)
    except UnusableBundle as exc:
        return [f"FAIL bundle: {exc}"]
    except Exception as exc:
        return [f"FAIL bundle: verification stopped: {type(exc).__name__}: {exc}"]


def _summary(v: _Verifier) -> list[str]:
    m = v.manifest if isinstance(v.manifest, dict) else {}
    items = m.get("items") if isinstance(m.get("items"), list) else []
    included = sum(
        1 for i in items if isinstance(i, dict) and i.get("file") is not None
    )
    sizes = [cp["tree_size"] for cp in v.checkpoints]
    lines = [
        f"Casebook custody bundle: {v.src.path}",
        f"  format       {_clean(m.get('format'))}",
        f"  incident     {_clean(m.get('incident'))}",
        f"  generated    {_clean(m.get('generated_at'))}",
        f"  items        {len(items)} ({included} with file included, "
        f"{len(items) - included} not included)",
        f"  entries      {len(v.entries)} custody events",
        f"  checkpoints  {len(sizes)} (tree sizes {', '.join(map(str, sizes)) or '-'})",
    ]
    if v.raw_key is not None:
        lines.append(
            f"  public key   Ed25519, key_id {key_id(v.raw_key)}, SHA-256 of raw key:"
        )
        lines.append(f"               {hashlib.sha256(v.raw_key).hexdigest()}")
        lines.append(
            "               (compare this fingerprint with one obtained independently)"
        )
    if getattr(v, "backend_name", None):
        lines.append(f"  signatures   checked with {v.backend_name}")
    if v.r.item_lines:
        lines.append("")
        lines.extend(v.r.item_lines)
    return lines


def _passes(v: _Verifier) -> list[str]:
    items = len(v.items)
    sizes = sorted(getattr(v, "inclusion_sizes", set()))
    return [
        f"PASS manifest signature: manifest.sig is a valid Ed25519 signature of "
        f"manifest.json by public_key.pem; item_count {items}, and each item's "
        f"event count and head hash match the ledger ({getattr(v, 'heads_ok', 0)} items)",
        f"PASS files: every included file matches its manifest size and SHA-256 "
        f"({items} items)",
        f"PASS ledger: {len(v.entries)} entry hashes recomputed from canonical JSON",
        f"PASS hash chains: {getattr(v, 'chains', 0)} per-item chains intact from "
        "their first event; observed hashes match the manifest",
        f"PASS checkpoint signatures: {getattr(v, 'signatures_ok', 0)} Ed25519 "
        "signatures valid for public_key.pem; tree sizes increase",
        f"PASS inclusion: {getattr(v, 'inclusion_ok', 0)} entries proven in the signed "
        f"log (tree size {', '.join(map(str, sizes)) or '-'})",
        f"PASS consistency: {getattr(v, 'consistency_ok', 0)} proofs show each "
        "checkpoint extends the previous one (append-only)",
    ]


def main(argv=None) -> int:
    """Command line entry point; `argv` excludes the program name."""
    parser = argparse.ArgumentParser(
        prog="verify.py",
        description="Verify a Casebook custody bundle (zip file or extracted directory).",
    )
    parser.add_argument(
        "bundle", help="the bundle .zip file, or its extracted directory"
    )
    parser.add_argument(
        "--backend",
        choices=("auto", "cryptography", "openssl"),
        default="auto",
        help="Ed25519 verifier: the Python 'cryptography' package or the openssl "
        "command (default: cryptography if importable, else openssl)",
    )
    try:
        args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    except SystemExit as exc:
        return 2 if exc.code else 0
    try:
        verifier = _verify(args.bundle, args.backend)
    except UnusableBundle as exc:
        print(f"ERROR unusable input: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        print(f"FAIL bundle: verification stopped: {type(exc).__name__}: {exc}")
        return 1
    for line in _summary(verifier):
        print(line)
    print()
    failures = verifier.r.failures
    if failures:
        for line in failures:
            print(line)
        print()
        print(
            f"RESULT: FAILED - {len(failures)} problem(s). This bundle does NOT verify; "
            "see VERIFY.md for what each failure means."
        )
        return 1
    for line in _passes(verifier):
        print(line)
    print()
    print("RESULT: OK - every check passed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
