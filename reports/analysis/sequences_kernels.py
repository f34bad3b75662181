"""Compiled kernels for sequence analysis (numba); the public API is in ``sequences.py``.

Sequences arrive here as C-contiguous ``int32`` arrays (n × T) of state codes 0..S-1 with
``-1`` for void months at the end, plus their lengths. Distance matrices are condensed
(scipy order: pairs (i, j), i < j, row by row). Every kernel is deterministic: parallel loops
write to disjoint slots and reductions over candidates run serially in index order.

Why the optimal-matching kernel computes ``LANES`` pairs at once: the dynamic programme of
one pair is a chain of dependent minima and does not vectorise, but the same cell of 32
different pairs does. Row ``x`` is fixed; the 32 ``y`` sequences of a chunk are the lanes.
Cell (a, b) of lane l only depends on x[:a] and y_l[:b], so lanes of different lengths share
one loop and each reads its answer at its own length.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

LANES = 32


@njit(cache=True, inline="always")
def _condensed_index(i: int, j: int, n: int) -> int:
    """Index of pair (i, j), i < j, in a condensed matrix of n items."""
    return n * i - (i * (i + 1)) // 2 + (j - i - 1)


@njit(cache=True)
def _pair_at(d: np.ndarray, i: int, j: int, n: int) -> float:
    if i == j:
        return 0.0
    if i < j:
        return d[n * i - (i * (i + 1)) // 2 + (j - i - 1)]
    return d[n * j - (j * (j + 1)) // 2 + (i - j - 1)]


# --- optimal matching --------------------------------------------------------------------


@njit(cache=True)
def _om_chunk(x, lx, ys, ylens, j0, nl, sm, indel, cost, buf, left, result):
    """OM distances between sequence ``x`` and ``ys[j0:j0+nl]`` into ``result[:nl]``."""
    n_states = sm.shape[0]
    length = ys.shape[1]
    for lane in range(LANES):
        jj = j0 + lane if lane < nl else j0
        for b in range(length):
            state = ys[jj, b]
            if state < 0:
                state = 0  # padding after the end; never read (see module docstring)
            for s in range(n_states):
                cost[s, b, lane] = sm[s, state]
    for b in range(length + 1):
        for lane in range(LANES):
            buf[0, b, lane] = b * indel
    for a in range(1, lx + 1):
        p = (a - 1) & 1
        q = a & 1
        xa = x[a - 1]
        start = a * indel
        for lane in range(LANES):
            left[lane] = start
            buf[q, 0, lane] = start
        for b in range(1, length + 1):
            for lane in range(LANES):
                sub = buf[p, b - 1, lane] + cost[xa, b - 1, lane]
                dele = buf[p, b, lane] + indel
                ins = left[lane] + indel
                best = min(sub, dele)
                best = min(best, ins)
                left[lane] = best
                buf[q, b, lane] = best
    last = lx & 1
    for lane in range(nl):
        result[lane] = buf[last, ylens[j0 + lane], lane]


@njit(parallel=True, cache=True)
def om_condensed(seqs, lengths, sm, indel):
    """Condensed OM distance matrix between all rows of ``seqs``."""
    n, length = seqs.shape
    n_states = sm.shape[0]
    total = 0
    for i in range(n):
        total += (n - 1 - i + LANES - 1) // LANES
    task_row = np.empty(total, np.int64)
    task_col = np.empty(total, np.int64)
    k = 0
    for i in range(n):
        for c in range((n - 1 - i + LANES - 1) // LANES):
            task_row[k] = i
            task_col[k] = i + 1 + c * LANES
            k += 1
    out = np.empty(n * (n - 1) // 2, np.float64)
    for t in prange(total):
        i = task_row[t]
        j0 = task_col[t]
        nl = min(LANES, n - j0)
        cost = np.empty((n_states, length, LANES), np.float64)
        buf = np.empty((2, length + 1, LANES), np.float64)
        left = np.empty(LANES, np.float64)
        result = np.empty(LANES, np.float64)
        _om_chunk(seqs[i], lengths[i], seqs, lengths, j0, nl, sm, indel, cost, buf, left, result)
        base = _condensed_index(i, j0, n)
        for lane in range(nl):
            out[base + lane] = result[lane]
    return out


@njit(parallel=True, cache=True)
def om_cross(xs, xlens, ys, ylens, sm, indel):
    """OM distances between every row of ``xs`` and every row of ``ys`` (len(xs) × len(ys))."""
    nx = xs.shape[0]
    ny, length = ys.shape
    n_states = sm.shape[0]
    chunks = (ny + LANES - 1) // LANES
    out = np.empty((nx, ny), np.float64)
    for t in prange(nx * chunks):
        i = t // chunks
        j0 = (t % chunks) * LANES
        nl = min(LANES, ny - j0)
        cost = np.empty((n_states, length, LANES), np.float64)
        buf = np.empty((2, length + 1, LANES), np.float64)
        left = np.empty(LANES, np.float64)
        result = np.empty(LANES, np.float64)
        _om_chunk(xs[i], xlens[i], ys, ylens, j0, nl, sm, indel, cost, buf, left, result)
        for lane in range(nl):
            out[i, j0 + lane] = result[lane]
    return out


# --- longest common subsequence (bit-parallel) -------------------------------------------


@njit(cache=True)
def lcs_masks(seqs, lengths, n_states):
    """Per sequence and state, the bit mask of the positions holding that state."""
    n, length = seqs.shape
    words = (length + 63) // 64
    masks = np.zeros((n, n_states, words), np.uint64)
    one = np.uint64(1)
    for i in range(n):
        for t in range(lengths[i]):
            w = t // 64
            masks[i, seqs[i, t], w] |= one << np.uint64(t % 64)
    return masks


@njit(cache=True, inline="always")
def _popcount(x):
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)


@njit(cache=True)
def _lcs_length(masks_x, lx, y, ly, v):
    """Length of the LCS of x (given by its masks) and y (Hyyrö's bit-vector algorithm).

    V starts all ones; for each symbol of y, U = V & match(y_b), V = (V + U) | (V − U) with
    the addition carried across words (V − U has no borrow since U ⊆ V). The LCS length is
    the number of zero bits among the first |x| bits of V.
    """
    words = (lx + 63) // 64
    if words == 0 or ly == 0:
        return 0
    full = ~np.uint64(0)
    for w in range(words):
        v[w] = full
    for b in range(ly):
        carry = np.uint64(0)
        row = masks_x[y[b]]
        for w in range(words):
            vw = v[w]
            u = vw & row[w]
            total = vw + u
            c1 = np.uint64(1) if total < vw else np.uint64(0)
            total2 = total + carry
            c2 = np.uint64(1) if total2 < total else np.uint64(0)
            carry = c1 | c2
            v[w] = total2 | (vw - u)
    zeros = 0
    for w in range(words):
        valid = lx - 64 * w
        word = ~v[w]
        if valid < 64:
            word &= (np.uint64(1) << np.uint64(valid)) - np.uint64(1)
        zeros += _popcount(word)
    return zeros


@njit(cache=True)
def _lcs_row(i, seqs, lengths, masks, v, out):
    n = seqs.shape[0]
    base = _condensed_index(i, i + 1, n)
    for j in range(i + 1, n):
        out[base + j - i - 1] = _lcs_length(masks[i], lengths[i], seqs[j], lengths[j], v)


@njit(parallel=True, cache=True)
def lcs_condensed(seqs, lengths, masks):
    """Condensed matrix of LCS lengths between all rows of ``seqs``.

    Rows are processed in pairs (r, n − 2 − r), so that every iteration has about n pairs and
    the threads of the static schedule get equal work.
    """
    n = seqs.shape[0]
    words = masks.shape[2]
    out = np.empty(max(n * (n - 1) // 2, 0), np.int32)
    rows = n - 1
    for r in prange((rows + 1) // 2):
        v = np.empty(words, np.uint64)
        _lcs_row(r, seqs, lengths, masks, v, out)
        other = rows - 1 - r
        if other != r:
            _lcs_row(other, seqs, lengths, masks, v, out)
    return out


@njit(parallel=True, cache=True)
def lcs_cross(xmasks, xlens, ys, ylens):
    nx = xmasks.shape[0]
    ny = ys.shape[0]
    words = xmasks.shape[2]
    out = np.empty((nx, ny), np.int32)
    for i in prange(nx):
        v = np.empty(words, np.uint64)
        for j in range(ny):
            out[i, j] = _lcs_length(xmasks[i], xlens[i], ys[j], ylens[j], v)
    return out


# --- Hamming and longest common prefix ---------------------------------------------------


@njit(parallel=True, cache=True)
def hamming_condensed(seqs, lengths, sm):
    n = seqs.shape[0]
    out = np.empty(n * (n - 1) // 2, np.float64)
    for i in prange(n):
        for j in range(i + 1, n):
            total = 0.0
            for t in range(lengths[i]):
                total += sm[seqs[i, t], seqs[j, t]]
            out[_condensed_index(i, j, n)] = total
    return out


@njit(parallel=True, cache=True)
def lcp_condensed(seqs, lengths):
    n = seqs.shape[0]
    out = np.empty(n * (n - 1) // 2, np.float64)
    for i in prange(n):
        for j in range(i + 1, n):
            limit = min(lengths[i], lengths[j])
            prefix = 0
            while prefix < limit and seqs[i, prefix] == seqs[j, prefix]:
                prefix += 1
            out[_condensed_index(i, j, n)] = lengths[i] + lengths[j] - 2 * prefix
    return out


# --- Ward clustering (weighted, nearest-neighbour chain) ---------------------------------


@njit(cache=True)
def ward_nn_chain(d, weights):
    """Ward merges of n items with initial sizes ``weights``; ``d`` is overwritten.

    Returns (a, b, height) per merge in the order found. The Lance–Williams update of Ward is
    applied to ``d`` as given: pass dissimilarities for ward.D and squared ones for ward.D2
    (then take the square root of the heights). Ward is reducible for any dissimilarity, so the
    nearest-neighbour chain finds the same hierarchy as the greedy algorithm (ties aside).
    """
    n = weights.shape[0]
    # An item of weight w stands for w identical observations, i.e. a cluster formed at
    # height 0; Ward's dissimilarity between two such clusters is 2·w_a·w_b/(w_a + w_b)
    # times that of their members (R's hclust with ``members`` expects exactly this).
    for i in range(n):
        for j in range(i + 1, n):
            wi = weights[i]
            wj = weights[j]
            d[_condensed_index(i, j, n)] *= 2.0 * wi * wj / (wi + wj)
    size = weights.copy()
    active = np.ones(n, np.bool_)
    chain = np.empty(n, np.int64)
    merge_a = np.empty(n - 1, np.int64)
    merge_b = np.empty(n - 1, np.int64)
    height = np.empty(n - 1, np.float64)
    chain_len = 0
    first = 0
    for step in range(n - 1):
        if chain_len == 0:
            while not active[first]:
                first += 1
            chain[0] = first
            chain_len = 1
        while True:
            a = chain[chain_len - 1]
            if chain_len >= 2:
                b = chain[chain_len - 2]
                best = _pair_at(d, a, b, n)
            else:
                b = -1
                best = np.inf
            for k in range(n):
                if active[k] and k != a:
                    dk = _pair_at(d, a, k, n)
                    if dk < best:
                        best = dk
                        b = k
            if chain_len >= 2 and b == chain[chain_len - 2]:
                break
            chain[chain_len] = b
            chain_len += 1
        chain_len -= 2
        lo = min(a, b)
        hi = max(a, b)
        merge_a[step] = lo
        merge_b[step] = hi
        height[step] = best
        sa = size[lo]
        sb = size[hi]
        for k in range(n):
            if active[k] and k != lo and k != hi:
                sk = size[k]
                dak = _pair_at(d, lo, k, n)
                dbk = _pair_at(d, hi, k, n)
                new = ((sa + sk) * dak + (sb + sk) * dbk - sk * best) / (sa + sb + sk)
                if lo < k:
                    d[_condensed_index(lo, k, n)] = new
                else:
                    d[_condensed_index(k, lo, n)] = new
        active[hi] = False
        size[lo] = sa + sb
    return merge_a, merge_b, height


# --- PAM (k-medoids, BUILD + SWAP), weighted ----------------------------------------------


@njit(cache=True)
def _nearest(d, n, medoids, weights):
    k = medoids.shape[0]
    near = np.empty(n, np.int64)
    dnear = np.empty(n, np.float64)
    dsecond = np.empty(n, np.float64)
    cost = 0.0
    for j in range(n):
        best = np.inf
        second = np.inf
        slot = -1
        for m in range(k):
            dj = _pair_at(d, j, medoids[m], n)
            if dj < best:
                second = best
                best = dj
                slot = m
            elif dj < second:
                second = dj
        near[j] = slot
        dnear[j] = best
        dsecond[j] = second
        cost += weights[j] * best
    return near, dnear, dsecond, cost


@njit(parallel=True, cache=True)
def pam_build(d, weights, k):
    """BUILD: the first medoid minimises the weighted distance sum, each next one gains most."""
    n = weights.shape[0]
    medoids = np.empty(k, np.int64)
    is_medoid = np.zeros(n, np.bool_)
    score = np.empty(n, np.float64)
    for i in prange(n):
        total = 0.0
        for j in range(n):
            total += weights[j] * _pair_at(d, i, j, n)
        score[i] = total
    medoids[0] = np.argmin(score)
    is_medoid[medoids[0]] = True
    dnear = np.empty(n, np.float64)
    for j in range(n):
        dnear[j] = _pair_at(d, j, medoids[0], n)
    for m in range(1, k):
        for i in prange(n):
            gain = 0.0
            if not is_medoid[i]:
                for j in range(n):
                    diff = dnear[j] - _pair_at(d, i, j, n)
                    if diff > 0:
                        gain += weights[j] * diff
            score[i] = gain if not is_medoid[i] else -1.0
        best = -1
        best_gain = -1.0
        for i in range(n):
            if not is_medoid[i] and score[i] > best_gain:
                best_gain = score[i]
                best = i
        medoids[m] = best
        is_medoid[best] = True
        for j in range(n):
            dj = _pair_at(d, j, best, n)
            if dj < dnear[j]:
                dnear[j] = dj
    return medoids


@njit(parallel=True, cache=True)
def pam_swap(d, weights, medoids, max_iter):
    """SWAP: apply the best (medoid, non-medoid) exchange while it lowers the total cost.

    The change of every exchange is computed exactly as in classic PAM, k of them per
    candidate in one pass over the items (Schubert & Rousseeuw's FastPAM1 bookkeeping).
    """
    n = weights.shape[0]
    k = medoids.shape[0]
    medoids = medoids.copy()
    is_medoid = np.zeros(n, np.bool_)
    for m in range(k):
        is_medoid[medoids[m]] = True
    near, dnear, dsecond, cost = _nearest(d, n, medoids, weights)
    iterations = 0
    delta = np.empty((n, k), np.float64)
    for _ in range(max_iter):
        for h in prange(n):
            for m in range(k):
                delta[h, m] = 0.0
            if is_medoid[h]:
                continue
            common = 0.0
            for j in range(n):
                dj = _pair_at(d, j, h, n)
                wj = weights[j]
                own = min(dj, dsecond[j]) - dnear[j]
                other = min(dj, dnear[j]) - dnear[j]
                common += wj * other
                delta[h, near[j]] += wj * (own - other)
            for m in range(k):
                delta[h, m] += common
        best = 0.0
        best_h = -1
        best_m = -1
        for h in range(n):
            if is_medoid[h]:
                continue
            for m in range(k):
                if delta[h, m] < best:
                    best = delta[h, m]
                    best_h = h
                    best_m = m
        # Stop unless the improvement is larger than rounding noise in the sums.
        if best_h < 0 or best >= -1e-10 * max(abs(cost), 1.0):
            break
        is_medoid[medoids[best_m]] = False
        medoids[best_m] = best_h
        is_medoid[best_h] = True
        near, dnear, dsecond, cost = _nearest(d, n, medoids, weights)
        iterations += 1
    return medoids, near, cost, iterations


@njit(parallel=True, cache=True)
def cluster_medoids(d, labels, weights, k):
    """Per cluster, the member with the smallest weighted distance sum to the other members;
    the lowest index wins a tie (as numpy's argmin). Sums run in index order."""
    n = labels.shape[0]
    totals = np.empty(n, np.float64)
    for i in prange(n):
        own = labels[i]
        total = 0.0
        for j in range(n):
            if labels[j] == own:
                total += weights[j] * _pair_at(d, i, j, n)
        totals[i] = total
    out = np.full(k, -1, np.int64)
    best = np.full(k, np.inf)
    for i in range(n):
        c = labels[i]
        if out[c] < 0 or totals[i] < best[c]:
            best[c] = totals[i]
            out[c] = i
    return out


# --- silhouette (weighted, as WeightedCluster) --------------------------------------------


@njit(parallel=True, cache=True)
def silhouette(d, labels, weights, k):
    """Per-item silhouette widths s_i with weighted averages (WeightedCluster ASW).

    a_i = Σ_{j in own cluster, j≠i} w_j d_ij / (W_own − 1); b_i = min over other clusters c of
    Σ_{j in c} w_j d_ij / W_c. With duplicate counts as weights this is exactly the silhouette
    of the expanded data (a duplicate of i is at distance 0 and counts in W_own − 1).
    """
    n = labels.shape[0]
    sizes = np.zeros(k, np.float64)
    for j in range(n):
        sizes[labels[j]] += weights[j]
    out = np.empty(n, np.float64)
    for i in prange(n):
        sums = np.zeros(k, np.float64)
        for j in range(n):
            if j != i:
                sums[labels[j]] += weights[j] * _pair_at(d, i, j, n)
        own = labels[i]
        a = 0.0 if sizes[own] <= 1.0 else sums[own] / (sizes[own] - 1.0)
        b = np.inf
        for c in range(k):
            if c != own and sizes[c] > 0:
                avg = sums[c] / sizes[c]
                if avg < b:
                    b = avg
        if b == np.inf:
            out[i] = np.nan
        else:
            top = max(a, b)
            out[i] = 0.0 if top == 0.0 else (b - a) / top
    return out
