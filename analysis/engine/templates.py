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

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

CHUNK_BYTES = 4 * 1024 * 1024  # of text shingled at once: about 64 MiB of arrays
_WORD_BASE = np.uint64(0x100000001B3)
_WORD_BASE_INVERSE = np.uint64(pow(0x100000001B3, -1, 2**64))
_SHINGLE_BASE = np.uint64(0x9E3779B97F4A7C15)
_SEPARATORS = np.zeros(256, dtype=bool)
_SEPARATORS[[0, 9, 10, 11, 12, 13, 32]] = True
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
    return x ^ (x >> np.uint64(31))


def shingle(texts: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
    """(shingle hashes, index of their text), texts in order, for all `texts`."""
    hashes, owners = [], []
    begin = 0
    while begin < len(texts):
        end, size = begin, 0
        while end < len(texts) and (size < CHUNK_BYTES or end == begin):
            size += len(texts[end]) + 1
            end += 1
        h, o = _shingle_chunk(texts[begin:end], k)
        hashes.append(h)
        owners.append(o + begin)
        begin = end
    if not hashes:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    return np.concatenate(hashes), np.concatenate(owners)


_POWERS: list[np.ndarray] = []


def _powers(size: int) -> tuple[np.ndarray, np.ndarray]:
    """C^j and C^-j mod 2^64 for j < size; kept, as every chunk needs the same ones."""
    if not _POWERS or _POWERS[0].size < size:
        length = max(size, CHUNK_BYTES + 512 * 1024)  # a chunk's last text runs over
        with np.errstate(over="ignore"):
            power = np.full(length, _WORD_BASE, dtype=np.uint64)
            back = np.full(length, _WORD_BASE_INVERSE, dtype=np.uint64)
            power[0] = back[0] = 1
            _POWERS[:] = [np.cumprod(power), np.cumprod(back)]
    return _POWERS[0][:size], _POWERS[1][:size]


def _shingle_chunk(texts: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
    data = np.frombuffer(("\x00".join(texts) + "\x00").encode(), dtype=np.uint8)
    data = np.where((data >= 65) & (data <= 90), data + 32, data)  # ASCII lower case
    separator = _SEPARATORS[data]
    starts = np.flatnonzero(~separator & np.concatenate(([True], separator[:-1])))
    ends = np.flatnonzero(~separator & np.concatenate((separator[1:], [True]))) + 1
    # A word's hash is sum(byte[j] * C^(j - start)) over its bytes: differences of
    # one prefix sum of byte[j] * C^j, shifted back by C^-start (C is odd, so it has
    # an inverse mod 2^64). All arithmetic wraps mod 2^64 on purpose.
    power, back = _powers(data.size)
    with np.errstate(over="ignore"):
        prefix = np.zeros(data.size + 1, dtype=np.uint64)
        np.cumsum((data.astype(np.uint64) + np.uint64(1)) * power, out=prefix[1:])
        words = _mix((prefix[ends] - prefix[starts]) * back[starts])
    owner = np.searchsorted(np.flatnonzero(data == 0), starts)  # the word's text
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
    compact = np.repeat(np.arange(texts), np.diff(np.append(first, owners.size)))
    with np.errstate(over="ignore"):
        bins = (
            ((hashes >> np.uint64(32)) * np.uint64(length)) >> np.uint64(32)
        ).astype(np.int64)
    values = (hashes & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    empty_value = np.iinfo(np.uint32).max
    table = np.full(texts * length, empty_value, dtype=np.uint32)
    np.minimum.at(table, compact * length + bins, values)
    table = table.reshape(texts, length)
    # Rotation: for each bin, the nearest non-empty bin at or after it, circularly.
    position = np.arange(length, dtype=np.int16)
    filled = np.where(table != empty_value, position, np.int16(2 * length))
    ahead = np.concatenate((filled, filled + np.int16(length)), axis=1)
    ahead = np.minimum.accumulate(ahead[:, ::-1], axis=1)[:, ::-1][:, :length]
    source = table[np.arange(texts)[:, None], ahead % length]
    with np.errstate(over="ignore"):
        shift = (ahead - position).astype(np.uint32) * np.uint32(0x9E3779B1)
        table = source + shift
    return present, np.ascontiguousarray(table.T)


def _fingerprint(signature: np.ndarray) -> np.ndarray:
    """One uint64 per column from its first rows: equal only for (near) equal texts."""
    key = np.zeros(signature.shape[1], dtype=np.uint64)
    with np.errstate(over="ignore"):
        for row in signature[:4]:
            key = _mix(key * _SHINGLE_BASE + row.astype(np.uint64))
    return key


def candidates(signature: np.ndarray, bands: int) -> np.ndarray:
    """Pairs (i, j) of signature columns that agree on all rows of some band; each
    column is paired with the first column of its bucket, not all others (which
    would be quadratic in a bucket's size); chaining recovers the rest."""
    rows = signature.shape[0] // bands
    found = []
    index = np.arange(signature.shape[1])
    for band in range(bands):
        block = signature[band * rows : (band + 1) * rows].astype(np.uint64)
        key = np.zeros(signature.shape[1], dtype=np.uint64)
        with np.errstate(over="ignore"):
            for row in block:
                key = _mix(key * _SHINGLE_BASE + row)
        _, bucket = np.unique(key, return_inverse=True)
        first = np.full(bucket.max() + 1 if bucket.size else 0, index.size)
        np.minimum.at(first, bucket, index)
        leader = first[bucket]
        keep = leader != index
        found.append(np.stack((index[keep], leader[keep]), axis=1))
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = np.concatenate(found)
    return np.unique(pairs, axis=0) if pairs.size else pairs.reshape(0, 2)


def exact_jaccard(texts: list[str], pairs: np.ndarray, k: int) -> np.ndarray:
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


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SNIPPET else text[: SNIPPET - 1] + "…"


def templates(
    sampled: tuple[np.ndarray, list[str]], size: int, parameters: dict
) -> Templates:
    """Templates among the sampled prompt texts (see with_hashes for the rest)."""
    k = parameters["shingle_words"]
    accounts, sample = sampled
    texts = list(dict.fromkeys(sample))
    if not texts:
        nothing = np.zeros(0, dtype=np.int64)
        empty = np.zeros(size, dtype=np.int64)
        return Templates(empty, empty.copy(), [], nothing, nothing, 0, 0)
    code = {text: i for i, text in enumerate(texts)}
    text_of = np.fromiter((code[t] for t in sample), dtype=np.int64, count=len(sample))
    pair = np.unique(text_of * size + accounts)
    pair_text, pair_account = pair // size, pair % size

    hashes, owners = shingle(texts, k)
    present, signature = signatures(hashes, owners, parameters["minhash_permutations"])
    del hashes, owners
    # Rows arrive in any order (parallel scans); put texts in an order of their own
    # content, so LSH picks the same bucket leaders every time.
    order = np.argsort(_fingerprint(signature), kind="stable")
    present, signature = present[order], signature[:, order]
    found = candidates(signature, parameters["lsh_bands"])
    pairs = present[found] if found.size else found
    similar = exact_jaccard(texts, pairs, k) >= parameters["template_jaccard"]
    linked = pairs[similar]
    graph = sparse.coo_matrix(
        (np.ones(len(linked)), (linked[:, 0], linked[:, 1])), shape=(len(texts),) * 2
    )
    _, label = csgraph.connected_components(graph, directed=False)
    label = label.astype(np.int64)  # int32 times the account count would overflow
    comparable = np.zeros(len(texts), dtype=bool)
    comparable[present] = True

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
    first: dict[int, str] = {}
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

    return Templates(
        compared=compared,
        matched=matched,
        values=values,
        value_of=value_of.astype(np.int64),
        account_of=account_of.astype(np.int64),
        texts=len(texts),
        near_duplicate_pairs=int(similar.sum()),
    )


def with_hashes(
    found: Templates, hashed: tuple[list[str], np.ndarray], size: int
) -> Templates:
    """Add the rows logged without text: their exact prompt hash is the template."""
    compared, matched = found.compared.copy(), found.matched.copy()
    values = list(found.values)
    value_of, account_of = found.value_of, found.account_of
    digests, digest_account = hashed
    present_hash = np.array([bool(d) for d in digests], dtype=bool)
    if present_hash.any():
        names = sorted({d for d in digests if d})
        index = {d: i for i, d in enumerate(names)}
        digest = np.fromiter(
            (index[d] for d in digests if d),
            dtype=np.int64,
            count=int(present_hash.sum()),
        )
        unique = np.unique(digest * size + digest_account[present_hash])
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
