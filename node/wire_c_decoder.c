/* The wire reader's C accelerator (smalltalk_vm.node._wire_c_decoder): one recursive
 * pass over the bytes of a message that makes the VM values node/wire_decoder.py's
 * Decoder makes, for the common messages. node/wire_c_decoding.py is its Python side.
 *
 * The rules:
 *
 * - The values are exactly the Decoder's (which defines the format): the same kinds of
 *   objects, classes, fields, and the same sharing, slots of tags 28/29 numbered and
 *   filled when the Decoder fills them. Anything outside the subset below, anything
 *   odd at all, makes it give up: decode() answers the sentinel it was given and the
 *   caller runs the Python paths, which make the value or raise the WireError.
 * - It never raises for the input and never answers a partial result: an exception
 *   raised inside (MemoryError included) is cleared and becomes giving up; only one
 *   that is not an Exception (KeyboardInterrupt, SystemExit) propagates.
 * - Every length is checked against the bytes left before anything is read or made.
 * - Objects are made without running their __init__: tp_alloc, then every slot that
 *   __init__ sets, stored at the offsets of the slot member descriptors that setup()
 *   checked (vm/objects.py, all __slots__ classes). A container is made when opened
 *   (registered at once under a tag 28 so cycles work); an Array's items are stored at
 *   its close, as the Decoder stores them.
 * - Python runs only in two callbacks, on the caller's thread, holding the GIL
 *   otherwise: vm.symbol for a name not yet interned, and the layout callback for a
 *   class met for the first time or whose class chain changed its fields. Whatever
 *   they may drop, this pass holds its own references to.
 *
 * The subset: unsigned and negative integers; UTF-8 text (a String); doubles in 2, 4 or
 * 8 bytes; false, true, null, undefined; arrays (Arrays); maps (Dictionaries) whose keys
 * are SmallIntegers, Doubles, big Integers, Strings, Symbols, nil or Booleans, with
 * duplicates as Decoder.refuse_duplicates finds them; tags 28/29, 2/3 (bignums), 51001
 * (Symbol) and 51003 (an object by value). Everything else gives up: other tags, byte
 * strings outside a bignum, indefinite lengths, additional information 28-31, other
 * simple values, bytes after the value, nesting within a level of the depth limit.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>
#include <math.h>

#define HARD_DEPTH_LIMIT 600    /* frames at most, whatever max_depth says (C recursion) */

enum { TAG_BIGNUM = 2, TAG_NEG_BIGNUM = 3, TAG_SHAREABLE = 28, TAG_SHAREDREF = 29,
       TAG_SYMBOL = 51001, TAG_OBJECT = 51003 };
/* the layout callback's entry: (field lists of the class chain, the class's layout,
 * {field name: position}, number of fields, instances are plain objects, may be made
 * from fields) */
enum { E_CHAIN, E_LAYOUT, E_POSITIONS, E_COUNT, E_PLAIN, E_FROM_FIELDS, E_SIZE };

/* set once by setup(): the object types, the offsets of their slots, the words */
static PyTypeObject *instance_type, *varray_type, *vstring_type, *largeint_type, *vclass_type;
static Py_ssize_t in_cls, in_fields, in_ihash, va_cls, va_items, va_ihash, vs_cls, vs_chars, vs_h,
    li_cls, li_n, vc_superclass, vc_instance_fields, vc_layout;
static long long ZERO, SMALL_MIN, SMALL_MAX, SYM_BASE, SYM_LIMIT, MAX_INTEGER_BITS;
static PyObject *NIL, *TRUE_, *FALSE_, *INT_ZERO, *S_DICTIONARY, *S_SYMBOL, *S_SYMBOLS,
    *S_KEYS[4];
static long long NIL_W, TRUE_W, FALSE_W;

#define SLOT(obj, offset) (*(PyObject **)((char *)(obj) + (offset)))
#define GIVE_UP NULL

typedef struct {
    const unsigned char *p, *end;
    int depth, limit;                   /* frames open as the Decoder counts them; the most */
    PyObject *vm, *globals, *symbol_ids, *layouts, *compute, *string_cls, *array_cls,
        *integer_cls;
    PyObject **shared; Py_ssize_t nshared, capshared;   /* tag 28 slots; NULL = pending */
    PyObject **vals; Py_ssize_t nvals, capvals;         /* completed children of open containers */
    PyObject *dict_cls;                 /* the Dictionary class once a map is met, and ... */
    Py_ssize_t dict_at[4], dict_count;  /* ... its keyArray/valueArray/count/index, size */
    int dict_state;                     /* 0 not looked up, 1 ready, -1 unusable */
    PyObject *symbols;                  /* vm.symbols, once a Symbol key is compared */
} Reader;

static PyObject *item(Reader *r, Py_ssize_t slot);

/* -- making the VM's objects --------------------------------------------------------- */

static PyObject *word(long long w) { return PyLong_FromLongLong(w); }

static PyObject *new_string(Reader *r, PyObject *chars) {      /* steals chars */
    PyObject *o = chars ? vstring_type->tp_alloc(vstring_type, 0) : NULL;
    if (!o) { Py_XDECREF(chars); return NULL; }
    SLOT(o, vs_cls) = Py_NewRef(r->string_cls);
    SLOT(o, vs_chars) = chars;
    SLOT(o, vs_h) = Py_NewRef(INT_ZERO);
    return o;
}

static PyObject *new_array(Reader *r, PyObject *items) {       /* steals items; may be NULL */
    PyObject *o = varray_type->tp_alloc(varray_type, 0);
    if (!o) { Py_XDECREF(items); return NULL; }
    SLOT(o, va_cls) = Py_NewRef(r->array_cls);
    SLOT(o, va_ihash) = Py_NewRef(INT_ZERO);
    SLOT(o, va_items) = items;
    return o;
}

static PyObject *new_instance(PyObject *cls, Py_ssize_t count) {
    PyObject *fields = PyList_New(count), *o;
    if (!fields) return NULL;
    for (Py_ssize_t i = 0; i < count; i++) PyList_SET_ITEM(fields, i, Py_NewRef(NIL));
    o = instance_type->tp_alloc(instance_type, 0);
    if (!o) { Py_DECREF(fields); return NULL; }
    SLOT(o, in_cls) = Py_NewRef(cls);
    SLOT(o, in_fields) = fields;
    SLOT(o, in_ihash) = Py_NewRef(INT_ZERO);
    return o;                           /* ghosts stays unset, as __init__ leaves it */
}

static PyObject *integer(Reader *r, PyObject *n) {   /* steals n: make_int, bits checked */
    long long v; int overflow;
    PyObject *o;
    if (!n) return NULL;
    v = PyLong_AsLongLongAndOverflow(n, &overflow);
    if (v == -1 && PyErr_Occurred()) { Py_DECREF(n); return NULL; }
    if (!overflow && v >= SMALL_MIN && v <= SMALL_MAX) { Py_DECREF(n); return word(v + ZERO); }
    o = largeint_type->tp_alloc(largeint_type, 0);
    if (!o) { Py_DECREF(n); return NULL; }
    SLOT(o, li_cls) = Py_NewRef(r->integer_cls);
    SLOT(o, li_n) = n;
    return o;
}

static PyObject *inverted(PyObject *n) {           /* steals n: -1 - n */
    PyObject *m = n ? PyNumber_Invert(n) : NULL;
    Py_XDECREF(n);
    return m;
}

static PyObject *head_integer(Reader *r, uint64_t arg, int negative) {
    if (arg <= (uint64_t)SMALL_MAX)
        return word(negative ? ZERO - 1 - (long long)arg : ZERO + (long long)arg);
    return integer(r, negative ? inverted(PyLong_FromUnsignedLongLong(arg)) : PyLong_FromUnsignedLongLong(arg));
}

/* -- reading -------------------------------------------------------------------------- */

/* The head of the next item: 0, or -1 to give up (no item left, additional information
 * 28-31). Major type 7 answers its additional information unread. */
static int head(Reader *r, int *major, uint64_t *arg) {
    unsigned info;
    int size;
    if (r->p >= r->end) return -1;
    *major = *r->p >> 5;
    info = *r->p++ & 31;
    if (*major == 7 || info < 24) { *arg = info; return 0; }
    if (info > 27) return -1;
    size = 1 << (info - 24);
    if (r->end - r->p < size) return -1;
    uint64_t v = 0;
    for (int i = 0; i < size; i++) v = v << 8 | r->p[i];
    r->p += size;
    *arg = v;
    return 0;
}

/* The next item's head, which must be of this major type: its argument, or -1. */
static int expect(Reader *r, int wanted, uint64_t *arg) {
    int major;
    return head(r, &major, arg) < 0 || major != wanted ? -1 : 0;
}

static uint64_t left(Reader *r) { return (uint64_t)(r->end - r->p); }

/* Text of n bytes as a str (strict UTF-8), or NULL. */
static PyObject *text(Reader *r, uint64_t n) {
    PyObject *s;
    if (n > left(r)) return GIVE_UP;
    s = PyUnicode_DecodeUTF8((const char *)r->p, (Py_ssize_t)n, "strict");
    r->p += n;
    return s;
}

static int push(Reader *r) { return r->depth < r->limit ? ++r->depth : 0; }   /* one more frame */

static int room(PyObject ***items, Py_ssize_t used, Py_ssize_t *capacity) {   /* for one more */
    Py_ssize_t cap = *capacity ? *capacity * 2 : 64;
    PyObject **grown;
    if (used < *capacity) return 1;
    if (!(grown = PyMem_Realloc(*items, (size_t)cap * sizeof(PyObject *)))) { PyErr_NoMemory(); return 0; }
    *items = grown;
    *capacity = cap;
    return 1;
}

static int keep(Reader *r, PyObject *v) {          /* steals v onto the value stack */
    if (!room(&r->vals, r->nvals, &r->capvals)) { Py_DECREF(v); return 0; }
    r->vals[r->nvals++] = v;
    return 1;
}

static void fill(Reader *r, Py_ssize_t slot, PyObject *v) {   /* registers v if pending */
    if (slot >= 0 && !r->shared[slot]) r->shared[slot] = Py_NewRef(v);
}

static double half(const unsigned char *p) {       /* as wire_decoder._half */
    unsigned bits = (unsigned)p[0] << 8 | p[1], exponent = (bits >> 10) & 0x1F, mantissa = bits & 0x3FF;
    double v;
    if (exponent == 0) v = ldexp((double)mantissa, -24);
    else if (exponent == 31) {
        if (mantissa == 0) v = HUGE_VAL;
        else { uint64_t nan = 0x7FF8000000000000ULL; memcpy(&v, &nan, sizeof v); }   /* math.nan */
    } else v = ldexp((double)(mantissa + 1024), (int)exponent - 25);
    return bits & 0x8000 ? -v : v;
}

static PyObject *simple(Reader *r, uint64_t info) {
    const char *p = (const char *)r->p;
    double v;
    if (info == 20 || info == 21) return Py_NewRef(info == 20 ? FALSE_ : TRUE_);
    if (info == 22 || info == 23) return Py_NewRef(NIL);
    if (info < 25 || info > 27 || left(r) < (2u << (info - 25))) return GIVE_UP;
    r->p += 2u << (info - 25);          /* as struct.unpack(">f"/">d") reads them */
    v = info == 25 ? half((const unsigned char *)p) : info == 26 ? PyFloat_Unpack4(p, 0) : PyFloat_Unpack8(p, 0);
    return v == -1.0 && PyErr_Occurred() ? NULL : PyFloat_FromDouble(v);
}

static PyObject *array(Reader *r, uint64_t n, Py_ssize_t slot) {
    PyObject *arr, *items;
    Py_ssize_t base = r->nvals;
    if (n > left(r) || (n && !push(r))) return GIVE_UP;
    arr = new_array(r, NULL);
    if (!arr) return NULL;
    fill(r, slot, arr);
    for (uint64_t i = 0; i < n; i++) {
        PyObject *v = item(r, -1);
        if (!v || !keep(r, v)) { Py_DECREF(arr); return NULL; }
    }
    items = PyList_New((Py_ssize_t)n);
    if (!items) { Py_DECREF(arr); return NULL; }
    if (n) memcpy(((PyListObject *)items)->ob_item, r->vals + base, (size_t)n * sizeof(PyObject *));
    r->nvals = base;
    SLOT(arr, va_items) = items;
    if (n) r->depth--;
    return arr;
}

/* -- classes -------------------------------------------------------------------------- */

/* Whether entry was computed from cls's chain as it is now (field lists, layout). */
static int current(PyObject *entry, PyObject *cls) {
    PyObject *chain, *c = cls;
    Py_ssize_t i = 0, n;
    if (!PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != E_SIZE) return 0;
    chain = PyTuple_GET_ITEM(entry, E_CHAIN);
    if (!PyTuple_CheckExact(chain) || SLOT(cls, vc_layout) != PyTuple_GET_ITEM(entry, E_LAYOUT)) return 0;
    n = PyTuple_GET_SIZE(chain);
    while (c != Py_None) {
        if (Py_TYPE(c) != vclass_type || i >= n || !SLOT(c, vc_instance_fields)
                || SLOT(c, vc_instance_fields) != PyTuple_GET_ITEM(chain, i)) return 0;
        c = SLOT(c, vc_superclass);
        if (!c) return 0;
        i++;
    }
    return i == n && PyDict_CheckExact(PyTuple_GET_ITEM(entry, E_POSITIONS))
        && PyLong_CheckExact(PyTuple_GET_ITEM(entry, E_COUNT));
}

/* The class's layout entry (a new reference), from the cache or the callback. */
static PyObject *layout(Reader *r, PyObject *cls) {
    PyObject *entry = PyDict_GetItemWithError(r->layouts, cls);
    if (entry && current(entry, cls)) return Py_NewRef(entry);
    if (PyErr_Occurred()) return NULL;
    entry = PyObject_CallFunctionObjArgs(r->compute, r->vm, cls, NULL);
    if (entry && !current(entry, cls)) Py_CLEAR(entry);
    return entry;
}

/* A global's class, as Decoder.find_class answers it when it is already loaded
 * (borrowed), or NULL: a name to load, or not a class, is the Python paths' to do. */
static PyObject *loaded_class(Reader *r, PyObject *name) {
    PyObject *cls = PyDict_GetItemWithError(r->globals, name);
    return cls && Py_TYPE(cls) == vclass_type ? cls : NULL;
}

static Py_ssize_t position(PyObject *positions, PyObject *name, Py_ssize_t count) {
    PyObject *at = PyDict_GetItemWithError(positions, name);
    Py_ssize_t i = at && PyLong_CheckExact(at) ? PyLong_AsSsize_t(at) : -1;
    return i >= 0 && i < count ? i : -1;
}

static int dictionary_ready(Reader *r) {
    PyObject *cls, *entry, *positions;
    if (r->dict_state) return r->dict_state > 0;
    r->dict_state = -1;
    cls = loaded_class(r, S_DICTIONARY);
    if (!cls) return 0;
    Py_INCREF(cls);
    entry = layout(r, cls);
    if (!entry || PyTuple_GET_ITEM(entry, E_PLAIN) != Py_True) goto fail;
    positions = PyTuple_GET_ITEM(entry, E_POSITIONS);
    r->dict_count = PyLong_AsSsize_t(PyTuple_GET_ITEM(entry, E_COUNT));
    for (int k = 0; k < 4; k++)
        if ((r->dict_at[k] = position(positions, S_KEYS[k], r->dict_count)) < 0) goto fail;
    Py_DECREF(entry);
    r->dict_cls = cls;
    r->dict_state = 1;
    return 1;
fail:
    Py_XDECREF(entry);
    Py_DECREF(cls);
    return 0;
}

/* -- maps ----------------------------------------------------------------------------- */

/* 1 when no two of the n keys (every other value from kv) are equal as
 * Decoder.refuse_duplicates decides; 0 for a duplicate or a key it leaves to Python. */
static int distinct(Reader *r, PyObject **kv, Py_ssize_t n) {
    PyObject *sets[2] = {NULL, NULL};   /* numbers by value (1 = 1.0), texts by characters */
    unsigned words = 0;                 /* nil, true, false: each equal only to itself */
    int ok = 0;
    if (n < 2) return 1;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *key = kv[2 * i], *eq;
        int text = 0, overflow;
        if (PyLong_CheckExact(key)) {
            long long w = PyLong_AsLongLongAndOverflow(key, &overflow);
            unsigned bit = w == NIL_W ? 1 : w == TRUE_W ? 2 : w == FALSE_W ? 4 : 0;
            if (overflow) goto done;
            if (w >= ZERO + SMALL_MIN && w <= ZERO + SMALL_MAX) eq = word(w - ZERO);
            else if (w >= SYM_BASE && w < SYM_LIMIT) {
                if (!r->symbols && !(r->symbols = PyObject_GetAttr(r->vm, S_SYMBOLS))) goto done;
                if (!PyList_CheckExact(r->symbols) || w - SYM_BASE >= PyList_GET_SIZE(r->symbols)) goto done;
                eq = Py_NewRef(PyList_GET_ITEM(r->symbols, w - SYM_BASE));
                text = 1;
            } else if (bit && !(words & bit)) { words |= bit; continue; }
            else goto done;
        } else if (PyFloat_CheckExact(key)) {
            if (isnan(PyFloat_AS_DOUBLE(key))) continue;        /* NaN is never a duplicate */
            eq = Py_NewRef(key);
        } else if (Py_TYPE(key) == largeint_type && SLOT(key, li_n)) eq = Py_NewRef(SLOT(key, li_n));
        else if (Py_TYPE(key) == vstring_type && SLOT(key, vs_cls) == r->string_cls && SLOT(key, vs_chars)) {
            eq = Py_NewRef(SLOT(key, vs_chars));
            text = 1;
        } else goto done;
        if (!eq || (!sets[text] && !(sets[text] = PySet_New(NULL)))
                || PySet_Contains(sets[text], eq) != 0 || PySet_Add(sets[text], eq) < 0) {
            Py_XDECREF(eq);
            goto done;
        }
        Py_DECREF(eq);
    }
    ok = 1;
done:
    Py_XDECREF(sets[0]);
    Py_XDECREF(sets[1]);
    return ok;
}

static PyObject *map(Reader *r, uint64_t n, Py_ssize_t slot) {
    PyObject *dict, *keys = NULL, *values = NULL, *fields, *arrays[4];
    Py_ssize_t base = r->nvals, count = (Py_ssize_t)n, capacity = n ? count : 1;
    if (n > left(r) / 2 || !dictionary_ready(r) || (n && !push(r))) return GIVE_UP;
    dict = new_instance(r->dict_cls, r->dict_count);
    if (!dict) return NULL;
    fill(r, slot, dict);
    for (uint64_t i = 0; i < 2 * n; i++) {
        PyObject *v = item(r, -1);
        if (!v || !keep(r, v)) goto fail;
    }
    if (!distinct(r, r->vals + base, count)) goto fail;
    if (!(keys = PyList_New(capacity)) || !(values = PyList_New(capacity))) goto fail;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyList_SET_ITEM(keys, i, r->vals[base + 2 * i]);
        PyList_SET_ITEM(values, i, r->vals[base + 2 * i + 1]);
    }
    r->nvals = base;
    for (Py_ssize_t i = count; i < capacity; i++) {
        PyList_SET_ITEM(keys, i, Py_NewRef(NIL));
        PyList_SET_ITEM(values, i, Py_NewRef(NIL));
    }
    arrays[0] = new_array(r, keys);
    arrays[1] = new_array(r, values);
    arrays[2] = word(ZERO + count);
    arrays[3] = Py_NewRef(NIL);
    keys = values = NULL;
    fields = SLOT(dict, in_fields);
    for (int k = 0; k < 4; k++) {
        if (!arrays[k]) {
            for (int j = k; j < 4; j++) Py_XDECREF(arrays[j]);
            goto fail;
        }
        PyList_SetItem(fields, r->dict_at[k], arrays[k]);     /* a checked position */
    }
    if (n) r->depth--;
    return dict;
fail:
    Py_XDECREF(keys);
    Py_XDECREF(values);
    Py_DECREF(dict);
    return NULL;
}

/* -- tags ----------------------------------------------------------------------------- */

static int class_name(const unsigned char *p, uint64_t n) {   /* [A-Za-z][A-Za-z0-9_]* */
    if (n == 0 || !((p[0] | 32) >= 'a' && (p[0] | 32) <= 'z')) return 0;
    for (uint64_t i = 1; i < n; i++) {
        unsigned char c = p[i];
        if (!(((c | 32) >= 'a' && (c | 32) <= 'z') || (c >= '0' && c <= '9') || c == '_')) return 0;
    }
    return 1;
}

/* 51003 [class name, {field name: value}], as Decoder.new_object and set_field. */
static PyObject *object(Reader *r, Py_ssize_t slot) {
    uint64_t n;
    PyObject *name, *cls, *entry, *positions, *obj = NULL, *fields;
    Py_ssize_t count;
    if (expect(r, 4, &n) < 0 || n != 2 || !push(r) || expect(r, 3, &n) < 0 || n > left(r)
            || !class_name(r->p, n)) return GIVE_UP;
    if (!(name = text(r, n))) return NULL;
    cls = loaded_class(r, name);
    Py_DECREF(name);
    if (!cls) return GIVE_UP;
    Py_INCREF(cls);
    entry = layout(r, cls);
    if (!entry || PyTuple_GET_ITEM(entry, E_FROM_FIELDS) != Py_True) { Py_XDECREF(entry); Py_DECREF(cls); return NULL; }
    positions = PyTuple_GET_ITEM(entry, E_POSITIONS);
    count = PyLong_AsSsize_t(PyTuple_GET_ITEM(entry, E_COUNT));
    if (count >= 0) obj = new_instance(cls, count);
    Py_DECREF(cls);
    if (!obj) goto fail;
    fill(r, slot, obj);
    fields = SLOT(obj, in_fields);
    if (expect(r, 5, &n) < 0 || n > left(r) / 2 || (n && !push(r))) goto fail;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t size;
        Py_ssize_t at;
        PyObject *field, *v;
        if (expect(r, 3, &size) < 0 || !(field = text(r, size))) goto fail;
        at = position(positions, field, count);
        Py_DECREF(field);
        if (at < 0 || !(v = item(r, -1))) goto fail;
        if (PyList_SetItem(fields, at, v) < 0) goto fail;    /* the last one wins */
    }
    r->depth -= n ? 2 : 1;
    Py_DECREF(entry);
    return obj;
fail:
    Py_XDECREF(obj);
    Py_DECREF(entry);
    return NULL;
}

static PyObject *symbol(Reader *r) {
    uint64_t n;
    PyObject *name, *index, *v;
    if (expect(r, 3, &n) < 0 || !(name = text(r, n))) return GIVE_UP;
    index = PyDict_GetItemWithError(r->symbol_ids, name);
    if (index && PyLong_CheckExact(index)) {
        int overflow;
        long long i = PyLong_AsLongLongAndOverflow(index, &overflow);
        Py_DECREF(name);
        if (overflow || i < 0 || i >= SYM_LIMIT - SYM_BASE) return GIVE_UP;
        return word(SYM_BASE + i);
    }
    v = index || PyErr_Occurred() ? NULL : PyObject_CallMethodOneArg(r->vm, S_SYMBOL, name);
    Py_DECREF(name);
    return v;
}

static PyObject *bignum(Reader *r, int negative) {
    uint64_t n;
    PyObject *magnitude;
    if (expect(r, 2, &n) < 0 || n > left(r) || n > (uint64_t)MAX_INTEGER_BITS / 8) return GIVE_UP;
    magnitude = _PyLong_FromByteArray(r->p, (size_t)n, 0, 0);
    r->p += n;
    return integer(r, negative ? inverted(magnitude) : magnitude);
}

static PyObject *tag(Reader *r, uint64_t number, Py_ssize_t slot) {
    PyObject *v = NULL;
    uint64_t index;
    Py_ssize_t own;
    if (!push(r)) return GIVE_UP;
    switch (number) {
    case TAG_SHAREABLE:
        if (!room(&r->shared, r->nshared, &r->capshared)) return NULL;
        own = r->nshared++;
        r->shared[own] = NULL;
        v = item(r, own);
        if (v) fill(r, own, v);
        break;
    case TAG_SHAREDREF:
        if (expect(r, 0, &index) < 0 || index >= (uint64_t)r->nshared || !r->shared[index]) return GIVE_UP;
        v = Py_NewRef(r->shared[index]);
        break;
    case TAG_BIGNUM: case TAG_NEG_BIGNUM: v = bignum(r, number == TAG_NEG_BIGNUM); break;
    case TAG_SYMBOL: v = symbol(r); break;
    case TAG_OBJECT: v = object(r, slot); break;
    default: return GIVE_UP;
    }
    if (v) r->depth--;
    return v;
}

/* One item; slot is the tag-28 slot it must fill as soon as it exists, if it is a
 * container (or -1). */
static PyObject *item(Reader *r, Py_ssize_t slot) {
    int major;
    uint64_t arg;
    if (head(r, &major, &arg) < 0) return GIVE_UP;
    switch (major) {
    case 0: return head_integer(r, arg, 0);
    case 1: return head_integer(r, arg, 1);
    case 3: return new_string(r, text(r, arg));
    case 4: return array(r, arg, slot);
    case 5: return map(r, arg, slot);
    case 6: return tag(r, arg, slot);
    case 7: return simple(r, arg);
    default: return GIVE_UP;             /* a byte string outside a bignum */
    }
}

/* -- the module ----------------------------------------------------------------------- */

/* decode(state, vm, data, max_depth, globals, symbol_ids), state = (the sentinel, String,
 * Array, Integer, the layout cache, the layout callback): the value, or the sentinel. */
static PyObject *decode(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    Reader r;
    PyObject *state, *data, *v;
    long long max_depth = 0;
    int overflow = 0;
    (void)module;
    if (nargs != 6 || !PyTuple_CheckExact(args[0]) || PyTuple_GET_SIZE(args[0]) != 6
            || !PyDict_CheckExact(args[4]) || !PyDict_CheckExact(args[5])
            || !PyDict_CheckExact(PyTuple_GET_ITEM(args[0], 4)) || !instance_type) {
        PyErr_SetString(PyExc_TypeError, "decode(state, vm, data, max_depth, globals, symbol_ids) after setup()");
        return NULL;
    }
    state = args[0];
    data = args[2];
    memset(&r, 0, sizeof r);
    if (PyLong_Check(args[3])) max_depth = PyLong_AsLongLongAndOverflow(args[3], &overflow);
    if (overflow > 0) max_depth = HARD_DEPTH_LIMIT + 1;
    if (PyErr_Occurred()) PyErr_Clear();
    if (!PyBytes_CheckExact(data) || max_depth < 1) { v = NULL; goto out; }
    r.limit = max_depth - 1 < HARD_DEPTH_LIMIT ? (int)(max_depth - 1) : HARD_DEPTH_LIMIT;
    r.p = (const unsigned char *)PyBytes_AS_STRING(data);
    r.end = r.p + PyBytes_GET_SIZE(data);
    r.vm = args[1]; r.globals = args[4]; r.symbol_ids = args[5];
    r.layouts = PyTuple_GET_ITEM(state, 4); r.compute = PyTuple_GET_ITEM(state, 5);
    r.string_cls = PyTuple_GET_ITEM(state, 1); r.array_cls = PyTuple_GET_ITEM(state, 2);
    r.integer_cls = PyTuple_GET_ITEM(state, 3);
    v = item(&r, -1);
    if (v && r.p != r.end) Py_CLEAR(v);                     /* bytes after the value */
out:
    for (Py_ssize_t i = 0; i < r.nshared; i++) Py_XDECREF(r.shared[i]);
    for (Py_ssize_t i = 0; i < r.nvals; i++) Py_DECREF(r.vals[i]);
    PyMem_Free(r.shared);
    PyMem_Free(r.vals);
    Py_XDECREF(r.dict_cls);
    Py_XDECREF(r.symbols);
    if (v) return v;
    if (PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_Exception)) return NULL;
        PyErr_Clear();
    }
    return Py_NewRef(PyTuple_GET_ITEM(state, 0));
}

static int offset_of(PyTypeObject *type, const char *name, Py_ssize_t *offset) {
    PyObject *d = PyDict_GetItemString(type->tp_dict, name);
    PyMemberDef *m = d && Py_TYPE(d) == &PyMemberDescr_Type && ((PyDescrObject *)d)->d_type == type
        ? ((PyMemberDescrObject *)d)->d_member : NULL;
    if (!m || m->type != T_OBJECT_EX || (m->flags & READONLY)) {
        PyErr_Format(PyExc_TypeError, "%s.%s is not a writable object slot", type->tp_name, name);
        return -1;
    }
    *offset = m->offset;
    return 0;
}

/* setup((Instance, VArray, VString, LargeInt, VClass), (ZERO, SMALL_MIN, SMALL_MAX, NIL,
 * TRUE, FALSE, SYM_BASE, SYM_LIMIT, MAX_INTEGER_BITS)): once, before decode. */
static PyObject *setup(PyObject *module, PyObject *args) {
    static const struct { int type; const char *name; Py_ssize_t *offset; } slots[] = {
        {0, "cls", &in_cls}, {0, "fields", &in_fields}, {0, "ihash", &in_ihash}, {1, "cls", &va_cls},
        {1, "items", &va_items}, {1, "ihash", &va_ihash}, {2, "cls", &vs_cls}, {2, "chars", &vs_chars},
        {2, "h", &vs_h}, {3, "cls", &li_cls}, {3, "n", &li_n}, {4, "superclass", &vc_superclass},
        {4, "instance_fields", &vc_instance_fields}, {4, "layout", &vc_layout}};
    static long long *const constants[9] = {&ZERO, &SMALL_MIN, &SMALL_MAX, &NIL_W, &TRUE_W, &FALSE_W,
                                            &SYM_BASE, &SYM_LIMIT, &MAX_INTEGER_BITS};
    static PyTypeObject **const kinds[5] = {&instance_type, &varray_type, &vstring_type, &largeint_type,
                                            &vclass_type};
    PyObject *types, *words;
    (void)module;
    if (!PyArg_ParseTuple(args, "O!O!", &PyTuple_Type, &types, &PyTuple_Type, &words)) return NULL;
    if (PyTuple_GET_SIZE(types) != 5 || PyTuple_GET_SIZE(words) != 9) {
        PyErr_SetString(PyExc_TypeError, "setup(5 types, 9 constants)");
        return NULL;
    }
    for (int i = 0; i < 5; i++)
        if (!PyType_Check(PyTuple_GET_ITEM(types, i))) { PyErr_SetString(PyExc_TypeError, "not a type"); return NULL; }
    for (size_t i = 0; i < sizeof slots / sizeof slots[0]; i++)
        if (offset_of((PyTypeObject *)PyTuple_GET_ITEM(types, slots[i].type), slots[i].name, slots[i].offset) < 0)
            return NULL;
    for (int i = 0; i < 9; i++) {
        *constants[i] = PyLong_AsLongLong(PyTuple_GET_ITEM(words, i));
        if (*constants[i] == -1 && PyErr_Occurred()) return NULL;
    }
    if (ZERO + SMALL_MIN < 0 || SMALL_MAX < 0 || SYM_BASE >= SYM_LIMIT || MAX_INTEGER_BITS < 8) {
        PyErr_SetString(PyExc_ValueError, "unexpected value words");
        return NULL;
    }
    Py_XSETREF(NIL, Py_NewRef(PyTuple_GET_ITEM(words, 3)));
    Py_XSETREF(TRUE_, Py_NewRef(PyTuple_GET_ITEM(words, 4)));
    Py_XSETREF(FALSE_, Py_NewRef(PyTuple_GET_ITEM(words, 5)));
    for (int i = 0; i < 5; i++) *kinds[i] = (PyTypeObject *)Py_NewRef(PyTuple_GET_ITEM(types, i));
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"setup", setup, METH_VARARGS, "Tell the reader the VM's object types and value words (once)."},
    {"decode", (PyCFunction)(void (*)(void))decode, METH_FASTCALL,
     "decode(state, vm, data, max_depth, globals, symbol_ids): the value, or state[0] to give up."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_wire_c_decoder", "The wire reader's C accelerator (node/wire_c_decoding.py).",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__wire_c_decoder(void) {
    static const char *keys[4] = {"keyArray", "valueArray", "count", "index"};
    if (!INT_ZERO) {
        if (!(INT_ZERO = PyLong_FromLong(0)) || !(S_DICTIONARY = PyUnicode_InternFromString("Dictionary"))
                || !(S_SYMBOL = PyUnicode_InternFromString("symbol"))
                || !(S_SYMBOLS = PyUnicode_InternFromString("symbols"))) return NULL;
        for (int k = 0; k < 4; k++)
            if (!(S_KEYS[k] = PyUnicode_InternFromString(keys[k]))) return NULL;
    }
    return PyModule_Create(&module_def);
}
