/* The wire writer's C accelerator (smalltalk_vm.node._wire_c_encoder): one recursive
 * pass over a VM value that writes the bytes of node/wire_encoder.py's Encoder.
 *
 * The rules:
 *
 * - The bytes are exactly those of the Python writers (node/wire_fast_encoder.py is the
 *   pass this one follows step by step, node/wire_encoder.py defines the format). For
 *   anything this pass does not write the same way -- a kind of object it does not
 *   know, an object whose internals are not what its class expects, a value nested
 *   close to the depth limit, text that is not valid Unicode, any error at all -- it
 *   gives up: encode() answers None and the caller runs the Python paths, which write
 *   the bytes or raise the WireError. It never raises for a value and never answers a
 *   partial result (only MemoryError may escape, as from any allocation).
 * - Value sharing as the Python pass does it: the offset where every heap object
 *   starts is remembered (by address, in a table of this call); a second meeting
 *   records a reference; at the end the first bytes of each object met twice get the
 *   shareable tag (28) in front and each reference becomes tag 29 with the object's
 *   number, numbered in writing order. Levels are counted without the sharing tags;
 *   with sharing it gives up unless the deepest level plus one per shared object
 *   stays under the limit.
 * - It runs Python code only through the callbacks it is given (class layouts, the
 *   bytes of a big integer, the Python writer's bytes for the kinds it leaves to it:
 *   classes, methods, exceptions, references), on the caller's thread, holding the GIL throughout; it
 *   keeps a reference to every value while it writes it.
 *
 * Slots of the VM's objects (vm/objects.py, all __slots__ classes) are read through
 * their member descriptors' offsets, found once by setup(); a slot that is unset makes
 * the pass give up.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HARD_DEPTH_LIMIT 1000   /* a deeper limit is taken as this one (C recursion) */

enum { TAG_SHAREABLE = 28, TAG_SHAREDREF = 29, TAG_SYMBOL = 51001, TAG_CHARACTER = 51002,
       TAG_OBJECT = 51003, TAG_VECTOR = 51007, TAG_SET = 51008, TAG_INDEXED = 51010 };
/* the kinds of Instance a layout callback answers */
enum { LAYOUT_DICTIONARY = 1, LAYOUT_VECTOR = 2, LAYOUT_SET = 3, LAYOUT_OBJECT = 4 };

/* set once by setup(): the object types and the offsets of their slots */
static PyTypeObject *instance_type, *varray_type, *vstring_type, *largeint_type, *vbytes_type;
static Py_ssize_t instance_cls, instance_fields, varray_cls, varray_items, vstring_cls,
    vstring_chars, largeint_n, vbytes_cls, vbytes_data;
static uint64_t INT_LO, INT_HI, ZERO, NIL, TRUE_, FALSE_, CHAR_BASE, CHAR_LIMIT, SYM_BASE, SYM_LIMIT;

#define SLOT(obj, offset) (*(PyObject **)((char *)(obj) + (offset)))

/* -- an address -> offset table, open addressing ---------------------------------- */
typedef struct { const void *key; Py_ssize_t offset; } Entry;
typedef struct { Entry *entries; size_t mask, used; } Seen;

static int seen_grow(Seen *seen) {
    size_t size = seen->entries ? (seen->mask + 1) * 2 : 64;
    Entry *fresh = PyMem_Calloc(size, sizeof(Entry));
    if (!fresh) { PyErr_NoMemory(); return -1; }
    for (size_t i = 0; seen->entries && i <= seen->mask; i++) {
        if (!seen->entries[i].key) continue;
        size_t at = ((uintptr_t)seen->entries[i].key >> 4) & (size - 1);
        while (fresh[at].key) at = (at + 1) & (size - 1);
        fresh[at] = seen->entries[i];
    }
    PyMem_Free(seen->entries);
    seen->entries = fresh;
    seen->mask = size - 1;
    return 0;
}

/* the entry for key: found (key set) or the empty place where it belongs */
static Entry *seen_find(Seen *seen, const void *key) {
    size_t at = ((uintptr_t)key >> 4) & seen->mask;
    while (seen->entries[at].key && seen->entries[at].key != key) at = (at + 1) & seen->mask;
    return &seen->entries[at];
}

/* -- the output --------------------------------------------------------------------- */
typedef struct { Py_ssize_t offset; const void *key; } Reference;

typedef struct {
    char *bytes;
    Py_ssize_t length, capacity;
    Seen seen;
    Reference *references;
    Py_ssize_t reference_count, reference_capacity;
    int max_depth, deepest;
    PyObject *array_class, *string_class, *bytes_class, *symbols, *symbol_bytes;
    PyObject *layout, *table_layout, *big_integer, *rest, *layouts;
} Writer;

static int reserve(Writer *w, Py_ssize_t more) {
    if (w->length + more <= w->capacity) return 0;
    Py_ssize_t capacity = w->capacity * 2 > w->length + more ? w->capacity * 2 : w->length + more + 256;
    char *grown = PyMem_Realloc(w->bytes, capacity);
    if (!grown) { PyErr_NoMemory(); return -1; }
    w->bytes = grown;
    w->capacity = capacity;
    return 0;
}

static int put_bytes(Writer *w, const char *data, Py_ssize_t n) {
    if (reserve(w, n) < 0) return -1;
    memcpy(w->bytes + w->length, data, n);
    w->length += n;
    return 0;
}

/* a CBOR head in the fewest bytes, written at out; answers its length */
static int head_at(unsigned char *out, int major, uint64_t n) {
    unsigned char m = (unsigned char)(major << 5);
    if (n < 24) { out[0] = m | (unsigned char)n; return 1; }
    if (n < 0x100) { out[0] = m | 24; out[1] = (unsigned char)n; return 2; }
    int width = n < 0x10000 ? 2 : n < 0x100000000ULL ? 4 : 8;
    out[0] = m | (width == 2 ? 25 : width == 4 ? 26 : 27);
    for (int i = 0; i < width; i++) out[1 + i] = (unsigned char)(n >> (8 * (width - 1 - i)));
    return 1 + width;
}

static int head(Writer *w, int major, uint64_t n) {
    if (reserve(w, 9) < 0) return -1;
    w->length += head_at((unsigned char *)w->bytes + w->length, major, n);
    return 0;
}

static int text(Writer *w, PyObject *s) {
    Py_ssize_t n;
    if (!PyUnicode_CheckExact(s)) return -1;
    const char *data = PyUnicode_AsUTF8AndSize(s, &n);   /* lone surrogates fail */
    if (!data || head(w, 3, (uint64_t)n) < 0) return -1;
    return put_bytes(w, data, n);
}

static int put_bytes_object(Writer *w, PyObject *b) {
    if (!PyBytes_CheckExact(b)) return -1;
    return put_bytes(w, PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b));
}

/* a level that opens a frame: give up at the limit, else note the deepest */
static int level(Writer *w, int depth) {
    if (depth >= w->max_depth) return -1;
    if (depth > w->deepest) w->deepest = depth;
    return 0;
}

/* the SmallInteger value of a word, or -1 (no error set) if it is not one */
static int small_int(PyObject *word, int64_t *n) {
    if (!PyLong_CheckExact(word)) return -1;
    uint64_t w = PyLong_AsUnsignedLongLong(word);
    if (w == (uint64_t)-1 && PyErr_Occurred()) { PyErr_Clear(); return -1; }
    if (w < INT_LO || w >= INT_HI) return -1;
    *n = (int64_t)(w - INT_LO) - (int64_t)(ZERO - INT_LO);
    return 0;
}

static int put_int64(Writer *w, int64_t n) {
    return n >= 0 ? head(w, 0, (uint64_t)n) : head(w, 1, (uint64_t)(-1 - n));
}

static int put(Writer *w, PyObject *value, int depth);

static int put_items(Writer *w, PyObject *list, Py_ssize_t start, Py_ssize_t stop, int depth) {
    for (Py_ssize_t i = start; i < stop && i < PyList_GET_SIZE(list); i++) {
        PyObject *item = PyList_GET_ITEM(list, i);
        Py_INCREF(item);
        int failed = put(w, item, depth);
        Py_DECREF(item);
        if (failed) return -1;
    }
    return 0;
}

static int put_word(Writer *w, PyObject *value, int depth) {
    uint64_t word = PyLong_AsUnsignedLongLong(value);
    if (word == (uint64_t)-1 && PyErr_Occurred()) return -1;
    if (word < INT_LO) return -1;                 /* not an immediate word */
    if (word < INT_HI) {
        int64_t n = (int64_t)(word - INT_LO) - (int64_t)(ZERO - INT_LO);
        return put_int64(w, n);
    }
    if (word == NIL) return put_bytes(w, "\xf6", 1);
    if (word == TRUE_) return put_bytes(w, "\xf5", 1);
    if (word == FALSE_) return put_bytes(w, "\xf4", 1);
    if (level(w, depth) < 0) return -1;
    if (word >= CHAR_BASE && word < CHAR_LIMIT) {
        if (head(w, 6, TAG_CHARACTER) < 0) return -1;
        return head(w, 0, word - CHAR_BASE);
    }
    if (word < SYM_BASE || word >= SYM_LIMIT) return -1;
    PyObject *found = PyDict_GetItemWithError(w->symbol_bytes, value);   /* borrowed */
    if (found) return put_bytes_object(w, found);
    if (PyErr_Occurred()) return -1;
    uint64_t index = word - SYM_BASE;
    if (!PyList_CheckExact(w->symbols) || index >= (uint64_t)PyList_GET_SIZE(w->symbols)) return -1;
    Py_ssize_t start = w->length;
    if (head(w, 6, TAG_SYMBOL) < 0 || text(w, PyList_GET_ITEM(w->symbols, (Py_ssize_t)index)) < 0) return -1;
    PyObject *encoded = PyBytes_FromStringAndSize(w->bytes + start, w->length - start);
    if (!encoded) return -1;
    int failed = PyDict_SetItem(w->symbol_bytes, value, encoded);
    Py_DECREF(encoded);
    return failed;
}

static int put_double(Writer *w, PyObject *value) {
    if (reserve(w, 9) < 0) return -1;
    unsigned char *out = (unsigned char *)w->bytes + w->length;
    out[0] = 0xFB;
    if (PyFloat_Pack8(PyFloat_AS_DOUBLE(value), (char *)out + 1, 0) < 0) return -1;
    w->length += 9;
    return 0;
}

/* what the layout callback says about an Instance's class, cached for this call */
static PyObject *layout_of(Writer *w, PyObject *cls) {
    PyObject *found = PyDict_GetItemWithError(w->layouts, cls);
    if (found || PyErr_Occurred()) return found;
    found = PyObject_CallOneArg(w->layout, cls);
    if (!found) return NULL;
    int failed = PyDict_SetItem(w->layouts, cls, found);
    Py_DECREF(found);                            /* the cache keeps it */
    return failed ? NULL : found;
}

/* positions from a layout tuple: item i as a C index */
static int position(PyObject *layout, Py_ssize_t i, Py_ssize_t *at) {
    if (!PyTuple_CheckExact(layout) || i >= PyTuple_GET_SIZE(layout)) return -1;
    *at = PyLong_AsSsize_t(PyTuple_GET_ITEM(layout, i));
    return *at == -1 && PyErr_Occurred() ? -1 : 0;
}

static PyObject *field(PyObject *fields, Py_ssize_t at) {
    if (at < 0 || at >= PyList_GET_SIZE(fields)) return NULL;
    return PyList_GET_ITEM(fields, at);
}

static PyObject *array_items(PyObject *array) {
    if (!array || Py_TYPE(array) != varray_type) return NULL;
    PyObject *items = SLOT(array, varray_items);
    return items && PyList_CheckExact(items) ? items : NULL;
}

/* every other kind (classes, methods, exceptions, process and node references, ...):
 * the bytes the Python writer gives for it alone; it refuses any that could hold a
 * value met elsewhere in the message */
static int put_rest(Writer *w, PyObject *value, int depth) {
    if (level(w, depth + 1) < 0) return -1;
    PyObject *encoded = PyObject_CallOneArg(w->rest, value);
    if (!encoded) return -1;
    int failed = put_bytes_object(w, encoded);
    Py_DECREF(encoded);
    return failed;
}

static int put_instance(Writer *w, PyObject *value, int depth) {
    PyObject *cls = SLOT(value, instance_cls), *fields = SLOT(value, instance_fields);
    if (!cls || !fields || !PyList_CheckExact(fields)) return -1;
    PyObject *layout = layout_of(w, cls);
    if (!layout || !PyTuple_CheckExact(layout) || PyTuple_GET_SIZE(layout) < 1) return -1;
    long kind = PyLong_AsLong(PyTuple_GET_ITEM(layout, 0));
    Py_ssize_t a, b, c;
    int64_t first, last, count;
    if (kind == LAYOUT_DICTIONARY) {
        if (position(layout, 1, &a) || position(layout, 2, &b) || position(layout, 3, &c)) return -1;
        PyObject *keys = array_items(field(fields, a)), *values = array_items(field(fields, b));
        PyObject *counted = field(fields, c);
        if (!keys || !values || !counted || small_int(counted, &count) || count < 0) return -1;
        if (count > PyList_GET_SIZE(keys)) count = PyList_GET_SIZE(keys);
        if (count > PyList_GET_SIZE(values)) count = PyList_GET_SIZE(values);
        if (head(w, 5, (uint64_t)count) < 0) return -1;
        if (count && level(w, depth) < 0) return -1;
        Py_INCREF(keys);
        Py_INCREF(values);
        int failed = 0;
        for (Py_ssize_t i = 0; !failed && i < count; i++) {
            if (i >= PyList_GET_SIZE(keys) || i >= PyList_GET_SIZE(values)) { failed = 1; break; }
            failed = put_items(w, keys, i, i + 1, depth + 1) || put_items(w, values, i, i + 1, depth + 1);
        }
        Py_DECREF(keys);
        Py_DECREF(values);
        return failed ? -1 : 0;
    }
    PyObject *elements = NULL;
    Py_ssize_t start = 0, stop = 0;
    if (kind == LAYOUT_VECTOR) {
        if (position(layout, 1, &a) || position(layout, 2, &b) || position(layout, 3, &c)) return -1;
        PyObject *first_at = field(fields, a), *last_at = field(fields, b);
        elements = array_items(field(fields, c));
        if (!elements || !first_at || !last_at || small_int(first_at, &first) || small_int(last_at, &last)
            || first < 1 || last < first || last - 1 > PyList_GET_SIZE(elements)) return -1;
        start = (Py_ssize_t)(first - 1);
        stop = (Py_ssize_t)(last - 1);
    } else if (kind == LAYOUT_SET) {
        if (position(layout, 1, &a)) return -1;
        PyObject *table = field(fields, a);
        if (!table || Py_TYPE(table) != instance_type) return -1;
        PyObject *table_fields = SLOT(table, instance_fields), *table_cls = SLOT(table, instance_cls);
        if (!table_fields || !table_cls || !PyList_CheckExact(table_fields)) return -1;
        PyObject *positions = PyObject_CallOneArg(w->table_layout, table_cls);
        if (!positions) return -1;
        int failed = position(positions, 0, &b) || position(positions, 1, &c);
        Py_DECREF(positions);
        if (failed) return -1;
        elements = array_items(field(table_fields, b));
        PyObject *counted = field(table_fields, c);
        if (!elements || !counted || small_int(counted, &count) || count < 0) return -1;
        stop = count < PyList_GET_SIZE(elements) ? (Py_ssize_t)count : PyList_GET_SIZE(elements);
    } else if (kind == LAYOUT_OBJECT) {
        PyObject *prefix, *names;
        if (PyTuple_GET_SIZE(layout) != 3) return -1;
        prefix = PyTuple_GET_ITEM(layout, 1);
        names = PyTuple_GET_ITEM(layout, 2);
        if (!PyTuple_CheckExact(names)) return -1;
        Py_ssize_t n = PyTuple_GET_SIZE(names);
        int inner = depth + 2 + (n ? 1 : 0);
        if (inner > w->max_depth || n != PyList_GET_SIZE(fields)) return -1;
        if (inner - 1 > w->deepest) w->deepest = inner - 1;
        if (put_bytes_object(w, prefix) < 0) return -1;
        Py_INCREF(fields);
        int failed = 0;
        for (Py_ssize_t i = 0; !failed && i < n; i++)
            failed = put_bytes_object(w, PyTuple_GET_ITEM(names, i)) || i >= PyList_GET_SIZE(fields)
                     || put_items(w, fields, i, i + 1, inner);
        Py_DECREF(fields);
        return failed ? -1 : 0;
    } else {
        return put_rest(w, value, depth);        /* by reference, a Node, an exception, ... */
    }
    Py_ssize_t n = stop > start ? stop - start : 0;
    int inner = depth + 1 + (n ? 1 : 0);
    if (inner > w->max_depth) return -1;
    if (inner - 1 > w->deepest) w->deepest = inner - 1;
    if (head(w, 6, kind == LAYOUT_VECTOR ? TAG_VECTOR : TAG_SET) < 0 || head(w, 4, (uint64_t)n) < 0) return -1;
    Py_INCREF(elements);
    int failed = put_items(w, elements, start, stop, inner);
    Py_DECREF(elements);
    return failed;
}

static int put_large(Writer *w, PyObject *value, int depth) {
    PyObject *n = SLOT(value, largeint_n);
    if (!n || !PyLong_CheckExact(n)) return -1;
    int overflow;
    long long small = PyLong_AsLongLongAndOverflow(n, &overflow);
    if (!overflow) return put_int64(w, small);
    unsigned long long wide = PyLong_AsUnsignedLongLong(n);
    if (!PyErr_Occurred()) return head(w, 0, wide);
    PyErr_Clear();
    /* below -2^63 or at least 2^64: the Python writer's bytes (a bignum past 64 bits) */
    PyObject *encoded = PyObject_CallOneArg(w->big_integer, n);
    if (!encoded) return -1;
    int failed = !PyBytes_CheckExact(encoded) || (PyBytes_GET_SIZE(encoded) > 9 && level(w, depth) < 0);
    failed = failed || put_bytes_object(w, encoded) < 0;
    Py_DECREF(encoded);
    return failed ? -1 : 0;
}

static int put_indexed_head(Writer *w, PyObject *cls) {
    PyObject *name = PyObject_GetAttrString(cls, "name");
    if (!name) return -1;
    int failed = head(w, 6, TAG_INDEXED) < 0 || head(w, 4, 2) < 0 || text(w, name) < 0;
    Py_DECREF(name);
    return failed ? -1 : 0;
}

static int put(Writer *w, PyObject *value, int depth) {
    PyTypeObject *kind = Py_TYPE(value);
    if (kind == &PyLong_Type) return put_word(w, value, depth);
    if (kind == &PyFloat_Type) return put_double(w, value);
    Entry *entry = seen_find(&w->seen, value);
    if (entry->key) {
        if (level(w, depth) < 0) return -1;
        if (w->reference_count == w->reference_capacity) {
            Py_ssize_t capacity = w->reference_capacity ? w->reference_capacity * 2 : 16;
            Reference *grown = PyMem_Realloc(w->references, capacity * sizeof(Reference));
            if (!grown) { PyErr_NoMemory(); return -1; }
            w->references = grown;
            w->reference_capacity = capacity;
        }
        w->references[w->reference_count++] = (Reference){w->length, value};
        return 0;
    }
    entry->key = value;
    entry->offset = w->length;
    if (++w->seen.used * 2 > w->seen.mask && seen_grow(&w->seen) < 0) return -1;
    if (kind == vstring_type) {
        PyObject *cls = SLOT(value, vstring_cls), *chars = SLOT(value, vstring_chars);
        if (!cls || !chars) return -1;
        if (cls == w->string_class) return text(w, chars);
        if (level(w, depth + 1) < 0) return -1;
        return put_indexed_head(w, cls) < 0 ? -1 : text(w, chars);
    }
    if (kind == varray_type) {
        PyObject *cls = SLOT(value, varray_cls), *items = array_items(value);
        if (!cls || !items) return -1;
        Py_ssize_t n = PyList_GET_SIZE(items);
        int inner = depth + 1;
        if (cls != w->array_class) {
            inner = depth + 2 + (n ? 1 : 0);
            if (inner > w->max_depth) return -1;
            if (inner - 1 > w->deepest) w->deepest = inner - 1;
            if (put_indexed_head(w, cls) < 0) return -1;
        } else if (n && level(w, depth) < 0) {
            return -1;
        }
        if (head(w, 4, (uint64_t)n) < 0) return -1;
        Py_INCREF(items);
        int failed = put_items(w, items, 0, n, inner);
        Py_DECREF(items);
        return failed;
    }
    if (kind == instance_type) return put_instance(w, value, depth);
    if (kind == largeint_type) return put_large(w, value, depth);
    if (kind == vbytes_type) {
        PyObject *cls = SLOT(value, vbytes_cls), *data = SLOT(value, vbytes_data);
        if (cls != w->bytes_class) return put_rest(w, value, depth);
        if (!data || !PyByteArray_CheckExact(data)) return -1;
        Py_ssize_t n = PyByteArray_GET_SIZE(data);
        if (head(w, 2, (uint64_t)n) < 0) return -1;
        return put_bytes(w, PyByteArray_AS_STRING(data), n);
    }
    return put_rest(w, value, depth);
}

static int compare_offsets(const void *a, const void *b) {
    Py_ssize_t x = *(const Py_ssize_t *)a, y = *(const Py_ssize_t *)b;
    return (x > y) - (x < y);
}

/* the bytes with the sharing tags put in: shareable heads before the first bytes of
 * each object met again, references where the second meetings were */
static PyObject *with_sharing(Writer *w) {
    Py_ssize_t shared = 0;
    for (Py_ssize_t i = 0; i < w->reference_count; i++) {
        Entry *entry = seen_find(&w->seen, w->references[i].key);
        if (entry->offset >= 0) { entry->offset = -2 - entry->offset; shared++; }   /* marked */
    }
    if (w->deepest + shared >= w->max_depth) return Py_None;
    /* the shared objects' starts, in writing order: a pass over the table, then sorted */
    Py_ssize_t *starts = PyMem_Malloc(sizeof(Py_ssize_t) * (shared ? shared : 1));
    if (!starts) return PyErr_NoMemory();
    Py_ssize_t k = 0;
    for (size_t i = 0; i <= w->seen.mask; i++)
        if (w->seen.entries[i].key && w->seen.entries[i].offset < -1) starts[k++] = -2 - w->seen.entries[i].offset;
    qsort(starts, (size_t)k, sizeof(Py_ssize_t), compare_offsets);
    Py_ssize_t size = w->length + 2 * shared + 11 * w->reference_count;
    PyObject *out = PyBytes_FromStringAndSize(NULL, size);
    if (!out) { PyMem_Free(starts); return NULL; }
    unsigned char *o = (unsigned char *)PyBytes_AS_STRING(out), *begin = o;
    Py_ssize_t from = 0, s = 0, r = 0;
    /* at one offset a reference comes before an object starting there: it wrote nothing */
    while (s < k || r < w->reference_count) {
        int take_reference = r < w->reference_count && (s >= k || w->references[r].offset <= starts[s]);
        Py_ssize_t at = take_reference ? w->references[r].offset : starts[s];
        memcpy(o, w->bytes + from, at - from);
        o += at - from;
        from = at;
        *o++ = 0xD8;
        if (take_reference) {
            Entry *entry = seen_find(&w->seen, w->references[r++].key);
            Py_ssize_t start = -2 - entry->offset, low = 0, high = k - 1;
            while (low < high) {                         /* the start is among them */
                Py_ssize_t middle = (low + high) / 2;
                if (starts[middle] < start) low = middle + 1; else high = middle;
            }
            Py_ssize_t number = low;
            *o++ = TAG_SHAREDREF;
            o += head_at(o, 0, (uint64_t)number);
        } else {
            *o++ = TAG_SHAREABLE;
            s++;
        }
    }
    memcpy(o, w->bytes + from, w->length - from);
    o += w->length - from;
    PyMem_Free(starts);
    if (_PyBytes_Resize(&out, o - begin) < 0) return NULL;
    return out;
}

/* encode(root, max_depth, array_class, string_class, bytes_class, symbols, symbol_bytes,
 *        layout, table_layout, big_integer, rest) -> bytes, or None to give up */
static PyObject *encode(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 11) { PyErr_SetString(PyExc_TypeError, "encode takes 11 arguments"); return NULL; }
    if (!instance_type) { PyErr_SetString(PyExc_RuntimeError, "setup() was not called"); return NULL; }
    if (!PyDict_CheckExact(args[6])) { PyErr_SetString(PyExc_TypeError, "symbol_bytes must be a dict"); return NULL; }
    Writer w = {0};
    long max_depth = PyLong_AsLong(args[1]);
    if (max_depth == -1 && PyErr_Occurred()) return NULL;
    w.max_depth = max_depth < 0 ? 0 : max_depth > HARD_DEPTH_LIMIT ? HARD_DEPTH_LIMIT + 1 : (int)max_depth;
    w.array_class = args[2]; w.string_class = args[3]; w.bytes_class = args[4];
    w.symbols = args[5]; w.symbol_bytes = args[6];
    w.layout = args[7]; w.table_layout = args[8]; w.big_integer = args[9]; w.rest = args[10];
    PyObject *result = NULL;
    w.layouts = PyDict_New();
    if (!w.layouts || seen_grow(&w.seen) < 0 || reserve(&w, 1024) < 0) goto done;
    if (put(&w, args[0], 0) < 0) {
        if (PyErr_Occurred() && PyErr_ExceptionMatches(PyExc_MemoryError)) goto done;
        PyErr_Clear();
        result = Py_NewRef(Py_None);
        goto done;
    }
    result = w.reference_count ? with_sharing(&w) : PyBytes_FromStringAndSize(w.bytes, w.length);
    if (result == Py_None) Py_INCREF(result);
done:
    Py_XDECREF(w.layouts);
    PyMem_Free(w.bytes);
    PyMem_Free(w.seen.entries);
    PyMem_Free(w.references);
    return result;
}

static int slot_offset(PyTypeObject *type, const char *name, Py_ssize_t *offset) {
    PyObject *descriptor = PyObject_GetAttrString((PyObject *)type, name);
    if (!descriptor) return -1;
    int ok = Py_IS_TYPE(descriptor, &PyMemberDescr_Type)
             && ((PyMemberDescrObject *)descriptor)->d_member->type == T_OBJECT_EX;
    if (ok) *offset = ((PyMemberDescrObject *)descriptor)->d_member->offset;
    Py_DECREF(descriptor);
    if (!ok) PyErr_Format(PyExc_TypeError, "%s.%s is not a slot", type->tp_name, name);
    return ok ? 0 : -1;
}

static int word(PyObject *words, const char *name, uint64_t *out) {
    PyObject *value = PyDict_GetItemString(words, name);
    if (!value) { PyErr_Format(PyExc_KeyError, "%s", name); return -1; }
    *out = PyLong_AsUnsignedLongLong(value);
    return PyErr_Occurred() ? -1 : 0;
}

/* setup(Instance, VArray, VString, LargeInt, VBytes, words: dict of vm/value.py's constants) */
static PyObject *setup(PyObject *module, PyObject *args) {
    (void)module;
    PyObject *types[5], *words;
    if (!PyArg_ParseTuple(args, "O!O!O!O!O!O!", &PyType_Type, &types[0], &PyType_Type, &types[1],
                          &PyType_Type, &types[2], &PyType_Type, &types[3], &PyType_Type, &types[4],
                          &PyDict_Type, &words)) return NULL;
    PyTypeObject *t[5];
    for (int i = 0; i < 5; i++) t[i] = (PyTypeObject *)types[i];
    if (slot_offset(t[0], "cls", &instance_cls) || slot_offset(t[0], "fields", &instance_fields)
        || slot_offset(t[1], "cls", &varray_cls) || slot_offset(t[1], "items", &varray_items)
        || slot_offset(t[2], "cls", &vstring_cls) || slot_offset(t[2], "chars", &vstring_chars)
        || slot_offset(t[3], "n", &largeint_n) || slot_offset(t[4], "cls", &vbytes_cls)
        || slot_offset(t[4], "data", &vbytes_data)
        || word(words, "INT_LO", &INT_LO) || word(words, "INT_HI", &INT_HI) || word(words, "ZERO", &ZERO)
        || word(words, "NIL", &NIL) || word(words, "TRUE", &TRUE_) || word(words, "FALSE", &FALSE_)
        || word(words, "CHAR_BASE", &CHAR_BASE) || word(words, "CHAR_LIMIT", &CHAR_LIMIT)
        || word(words, "SYM_BASE", &SYM_BASE) || word(words, "SYM_LIMIT", &SYM_LIMIT)) return NULL;
    for (int i = 0; i < 5; i++) Py_INCREF(types[i]);   /* kept for the module's life */
    instance_type = t[0]; varray_type = t[1]; vstring_type = t[2]; largeint_type = t[3]; vbytes_type = t[4];
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"setup", setup, METH_VARARGS, "Tell the writer the VM's object types and word constants."},
    {"encode", (PyCFunction)(void (*)(void))encode, METH_FASTCALL,
     "The wire bytes of a VM value, or None where the Python writers must decide."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_definition = {
    PyModuleDef_HEAD_INIT, "_wire_c_encoder", "The wire writer's C accelerator.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__wire_c_encoder(void) { return PyModule_Create(&module_definition); }
