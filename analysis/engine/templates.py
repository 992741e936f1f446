"""Near-duplicate prompts across accounts: word 5-gram sets, MinHash signatures, LSH
banding for candidates, then the exact Jaccard of each candidate pair.

Everything is vectorised over the concatenated bytes of the sampled prompts: words
are cut where whitespace starts and ends, each word is hashed by a polynomial over
its bytes computed from prefix sums (so no Python loop touches a word), shingles are
combined from consecutive word hashes, and signatures are per-text minima
(`np.minimum.reduceat`). Near-duplicates are chained into templates (connected
components); a prompt "matches" when its template is used by another account too.
Rows logged without text (only `prompt_sha256`) match on the exact hash instead.
"""

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

# Text shingled at once: about 16 MiB of arrays, which the allocator reuses from one
# chunk to the next (arrays of 4 MiB chunks went to fresh pages every time, and
# their page faults took a third of the shingling time).
CHUNK_BYTES = 1024 * 1024
SHINGLE_THREADS = min(4, os.cpu_count() or 1)
ROTATION_ROWS = 8192  # signatures filled by rotation at once, for the same reason
_WORD_BASE = np.uint64(0x100000001B3)
_WORD_BASE_INVERSE = np.uint64(pow(0x100000001B3, -1, 2**64))
_SHINGLE_BASE = np.uint64(0x9E3779B97F4A7C15)
_SEPARATORS = np.zeros(256, dtype=bool)
_SEPARATORS[[0, 9, 10, 11, 12, 13, 32]] = True
# What a byte counts as in a word's hash: itself, ASCII lower-cased, plus 1.
_CODES = np.arange(256, dtype=np.uint64)
_CODES[65:91] += np.uint64(32)
_CODES += np.uint64(1)
SNIPPET = 160


@dataclass
class Templates:
    compared: np.ndarray  # per account: distinct sampled prompts that could match
    matched: np.ndarray  # per account: of those, how many another account also sent
    values: list[str]  # one per shared template: a sample prompt, or "sha256:<hash>"
    value_of: np.ndarray  # (value, account) pairs of the shared templates
    account_of: np.ndarray
    texts: int  # distinct sampled texts
    near_duplicate_pairs: int  # verified pairs that joined templates


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: spreads every input bit over the whole word."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    mixed: np.ndarray = x ^ (x >> np.uint64(31))
    return mixed


def shingle(texts: list[bytes], k: int) -> tuple[np.ndarray, np.ndarray]:
    """(shingle hashes, index of their text), texts in order, for all `texts`.

    Chunks are shingled on several threads: numpy lets go of the GIL in its loops
    (measured on 30 MB of prompts with 2 cores: 0.44 s instead of 0.95 s), and each
    chunk's result does not depend on the others, so the output is the same."""
    # Each chunk ends with the text that takes it to CHUNK_BYTES (with separators).
    ends = np.cumsum(np.fromiter(map(len, texts), np.int64, len(texts)) + 1)
    bounds, begin = [], 0
    while begin < len(texts):
        start = int(ends[begin - 1]) if begin else 0
        end = min(int(np.searchsorted(ends, start + CHUNK_BYTES)) + 1, len(texts))
        bounds.append((begin, end))
        begin = end
    if not bounds:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    _powers(CHUNK_BYTES)  # made once, before the threads share it

    def one(bound: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        hashes, owners = _shingle_chunk(texts[bound[0] : bound[1]], k)
        return hashes, owners + bound[0]

    workers = min(len(bounds), SHINGLE_THREADS)
    if workers == 1:
        parts = [one(bound) for bound in bounds]
    else:
        with ThreadPoolExecutor(workers, thread_name_prefix="shingle") as pool:
            parts = list(pool.map(one, bounds))
    return (
        np.concatenate([hashes for hashes, _ in parts]),
        np.concatenate([owners for _, owners in parts]),
    )


_POWERS: list[np.ndarray] = []


def _powers(size: int) -> tuple[np.ndarray, np.ndarray]:
    """C^j and C^-j mod 2^64 for j < size; kept, as every chunk needs the same ones.
    Threads may call it at once: each gets arrays long enough, whichever it built
    or found."""
    kept = _POWERS[:]
    if not kept or kept[0].size < size:
        length = max(size, CHUNK_BYTES + 512 * 1024)  # a chunk's last text runs over
        with np.errstate(over="ignore"):
            power = np.full(length, _WORD_BASE, dtype=np.uint64)
            back = np.full(length, _WORD_BASE_INVERSE, dtype=np.uint64)
            power[0] = back[0] = 1
            kept = [np.cumprod(power), np.cumprod(back)]
        _POWERS[:] = kept
    return kept[0][:size], kept[1][:size]


def _shingle_chunk(texts: list[bytes], k: int) -> tuple[np.ndarray, np.ndarray]:
    data = np.frombuffer(b"\x00".join(texts) + b"\x00", dtype=np.uint8)
    # Word ends: where a run of non-separators starts and stops.
    edge = np.diff((~_SEPARATORS[data]).view(np.int8), prepend=0, append=0)
    starts, ends = np.flatnonzero(edge == 1), np.flatnonzero(edge == -1)
    # A word's hash is sum(code[j] * C^(j - start)) over its bytes (code: the byte,
    # ASCII lower-cased, plus 1): differences of one prefix sum of code[j] * C^j,
    # shifted back by C^-start (C is odd, so it has an inverse mod 2^64). All
    # arithmetic wraps mod 2^64 on purpose.
    power, back = _powers(data.size)
    codes = _CODES[data]
    with np.errstate(over="ignore"):
        np.multiply(codes, power, out=codes)
        prefix = np.zeros(data.size + 1, dtype=np.uint64)
        np.cumsum(codes, out=prefix[1:])
        words = _mix((prefix[ends] - prefix[starts]) * back[starts])
    del codes, prefix
    # The word's text: texts end at each 0 byte; count the words before each end.
    before = np.searchsorted(starts, np.flatnonzero(data == 0))
    owner = np.repeat(np.arange(before.size), np.diff(before, prepend=0))
    count = words.size - k + 1
    if count <= 0:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    whole = owner[:count] == owner[k - 1 :]
    with np.errstate(over="ignore"):
        combined = words[:count].copy()
        for offset in range(1, k):
            combined = combined * _SHINGLE_BASE + words[offset : count + offset]
    return _mix(combined[whole]), owner[:count][whole].astype(np.int64)


def signatures(
    hashes: np.ndarray, owners: np.ndarray, length: int
) -> tuple[np.ndarray, np.ndarray]:
    """(texts that have shingles, their MinHash signatures: length x texts).

    One-permutation hashing (Li, Owen and Zhang 2012): each shingle's hash picks one
    of `length` bins by its high bits and competes for that bin's minimum with its
    low bits, so one pass over the shingles (np.minimum.at) replaces `length` passes.
    Bins a short text leaves empty are filled by rotation (Shrivastava and Li 2014):
    from the next non-empty bin to the right, shifted by the distance, so that two
    texts still agree on a bin with probability close to their Jaccard similarity.
    """
    if not owners.size:
        return owners, np.zeros((length, 0), dtype=np.uint32)
    first = np.flatnonzero(np.concatenate(([True], owners[1:] != owners[:-1])))
    present = owners[first]
    texts = present.size
    # Each shingle's cell: its text's row, plus its bin (high bits x length / 2^32,
    # below 2^41, so the uint64 reads as the same int64).
    cell = np.repeat(np.arange(texts) * length, np.diff(np.append(first, owners.size)))
    cell += ((hashes >> np.uint64(32)) * np.uint64(length) >> np.uint64(32)).view(
        np.int64
    )
    values = hashes.astype(np.uint32)  # the low 32 bits (unsigned casts wrap)
    empty_value = np.iinfo(np.uint32).max
    table: np.ndarray = np.full(texts * length, empty_value, dtype=np.uint32)
    np.minimum.at(table, cell, values)
    table = table.reshape(texts, length)
    signature = np.empty((length, texts), dtype=np.uint32)
    # In blocks of rows: the temporaries stay small enough to be reused from one
    # block to the next instead of each being fresh (page-faulted) memory.
    for begin in range(0, texts, ROTATION_ROWS):
        block = table[begin : begin + ROTATION_ROWS]
        signature[:, begin : begin + block.shape[0]] = _rotated(block, empty_value).T
    return present, signature


def _rotated(table: np.ndarray, empty_value: int) -> np.ndarray:
    """Rotation: each empty bin takes the nearest non-empty bin at or after it,
    circularly, shifted by the distance."""
    length = table.shape[1]
    position = np.arange(length, dtype=np.int16)
    filled = np.where(table != empty_value, position, np.int16(2 * length))
    ahead = np.concatenate((filled, filled + np.int16(length)), axis=1)
    ahead = np.minimum.accumulate(ahead[:, ::-1], axis=1)[:, ::-1][:, :length]
    source = np.take_along_axis(table, ahead % length, axis=1)
    with np.errstate(over="ignore"):
        shift = (ahead - position).astype(np.uint32) * np.uint32(0x9E3779B1)
        rotated: np.ndarray = source + shift
        return rotated


def _fingerprint(signature: np.ndarray) -> np.ndarray:
    """One uint64 per column from its first rows: equal only for (near) equal texts."""
    key = np.zeros(signature.shape[1], dtype=np.uint64)
    with np.errstate(over="ignore"):
        for row in signature[:4]:
            key = _mix(key * _SHINGLE_BASE + row.astype(np.uint64))
    return key


def _content_order(
    signature: np.ndarray, present: np.ndarray, texts: list[bytes]
) -> np.ndarray:
    """The signature columns ordered by their fingerprint, texts with equal ones by
    their bytes: an order of the texts' own content, whatever order the rows arrived
    in, so that LSH picks the same bucket leaders (hence verifies the same pairs)
    every time."""
    key = _fingerprint(signature)
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    bounds = np.flatnonzero(np.diff(ordered)) + 1
    starts = np.concatenate(([0], bounds))
    ends = np.concatenate((bounds, [ordered.size]))
    text_at = present.tolist()
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        if end - start > 1:  # near-identical texts: few
            run = order[start:end].tolist()
            order[start:end] = sorted(run, key=lambda c: texts[text_at[c]])
    return order


def candidates(signature: np.ndarray, bands: int) -> np.ndarray:
    """Pairs (i, j) of signature columns that agree on all rows of some band; each
    column is paired with the first column of its bucket, not all others (which
    would be quadratic in a bucket's size); chaining recovers the rest. Bands are
    hashed on several threads (numpy lets go of the GIL), in band order."""
    rows = signature.shape[0] // bands
    index = np.arange(signature.shape[1])

    def band_pairs(band: int) -> np.ndarray:
        block = signature[band * rows : (band + 1) * rows].astype(np.uint64)
        key = np.zeros(signature.shape[1], dtype=np.uint64)
        with np.errstate(over="ignore"):
            for row in block:
                key = _mix(key * _SHINGLE_BASE + row)
        # The first column with each key leads its bucket.
        _, first, bucket = np.unique(key, return_index=True, return_inverse=True)
        leader = first[bucket.ravel()]
        keep = leader != index
        return np.stack((index[keep], leader[keep]), axis=1)

    if not bands or not index.size:
        return np.zeros((0, 2), dtype=np.int64)
    with ThreadPoolExecutor(min(bands, SHINGLE_THREADS)) as pool:
        found = list(pool.map(band_pairs, range(bands)))
    pairs = np.concatenate(found)
    return np.unique(pairs, axis=0) if pairs.size else pairs.reshape(0, 2)


def exact_jaccard(texts: list[bytes], pairs: np.ndarray, k: int) -> np.ndarray:
    """The exact Jaccard of the word k-gram sets of each pair of texts."""
    if not len(pairs):
        return np.zeros(0)
    involved = np.unique(pairs)
    hashes, owners = shingle([texts[i] for i in involved], k)
    _, column = np.unique(hashes, return_inverse=True)
    sets = sparse.csr_matrix(
        (np.ones(column.size), (owners, column)),
        shape=(involved.size, column.max() + 1),
    )
    sets.data[:] = 1.0  # a set: repeated shingles count once
    position = np.searchsorted(involved, pairs)
    left, right = sets[position[:, 0]], sets[position[:, 1]]
    common = np.asarray(left.multiply(right).sum(axis=1)).ravel()
    union = left.getnnz(axis=1) + right.getnnz(axis=1) - common
    return common / np.maximum(union, 1)


def _snippet(utf8: bytes) -> str:
    text = " ".join(utf8.decode().split())
    return text if len(text) <= SNIPPET else text[: SNIPPET - 1] + "…"


@dataclass
class NearDuplicates:
    """The sampled prompts' distinct texts and the near-duplicate groups among them:
    what depends on the texts alone (the costly part), so that it can run on the
    thread that fetched them."""

    texts: list[bytes]  # distinct, in the order they arrived
    text_of: np.ndarray  # per sampled row: its text's position in `texts`
    label: np.ndarray  # per text: its group (chained near-duplicates)
    comparable: np.ndarray  # per text: long enough to have a shingle
    pairs: int  # verified near-duplicate pairs that joined groups


def near_duplicates(sample: list[bytes], parameters: dict[str, Any]) -> NearDuplicates:
    """Group the sampled prompt texts (UTF-8) by near-duplication: MinHash LSH
    candidates, kept where the exact Jaccard of their word shingles reaches
    template_jaccard, chained."""
    k = parameters["shingle_words"]
    # Distinct, in the order they arrived; _content_order puts them in an order of
    # their own for LSH (sorting the texts themselves took half a second).
    texts = list(dict.fromkeys(sample))
    code = dict(zip(texts, range(len(texts)), strict=True))
    text_of = np.fromiter(map(code.__getitem__, sample), np.int64, len(sample))
    del code
    nothing = np.zeros(0, dtype=np.int64)
    if not texts:
        return NearDuplicates([], text_of, nothing, nothing.astype(bool), 0)
    hashes, owners = shingle(texts, k)
    present, signature = signatures(hashes, owners, parameters["minhash_permutations"])
    del hashes, owners
    order = _content_order(signature, present, texts)
    present, signature = present[order], signature[:, order]
    found = candidates(signature, parameters["lsh_bands"])
    pairs = present[found] if found.size else found
    similar = exact_jaccard(texts, pairs, k) >= parameters["template_jaccard"]
    linked = pairs[similar]
    graph = sparse.coo_matrix(
        (np.ones(len(linked)), (linked[:, 0], linked[:, 1])), shape=(len(texts),) * 2
    )
    _, label = csgraph.connected_components(graph, directed=False)
    comparable = np.zeros(len(texts), dtype=bool)
    comparable[present] = True
    # int64: a label times the account count would overflow int32.
    return NearDuplicates(
        texts, text_of, label.astype(np.int64), comparable, int(similar.sum())
    )


def templates(groups: NearDuplicates, accounts: np.ndarray, size: int) -> Templates:
    """The near-duplicate groups that more than one account sent, and per account
    how many of its distinct sampled prompts fall in one (see with_hashes for the
    rows logged without text). `accounts`: each sampled row's account."""
    texts, label, comparable = groups.texts, groups.label, groups.comparable
    if not texts:
        nothing = np.zeros(0, dtype=np.int64)
        empty = np.zeros(size, dtype=np.int64)
        return Templates(empty, empty.copy(), [], nothing, nothing, 0, 0)
    pair = np.unique(groups.text_of * size + accounts)
    pair_text, pair_account = pair // size, pair % size

    # Templates and the accounts that sent them; spread = accounts per template.
    keep = comparable[pair_text]
    template, owner = label[pair_text[keep]], pair_account[keep]
    distinct = np.unique(template * size + owner)
    spread = np.bincount(distinct // size, minlength=len(texts))
    matched_pair = spread[template] >= 2
    compared = np.bincount(owner, minlength=size)
    matched = np.bincount(owner[matched_pair], minlength=size)

    # Each shared template is shown by its alphabetically first prompt, and listed
    # in that order (component numbers depend on the order rows arrived in).
    shared_label = spread >= 2
    first: dict[int, bytes] = {}
    for t in np.flatnonzero(shared_label[label]).tolist():
        known = first.get(label[t])
        if known is None or texts[t] < known:
            first[label[t]] = texts[t]
    shared = np.array(sorted(first, key=first.__getitem__), dtype=np.int64)
    values = [_snippet(first[t]) for t in shared.tolist()]
    number = np.full(len(texts), -1)
    number[shared] = np.arange(shared.size)
    chosen = number[distinct // size] >= 0
    value_of = number[distinct // size][chosen]
    account_of = (distinct % size)[chosen]
    # By template, then account (groups are numbered in the order rows arrived).
    order = np.lexsort((account_of, value_of))
    value_of, account_of = value_of[order], account_of[order]

    return Templates(
        compared=compared,
        matched=matched,
        values=values,
        value_of=value_of.astype(np.int64),
        account_of=account_of.astype(np.int64),
        texts=len(texts),
        near_duplicate_pairs=groups.pairs,
    )


def with_hashes(
    found: Templates, hashed: tuple[np.ndarray, list[str], np.ndarray], size: int
) -> Templates:
    """Add the rows logged without text: their exact prompt hash is the template.
    `hashed`: (code per (account, hash) pair, the hashes sorted, account)."""
    compared, matched = found.compared.copy(), found.matched.copy()
    values = list(found.values)
    value_of, account_of = found.value_of, found.account_of
    code, names, digest_account = hashed
    if code.size:
        unique = np.unique(code * size + digest_account)
        by, who = unique // size, unique % size
        reach = np.bincount(by, minlength=len(names))
        compared += np.bincount(who, minlength=size)
        matched += np.bincount(who[reach[by] >= 2], minlength=size)
        common = np.flatnonzero(reach >= 2)
        offset = len(values)
        values += [f"sha256:{names[d]}" for d in common]
        renumber = np.full(len(names), -1)
        renumber[common] = np.arange(common.size) + offset
        keep_hash = renumber[by] >= 0
        value_of = np.concatenate((value_of, renumber[by][keep_hash]))
        account_of = np.concatenate((account_of, who[keep_hash]))
    return Templates(
        compared=compared,
        matched=matched,
        values=values,
        value_of=value_of.astype(np.int64),
        account_of=account_of.astype(np.int64),
        texts=found.texts,
        near_duplicate_pairs=found.near_duplicate_pairs,
    )
