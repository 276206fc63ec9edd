"""Compiled loops of the text edge-list format: formatting and scanning.

::

    save_edgelist                            load_edgelist
      _write_edge_lines, per 16 MiB chunk:     |  _first_invalid_utf8,
      _format_edge_lines -> _write_node,       |  _count_lines
                            _write_weight      v
                              (shortest      _scan_edge_list: one pass over
                              float32 text)    the bytes; per line
                                               _split_fields, _parse_node_id,
                                               _weight_status, _quick_decimal
                                                 |
                                                 v
                                             _label_ids (labelled files: a
                                               hash table numbers labels),
                                             _gather_tokens (weights left to
                                               numpy)

The Python around these loops, and the messages for the status codes the
scan returns, are in ``edgelist.py``. Every kernel is compiled on first use
and cached on disk.
"""

import math

import numba as nb
import numpy as np

from ..graph import MAX_NODES

# -- formatting ---------------------------------------------------------------

_POW10_BIAS = 64
#: 10**k as the nearest float64, for k in [-64, 64]; exact for |k| <= 22.
_POW10 = np.array([float(f"1e{k}") for k in range(-_POW10_BIAS, _POW10_BIAS + 1)])
_INT_POW10 = np.array([10**k for k in range(19)], np.int64)
#: 10**22 is the largest power of ten that is exact in float64.
_EXACT_POW10_MAX = 22


@nb.njit(cache=True, nogil=True)
def _format_edge_lines(
    indptr,
    indices,
    weights,
    first_row,
    first_edge,
    last_edge,
    label_bytes,
    label_offsets,
    out,
):
    """Write edges ``first_edge .. last_edge - 1`` as text lines into ``out``.

    Returns the number of bytes written. Nodes are labels when
    ``label_offsets`` is not empty, else decimal ids.
    """
    labelled = label_offsets.shape[0] > 0
    u = first_row
    pos = 0
    for e in range(first_edge, last_edge):
        while indptr[u + 1] <= e:
            u += 1
        pos = _write_node(u, labelled, label_bytes, label_offsets, out, pos)
        out[pos] = 32
        pos = _write_node(
            indices[e], labelled, label_bytes, label_offsets, out, pos + 1
        )
        out[pos] = 32
        pos = _write_weight(weights[e], out, pos + 1)
        out[pos] = 10
        pos += 1
    return pos


@nb.njit(cache=True, nogil=True)
def _write_node(node, labelled, label_bytes, label_offsets, out, pos):
    if not labelled:
        return _write_digits(np.int64(node), _count_digits(np.int64(node)), out, pos)
    for q in range(label_offsets[node], label_offsets[node + 1]):
        out[pos] = label_bytes[q]
        pos += 1
    return pos


@nb.njit(cache=True, nogil=True)
def _count_digits(value):
    digits = 1
    while value >= 10:
        value //= 10
        digits += 1
    return digits


@nb.njit(cache=True, nogil=True)
def _write_digits(value, digits, out, pos):
    """Write the ``digits`` lowest decimal digits of ``value``, zero-padded."""
    for i in range(digits - 1, -1, -1):
        out[pos + i] = 48 + value % 10
        value //= 10
    return pos + digits


@nb.njit(cache=True, nogil=True)
def _write_weight(weight, out, pos):
    """Write a float32 with the fewest digits that parse back to it.

    A candidate of ``p`` significant digits, ``m * 10**t``, is accepted when
    the float64 nearest to it rounds to ``weight`` in float32, which is
    exactly what the loader computes (decimal to float64, correctly rounded,
    then to float32). With ``|t| <= 22`` both ``m`` and ``10**t`` are exact
    in float64, so one multiplication or division gives that nearest
    float64 and the test is exact. Nine digits always round-trip a float32
    (even off by one in the last digit, the text stays within a quarter of
    a float32 step), so when no shorter candidate can be tested exactly,
    nine are written. A negative weight (of a signed graph, or -0.0) is
    written as ``-`` and its magnitude.
    """
    x = np.float64(weight)
    if x < 0.0 or (x == 0.0 and math.copysign(1.0, x) < 0.0):
        out[pos] = 45  # "-"
        pos += 1
        x = -x
    # Candidates are tested against the magnitude: negation is exact.
    magnitude = np.float32(x)
    if x == 0.0:
        out[pos] = 48
        return pos + 1

    # Decimal exponent k with x = d.ddd... * 10**k; log10 can be off by one.
    k = int(math.floor(math.log10(x)))
    for _ in range(3):
        scaled = math.floor(x * _POW10[8 - k + _POW10_BIAS] + 0.5)
        if scaled < 1e8:
            k -= 1
        elif scaled > 1e9:
            k += 1
        else:
            break

    digits = 9
    mantissa = np.int64(0)
    exponent = k
    for p in range(1, 10):
        m = np.int64(math.floor(x * _POW10[p - 1 - k + _POW10_BIAS] + 0.5))
        e = k
        if m >= _INT_POW10[p]:  # rounding carried into a new digit
            m //= 10
            e = k + 1
        if p == 9:
            digits, mantissa, exponent = p, m, e
            break
        t = e - p + 1
        if -_EXACT_POW10_MAX <= t <= _EXACT_POW10_MAX:
            if t >= 0:
                nearest = np.float64(m) * _POW10[t + _POW10_BIAS]
            else:
                nearest = np.float64(m) / _POW10[-t + _POW10_BIAS]
            if np.float32(nearest) == magnitude:
                digits, mantissa, exponent = p, m, e
                break
    while digits > 1 and mantissa % 10 == 0:
        mantissa //= 10
        digits -= 1
    return _write_decimal(mantissa, digits, exponent, out, pos)


@nb.njit(cache=True, nogil=True)
def _write_decimal(mantissa, digits, exponent, out, pos):
    """Write ``d.ddd * 10**exponent`` the way Python's ``repr`` lays it out."""
    if 0 <= exponent < 16:
        whole = exponent + 1
        if digits <= whole:
            pos = _write_digits(mantissa, digits, out, pos)
            for _ in range(whole - digits):
                out[pos] = 48
                pos += 1
            return pos
        pos = _write_digits(mantissa // _INT_POW10[digits - whole], whole, out, pos)
        out[pos] = 46
        return _write_digits(mantissa, digits - whole, out, pos + 1)
    if -4 <= exponent < 0:
        out[pos] = 48
        out[pos + 1] = 46
        pos += 2
        for _ in range(-exponent - 1):
            out[pos] = 48
            pos += 1
        return _write_digits(mantissa, digits, out, pos)
    pos = _write_digits(mantissa // _INT_POW10[digits - 1], 1, out, pos)
    if digits > 1:
        out[pos] = 46
        pos = _write_digits(mantissa, digits - 1, out, pos + 1)
    out[pos] = 101  # "e"
    out[pos + 1] = 45 if exponent < 0 else 43
    magnitude = np.int64(abs(exponent))
    return _write_digits(magnitude, max(2, _count_digits(magnitude)), out, pos + 2)


# -- scanning -----------------------------------------------------------------

#: A weight token longer than this is refused rather than gathered: it bounds
#: the fixed-width buffer the weights are converted through.
_MAX_WEIGHT_CHARS = 256

# Outcomes of the scan, in the order the message table of
# ``edgelist._EdgeScan._raise`` follows.
_SCAN_OK = 0
_SCAN_LABELLED = 1  # a node field is a label: scan again in labelled mode
_E_TOO_FEW = 2
_E_TOO_MANY = 3
_E_EMPTY_FIELD = 4
_E_NEGATIVE_ID = 5
_E_SIGNED_ID = 6
_E_ID_TOO_LARGE = 7
_E_BAD_WEIGHT = 8
_E_WEIGHT_NAN = 9
_E_WEIGHT_INF = 10
_E_WEIGHT_TOO_LONG = 11
_E_BAD_NODE_COUNT = 12
_E_NODE_COUNT_CONFLICT = 13
_E_BAD_DECLARATION = 14
_E_NEGATIVE_WEIGHT = 15
_E_WEIGHT_OVERFLOW = 16

# Field numbers the scan reports; names as in the messages.
_FIELD_NAMES = ("src", "dst", "weight", "nodes", "node")
_FIELD_NODES = 3
_FIELD_NODE = 4

# What _parse_node_id makes of a node field besides an error status.
_ID_OK = 0
_ID_LABEL = -1


def _ascii(word):
    return np.frombuffer(word.encode("ascii"), np.uint8).copy()


_NODES_DIRECTIVE = _ascii("# nodes:")
_NODE_DIRECTIVE = _ascii("# node:")
_NAN_WORD = _ascii("nan")
_INF_WORD = _ascii("inf")
_INFINITY_WORD = _ascii("infinity")


@nb.njit(cache=True, nogil=True)
def _first_invalid_utf8(text, start):
    """Offset of the first byte that breaks UTF-8, or -1 when all is well.

    Refuses overlong forms, surrogates and code points above U+10FFFF, as
    Python's strict decoder does.
    """
    n = text.shape[0]
    p = start
    while p < n:
        lead = text[p]
        if lead < 0x80:
            p += 1
            continue
        if lead < 0xC2:
            return p
        if lead < 0xE0:
            follow, low, high = 1, 0x80, 0xBF
        elif lead < 0xF0:
            follow = 2
            low = 0xA0 if lead == 0xE0 else 0x80
            high = 0x9F if lead == 0xED else 0xBF
        elif lead < 0xF5:
            follow = 3
            low = 0x90 if lead == 0xF0 else 0x80
            high = 0x8F if lead == 0xF4 else 0xBF
        else:
            return p
        if p + follow >= n or text[p + 1] < low or text[p + 1] > high:
            return p
        for q in range(p + 2, p + follow + 1):
            if text[q] & 0xC0 != 0x80:
                return p
        p += follow + 1
    return -1


@nb.njit(cache=True, nogil=True)
def _count_lines(text):
    count = 1
    for p in range(text.shape[0]):
        if text[p] == 10:
            count += 1
    return count


@nb.njit(cache=True, nogil=True)
def _is_blank(byte):
    """Space, tab, vertical tab, form feed or carriage return."""
    return byte == 32 or byte == 9 or byte == 11 or byte == 12 or byte == 13


@nb.njit(cache=True, nogil=True)
def _split_fields(text, lo, hi, delimiter, spans):
    """Split ``text[lo:hi]`` (one line, comment cut off) into fields.

    Stores the first four fields' ``[start, end)`` in ``spans`` and returns
    how many fields there are: 0 for a blank line, ``-(i + 1)`` when field
    ``i`` is empty (two delimiters in a row, or one at either end).
    """
    count = 0
    if delimiter < 0:
        p = lo
        while p < hi and _is_blank(text[p]):
            p += 1
        if p == hi:
            return 0
        while True:
            if text[p] == 44:
                return -(count + 1)
            s = p
            while p < hi and not _is_blank(text[p]) and text[p] != 44:
                p += 1
            if count < 4:
                spans[count, 0] = s
                spans[count, 1] = p
            count += 1
            while p < hi and _is_blank(text[p]):
                p += 1
            if p == hi:
                return count
            if text[p] == 44:
                p += 1
                while p < hi and _is_blank(text[p]):
                    p += 1
                if p == hi:
                    return -(count + 1)

    p = lo
    while p < hi and _is_blank(text[p]):
        p += 1
    if p == hi:
        return 0
    p = lo
    while True:
        e = p
        while e < hi and text[e] != delimiter:
            e += 1
        s, t = p, e
        while s < t and _is_blank(text[s]) and text[s] != delimiter:
            s += 1
        while t > s and _is_blank(text[t - 1]) and text[t - 1] != delimiter:
            t -= 1
        if s == t:
            return -(count + 1)
        if count < 4:
            spans[count, 0] = s
            spans[count, 1] = t
        count += 1
        if e == hi:
            return count
        p = e + 1


@nb.njit(cache=True, nogil=True)
def _parse_node_id(text, s, e):
    """Read a node field as an id: ``(_ID_OK, id)``, ``(_ID_LABEL, 0)`` when
    it is not a number, or ``(error status, 0)`` for a number that is not a
    valid id (signed, or too large)."""
    p = s
    sign = 0
    if text[p] == 45 or text[p] == 43:
        sign = text[p]
        p += 1
    if p == e:
        return _ID_LABEL, 0
    value = 0
    large = False
    for q in range(p, e):
        digit = text[q] - 48
        if digit < 0 or digit > 9:
            return _ID_LABEL, 0
        if not large:
            value = value * 10 + digit
            large = value >= MAX_NODES
    if sign == 45:
        return _E_NEGATIVE_ID, 0
    if sign == 43:
        return _E_SIGNED_ID, 0
    if large:
        return _E_ID_TOO_LARGE, 0
    return _ID_OK, value


@nb.njit(cache=True, nogil=True)
def _parse_count(text, s, e):
    """A plain decimal integer from 0 to MAX_NODES, or -1."""
    if s == e:
        return -1
    value = 0
    for q in range(s, e):
        digit = text[q] - 48
        if digit < 0 or digit > 9:
            return -1
        value = value * 10 + digit
        if value > MAX_NODES:
            return -1
    return value


@nb.njit(cache=True, nogil=True)
def _is_word(text, s, e, word):
    """Whether ``text[s:e]`` spells the lower-case ASCII ``word``, any case."""
    if e - s != word.shape[0]:
        return False
    for i in range(e - s):
        if text[s + i] | 0x20 != word[i]:
            return False
    return True


@nb.njit(cache=True, nogil=True)
def _weight_status(text, s, e):
    """``_SCAN_OK`` for a decimal number, else the error status.

    Accepts ``[+-](digits[.digits] | .digits)[(e|E)[+-]digits]``, a part of
    what numpy's float parsing reads, so that the conversion cannot fail.
    """
    if e - s > _MAX_WEIGHT_CHARS:
        return _E_WEIGHT_TOO_LONG
    p = s
    if text[p] == 43 or text[p] == 45:
        p += 1
    if _is_word(text, p, e, _NAN_WORD):
        return _E_WEIGHT_NAN
    if _is_word(text, p, e, _INF_WORD) or _is_word(text, p, e, _INFINITY_WORD):
        return _E_WEIGHT_INF
    digits = 0
    while p < e and 48 <= text[p] <= 57:
        p += 1
        digits += 1
    if p < e and text[p] == 46:
        p += 1
        while p < e and 48 <= text[p] <= 57:
            p += 1
            digits += 1
    if digits == 0:
        return _E_BAD_WEIGHT
    if p < e and (text[p] == 101 or text[p] == 69):
        p += 1
        if p < e and (text[p] == 43 or text[p] == 45):
            p += 1
        exponent_digits = 0
        while p < e and 48 <= text[p] <= 57:
            p += 1
            exponent_digits += 1
        if exponent_digits == 0:
            return _E_BAD_WEIGHT
    return _SCAN_OK if p == e else _E_BAD_WEIGHT


@nb.njit(cache=True, nogil=True)
def _starts_with(text, lo, hi, prefix):
    if hi - lo < prefix.shape[0]:
        return False
    for i in range(prefix.shape[0]):
        if text[lo + i] != prefix[i]:
            return False
    return True


@nb.njit(cache=True, nogil=True)
def _directive_value(text, lo, hi):
    """The stripped text after a header keyword, up to any further '#'."""
    end = lo
    while end < hi and text[end] != 35:
        end += 1
    while lo < end and _is_blank(text[lo]):
        lo += 1
    while end > lo and _is_blank(text[end - 1]):
        end -= 1
    return lo, end


@nb.njit(cache=True, nogil=True)
def _scan_edge_list(
    text,
    start,
    delimiter,
    labelled,
    signed,
    src_id,
    dst_id,
    node_span,
    edge_token,
    weight,
    slow_weight,
    edge_line,
):
    """Tokenise an edge list in one pass over its bytes.

    In id mode (``labelled`` false) node fields are parsed into ``src_id``
    and ``dst_id``; the first field that is not a number ends the scan with
    ``_SCAN_LABELLED``. In labelled mode every node field's span goes to
    ``node_span`` in file order. Both modes store each edge's line and
    weight (1.0 when absent), or for a weight the fast path leaves to numpy
    NaN in ``weight`` and ``(edge, start, end)`` in ``slow_weight``. A
    negative weight is an error unless ``signed``.

    Returns ``(status, edges, tokens, line, field, start, end, detail,
    node_count, node_count_line, slow)``: the outcome, the counts found,
    and for an error its line, field number, token span and a number (a
    field count); then the ``# nodes:`` value (-1 if none), its line, and
    the number of weights left to numpy. Errors
    that only hold for ids (a sign, too large) are kept until the end, as a
    later label would make the file labelled and them labels.
    """
    n = text.shape[0]
    spans = np.empty((4, 2), np.int64)
    status = _SCAN_OK
    edges = 0
    tokens = 0
    line = 0
    err_field, err_lo, err_hi, detail = -1, 0, 0, 0
    node_count, node_count_line = -1, 0
    held_status, held_line, held_field, held_lo, held_hi = _SCAN_OK, 0, -1, 0, 0
    slow = 0
    pos = start
    while pos < n and status == _SCAN_OK:
        line += 1
        eol = pos
        while eol < n and text[eol] != 10:
            eol += 1
        lo, hi = pos, eol
        pos = eol + 1

        if text[lo] == 35:
            if _starts_with(text, lo, hi, _NODES_DIRECTIVE):
                s, e = _directive_value(text, lo + _NODES_DIRECTIVE.shape[0], hi)
                value = _parse_count(text, s, e)
                if value < 0:
                    status, err_field = _E_BAD_NODE_COUNT, _FIELD_NODES
                    err_lo, err_hi = s, e
                elif node_count >= 0 and value != node_count:
                    status, err_field = _E_NODE_COUNT_CONFLICT, _FIELD_NODES
                    err_lo, err_hi = s, e
                else:
                    node_count, node_count_line = value, line
            elif _starts_with(text, lo, hi, _NODE_DIRECTIVE):
                if not labelled:
                    status = _SCAN_LABELLED
                    break
                s, e = _directive_value(text, lo + _NODE_DIRECTIVE.shape[0], hi)
                if _split_fields(text, s, e, delimiter, spans) != 1:
                    status, err_field = _E_BAD_DECLARATION, _FIELD_NODE
                    err_lo, err_hi = s, e
                else:
                    node_span[tokens, 0] = s
                    node_span[tokens, 1] = e
                    tokens += 1
            continue

        comment = lo
        while comment < hi and text[comment] != 35:
            comment += 1
        count = _split_fields(text, lo, comment, delimiter, spans)
        if count == 0:
            continue
        if count < 0:
            status, err_field = _E_EMPTY_FIELD, -count - 1
            break
        if count < 2 or count > 3:
            status = _E_TOO_FEW if count < 2 else _E_TOO_MANY
            detail = count
            break

        if count == 3:
            s, e = spans[2, 0], spans[2, 1]
            status = _weight_status(text, s, e)
            value = _quick_decimal(text, s, e) if status == _SCAN_OK else 0.0
            if np.isnan(value):
                slow_weight[slow, 0] = edges
                slow_weight[slow, 1] = s
                slow_weight[slow, 2] = e
                slow += 1
            elif value < 0.0 and not signed:
                status = _E_NEGATIVE_WEIGHT
            elif np.isinf(np.float32(value)):
                status = _E_WEIGHT_OVERFLOW
            if status != _SCAN_OK:
                err_field, err_lo, err_hi = 2, s, e
                break
            weight[edges] = value
        else:
            weight[edges] = 1.0

        if labelled:
            for f in range(2):
                node_span[tokens + f, 0] = spans[f, 0]
                node_span[tokens + f, 1] = spans[f, 1]
            edge_token[edges] = tokens
            tokens += 2
        else:
            for f in range(2):
                kind, value = _parse_node_id(text, spans[f, 0], spans[f, 1])
                if kind == _ID_LABEL:
                    status = _SCAN_LABELLED
                    break
                if kind != _ID_OK and held_status == _SCAN_OK:
                    held_status = kind
                    held_line, held_field = line, f
                    held_lo, held_hi = spans[f, 0], spans[f, 1]
                if f == 0:
                    src_id[edges] = value
                else:
                    dst_id[edges] = value
            if status != _SCAN_OK:
                break
        edge_line[edges] = line
        edges += 1

    if status == _SCAN_OK and held_status != _SCAN_OK:
        status, line, err_field = held_status, held_line, held_field
        err_lo, err_hi = held_lo, held_hi
    return (
        status,
        edges,
        tokens,
        line,
        err_field,
        err_lo,
        err_hi,
        detail,
        node_count,
        node_count_line,
        slow,
    )


#: The label table doubles when more than this share of its slots is used.
_LABEL_TABLE_LOAD = 0.5


@nb.njit(cache=True, nogil=True)
def _label_ids(text, node_span):
    """Number distinct tokens in order of first appearance.

    Returns each token's id (int32) and, per id, the index of its first
    token. An open-addressing hash table keyed by each token's 64-bit hash
    holds the ids; a hash match is confirmed by comparing the bytes, so
    colliding labels stay apart. A table row holds the id, the hash and the
    first token's span together, so that a probe loads one cache line.
    """
    tokens = node_span.shape[0]
    ids = np.empty(tokens, np.int32)
    first_token = np.empty(16, np.int64)
    table = _empty_label_table(1 << 10)
    count = 0
    for t in range(tokens):
        s, e = node_span[t, 0], node_span[t, 1]
        h = _token_hash(text, s, e)
        slot = _find_slot(text, table, h, s, e)
        if table[slot, _ROW_ID] >= 0:
            ids[t] = table[slot, _ROW_ID]
            continue
        if count == first_token.shape[0]:
            grown = np.empty(2 * count, np.int64)
            grown[:count] = first_token
            first_token = grown
        table[slot, _ROW_ID] = count
        table[slot, _ROW_HASH] = h
        table[slot, _ROW_START] = s
        table[slot, _ROW_END] = e
        first_token[count] = t
        ids[t] = count
        count += 1
        if count > _LABEL_TABLE_LOAD * table.shape[0]:
            table = _grown_label_table(table)
    return ids, first_token[:count].copy()


# Columns of a label table row; the hash is stored as int64 bits.
_ROW_ID = 0
_ROW_HASH = 1
_ROW_START = 2
_ROW_END = 3


@nb.njit(cache=True, nogil=True)
def _empty_label_table(rows):
    table = np.zeros((rows, 4), np.int64)
    table[:, _ROW_ID] = -1
    return table


@nb.njit(cache=True, nogil=True)
def _find_slot(text, table, h, s, e):
    """The row holding the token ``text[s:e]``, or the empty row for it."""
    mask = table.shape[0] - 1
    slot = h & mask
    while table[slot, _ROW_ID] >= 0:
        if table[slot, _ROW_HASH] == h and _same_bytes(
            text, s, e, table[slot, _ROW_START], table[slot, _ROW_END]
        ):
            break
        slot = (slot + 1) & mask
    return slot


@nb.njit(cache=True, nogil=True)
def _grown_label_table(table):
    grown = _empty_label_table(2 * table.shape[0])
    mask = grown.shape[0] - 1
    for old in range(table.shape[0]):
        if table[old, _ROW_ID] >= 0:
            slot = table[old, _ROW_HASH] & mask
            while grown[slot, _ROW_ID] >= 0:
                slot = (slot + 1) & mask
            grown[slot, :] = table[old, :]
    return grown


@nb.njit(cache=True, nogil=True)
def _token_hash(text, s, e):
    """FNV-1a over the bytes and a final mix, so the low bits vary too;
    returned as non-negative int64 bits, ready to mask."""
    h = np.uint64(14695981039346656037)
    for q in range(s, e):
        h ^= np.uint64(text[q])
        h *= np.uint64(1099511628211)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    return np.int64(h >> np.uint64(1))


@nb.njit(cache=True, nogil=True)
def _same_bytes(text, s, e, other_s, other_e):
    if other_e - other_s != e - s:
        return False
    for i in range(e - s):
        if text[s + i] != text[other_s + i]:
            return False
    return True


#: Significant digits the quick path reads; 18 always fit in int64.
_QUICK_DIGITS = 18


@nb.njit(cache=True, nogil=True)
def _quick_decimal(text, s, e):
    """The float64 nearest to a decimal token, or NaN to ask for numpy.

    The token is ``significand * 10**power``. When the significand is at
    most 2**53 and ``|power| <= 22`` both are exact in float64, so one
    multiplication or division rounds correctly (the classic fast path of
    decimal conversion). The token has passed ``_weight_status``.
    """
    p = s
    negative = text[p] == 45
    if text[p] == 45 or text[p] == 43:
        p += 1
    significand = np.int64(0)
    digits = 0
    power = 0
    in_fraction = False
    while p < e and text[p] != 101 and text[p] != 69:
        if text[p] == 46:
            in_fraction = True
        else:
            if significand > 0 or text[p] != 48:
                if digits == _QUICK_DIGITS:
                    return np.nan
                significand = significand * 10 + (text[p] - 48)
                digits += 1
            if in_fraction:
                power -= 1
        p += 1
    if p < e:
        p += 1
        exponent_negative = text[p] == 45
        if text[p] == 45 or text[p] == 43:
            p += 1
        exponent = 0
        while p < e:
            if exponent < 100000:
                exponent = exponent * 10 + (text[p] - 48)
            p += 1
        power += -exponent if exponent_negative else exponent
    if significand == 0:
        return -0.0 if negative else 0.0
    if significand > 2**53 or power < -_EXACT_POW10_MAX or power > _EXACT_POW10_MAX:
        return np.nan
    if power >= 0:
        value = np.float64(significand) * _POW10[power + _POW10_BIAS]
    else:
        value = np.float64(significand) / _POW10[-power + _POW10_BIAS]
    return -value if negative else value


@nb.njit(cache=True, nogil=True)
def _gather_tokens(text, starts, ends, width):
    """Copy tokens into rows of ``width`` bytes, zero-padded (numpy's "S")."""
    out = np.zeros((starts.shape[0], width), np.uint8)
    for i in range(starts.shape[0]):
        for q in range(starts[i], ends[i]):
            out[i, q - starts[i]] = text[q]
    return out
