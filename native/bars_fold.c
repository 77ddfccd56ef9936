/* _tickpipe_bars: the bars handler's hot loop in C: BarBuilder.add_fields' fast path (fold), and
 * the decode and plausibility checks of a KPL aggregate's ticks (kpl_ticks, below).
 *
 * fold(builder, values, start, schema_version) -> (next, action)
 *
 * Folds values[start:] (objects with the attributes of consumers.bars.decode.TickFields, or
 * kpl_ticks' ticks, read directly) into the builder for as long as each tick takes add_fields'
 * fast path (market/bars.py): a valid tick of the session day last seen, newer than every tick of its symbol, for the symbol's latest bar,
 * open and already holding ticks. It writes exactly what that path writes, into the same Python
 * lists, and stops:
 *   - before a tick that needs anything else (action 0): the caller folds it with add_fields;
 *   - after a tick whose symbol watermark reached its next due bar (action 1: the caller calls
 *     builder.advance) or whose shard watermark reached a session close (action 2: the caller
 *     calls builder.close_ended_sessions). It reads the builder's slots (_lo, _hi, _day, _ring_max) as
 *     its Python twin does: this module is the fold's other half, not a caller of BarBuilder.
 * market/bars_fold.py drives it and is the reference; tests/bars/test_bars_fold.py checks that both
 * give the same bars, state and counters. Only the stable ABI is used (one build serves 3.11+).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>
#include <structmember.h>  /* T_OBJECT, READONLY: the Tick type's members */
#include <stddef.h>
#include <math.h>

/* The turnover sum must round exactly as Python's does (a product, then a sum): no fused
 * multiply-add, which compilers may otherwise use where the CPU has one (arm64). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

/* list positions, as named in market/bars.py (checked by tests/bars/test_bars_fold.py) */
enum { S_DAY, S_LV, S_LT, S_DH, S_DL, S_WM, S_DUE, S_RING, S_BARS, S_PID, S_LEN };
enum { B_START, B_O, B_H, B_L, B_C, B_VCUM, B_TCUM, B_N, B_FTS, B_LTS, B_OI, B_REV, B_PV, B_PT,
       B_OT, B_OV, B_CT, B_CV, B_EMIT, B_UCUM, B_PU, B_LEN };
#define BAR_SECONDS 300

static PyObject *s_sym, *s_ts, *s_ltt, *s_ltp, *s_vol, *s_atp, *s_dh, *s_dl, *s_oi, *s_v;
static PyObject *s_syms, *s_lo, *s_hi, *s_day, *s_wm, *s_close_due, *s_ticks, *s_ring_max;

/* An exact int that fits in a long long, else 0 (and no error set). */
static int as_ll(PyObject *o, long long *out) {
    int overflow;
    if (o == NULL || !PyLong_CheckExact(o)) return 0;
    *out = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow || (*out == -1 && PyErr_Occurred())) { PyErr_Clear(); return 0; }
    return 1;
}

/* A float or an exact int as a double, else 0. */
static int as_d(PyObject *o, double *out) {
    if (o == NULL) return 0;
    if (PyFloat_CheckExact(o)) { *out = PyFloat_AsDouble(o); return 1; }
    if (PyLong_CheckExact(o)) {
        *out = PyLong_AsDouble(o);
        if (*out == -1.0 && PyErr_Occurred()) { PyErr_Clear(); return 0; }
        return 1;
    }
    return 0;
}

static int attr_ll(PyObject *obj, PyObject *name, long long *out) {
    PyObject *o = PyObject_GetAttr(obj, name);
    int ok;
    if (o == NULL) { PyErr_Clear(); return 0; }
    ok = as_ll(o, out);
    Py_DECREF(o);
    return ok;
}

/* list[i] = value (a new reference is taken). Returns -1 on error. */
static int put(PyObject *list, Py_ssize_t i, PyObject *value) {
    Py_INCREF(value);
    return PyList_SetItem(list, i, value);
}

static int put_ll(PyObject *list, Py_ssize_t i, long long v) {
    PyObject *o = PyLong_FromLongLong(v);
    if (o == NULL) return -1;
    return PyList_SetItem(list, i, o);
}

typedef struct {
    PyObject *sym, *ts, *ltt, *ltp, *vol, *atp, *dh, *dl, *oi, *v;
} Tick;

/* A tick decoded and checked by kpl_ticks (below): the fields the bars read, as attributes. */
enum { A_SYM, A_TS, A_LTT, A_LTP, A_VOL, A_ATP, A_DH, A_DL, A_OI, A_V, A_PID, A_COUNT };
static const char *ATTR_NAMES[A_COUNT] = {"sym", "ts", "ltt", "ltp", "vol", "atp", "dh", "dl", "oi", "v", "pid"};
typedef struct {
    PyObject_HEAD
    PyObject *f[A_COUNT];  /* never NULL once built: None for a null or absent field */
} TickObject;
static PyTypeObject *TickType;

static void tick_clear(Tick *t) {
    Py_XDECREF(t->sym); Py_XDECREF(t->ts); Py_XDECREF(t->ltt); Py_XDECREF(t->ltp);
    Py_XDECREF(t->vol); Py_XDECREF(t->atp); Py_XDECREF(t->dh); Py_XDECREF(t->dl);
    Py_XDECREF(t->oi); Py_XDECREF(t->v);
    memset(t, 0, sizeof(*t));
}

/* The tick's attributes (new references); 0 if one is missing (not a TickFields). */
static int tick_get(PyObject *v, Tick *t) {
    memset(t, 0, sizeof(*t));
    if (Py_TYPE(v) == TickType) {  /* kpl_ticks' own: its fields directly */
        PyObject **f = ((TickObject *)v)->f;
        t->sym = f[A_SYM]; t->ts = f[A_TS]; t->ltt = f[A_LTT]; t->ltp = f[A_LTP]; t->vol = f[A_VOL];
        t->atp = f[A_ATP]; t->dh = f[A_DH]; t->dl = f[A_DL]; t->oi = f[A_OI]; t->v = f[A_V];
        Py_INCREF(t->sym); Py_INCREF(t->ts); Py_INCREF(t->ltt); Py_INCREF(t->ltp); Py_INCREF(t->vol);
        Py_INCREF(t->atp); Py_INCREF(t->dh); Py_INCREF(t->dl); Py_INCREF(t->oi); Py_INCREF(t->v);
        return 1;
    }
    if (!(t->sym = PyObject_GetAttr(v, s_sym)) || !(t->ts = PyObject_GetAttr(v, s_ts))
        || !(t->ltt = PyObject_GetAttr(v, s_ltt)) || !(t->ltp = PyObject_GetAttr(v, s_ltp))
        || !(t->vol = PyObject_GetAttr(v, s_vol)) || !(t->atp = PyObject_GetAttr(v, s_atp))
        || !(t->dh = PyObject_GetAttr(v, s_dh)) || !(t->dl = PyObject_GetAttr(v, s_dl))
        || !(t->oi = PyObject_GetAttr(v, s_oi)) || !(t->v = PyObject_GetAttr(v, s_v))) {
        PyErr_Clear();
        tick_clear(t);
        return 0;
    }
    return 1;
}

static PyObject *fold(PyObject *self, PyObject *args) {
    PyObject *builder, *values, *syms = NULL, *result = NULL;
    Py_ssize_t start, k, n;
    long long schema, lo, hi, day, wm, close_due, ticks, ring_max;
    int action = 0;
    (void)self;
    if (!PyArg_ParseTuple(args, "OO!nL", &builder, &PyList_Type, &values, &start, &schema)) return NULL;
    if (!(syms = PyObject_GetAttr(builder, s_syms))) return NULL;
    if (!PyDict_Check(syms)) { PyErr_SetString(PyExc_TypeError, "builder.syms must be a dict"); goto done; }
    if (!attr_ll(builder, s_lo, &lo) || !attr_ll(builder, s_hi, &hi) || !attr_ll(builder, s_day, &day)
        || !attr_ll(builder, s_wm, &wm) || !attr_ll(builder, s_close_due, &close_due)
        || !attr_ll(builder, s_ticks, &ticks) || !attr_ll(builder, s_ring_max, &ring_max)) {
        result = Py_BuildValue("(ni)", start, 0);  /* not the ints it expects: add_fields does it all */
        goto done;
    }
    n = PyList_Size(values);
    if (start < 0) start = 0;
    for (k = start; k < n; k++) {
        Tick t;
        PyObject *s, *bars, *bar, *ring, *key;
        long long ts, et, kv, ver, b, lv, x, count, ct, cv, ot, ov, fts, lts, vcum, w, due;
        double ltp, h, l, ucum;
        Py_ssize_t nb;

        PyObject *item = PyList_GetItem(values, k);  /* borrowed */
        if (item == NULL) goto done;  /* the list shrank under us: IndexError */
        if (!tick_get(item, &t)) break;
        /* add_fields' checks and the fast path's conditions; anything else is add_fields' job */
        if (!as_ll(t.ts, &ts) || ts < 0 || !as_ll(t.v, &ver) || ver != schema || !as_ll(t.ltt, &et)
            || !as_ll(t.vol, &kv) || kv < 0 || !PyFloat_CheckExact(t.ltp)
            || !PyUnicode_CheckExact(t.sym)
            || !(t.atp == Py_None || PyFloat_CheckExact(t.atp))
            || !(t.dh == Py_None || PyFloat_CheckExact(t.dh))
            || !(t.dl == Py_None || PyFloat_CheckExact(t.dl))
            || !(t.oi == Py_None || PyLong_CheckExact(t.oi))) { tick_clear(&t); break; }
        b = et - (((et % BAR_SECONDS) + BAR_SECONDS) % BAR_SECONDS);  /* floor, as Python's % */
        if (!(lo <= b && b < hi)) { tick_clear(&t); break; }
        s = PyDict_GetItemWithError(syms, t.sym);  /* borrowed */
        if (s == NULL) { if (PyErr_Occurred()) { tick_clear(&t); goto done; } tick_clear(&t); break; }
        if (!PyList_CheckExact(s) || PyList_Size(s) != S_LEN || !as_ll(PyList_GetItem(s, S_DAY), &x) || x != day
            || !as_ll(PyList_GetItem(s, S_LV), &lv)) { tick_clear(&t); break; }
        if (!(kv > lv || (kv == lv && as_ll(PyList_GetItem(s, S_LT), &x) && et > x))) { tick_clear(&t); break; }
        bars = PyList_GetItem(s, S_BARS);
        if (!PyList_CheckExact(bars) || (nb = PyList_Size(bars)) == 0) { tick_clear(&t); break; }
        bar = PyList_GetItem(bars, nb - 1);
        if (!PyList_CheckExact(bar) || PyList_Size(bar) != B_LEN || !as_ll(PyList_GetItem(bar, B_START), &x)
            || x != b || !as_ll(PyList_GetItem(bar, B_N), &count) || count == 0
            || !as_ll(PyList_GetItem(bar, B_EMIT), &x) || x != 0) { tick_clear(&t); break; }
        /* every value the fold compares against, read once (and of the expected type) */
        if (!as_d(PyList_GetItem(bar, B_H), &h) || !as_d(PyList_GetItem(bar, B_L), &l)
            || !as_ll(PyList_GetItem(bar, B_CT), &ct) || !as_ll(PyList_GetItem(bar, B_CV), &cv)
            || !as_ll(PyList_GetItem(bar, B_OT), &ot) || !as_ll(PyList_GetItem(bar, B_OV), &ov)
            || !as_ll(PyList_GetItem(bar, B_FTS), &fts) || !as_ll(PyList_GetItem(bar, B_LTS), &lts)
            || !as_ll(PyList_GetItem(bar, B_VCUM), &vcum) || !PyFloat_CheckExact(PyList_GetItem(bar, B_UCUM))
            || !as_ll(PyList_GetItem(s, S_WM), &w)
            || !as_ll(PyList_GetItem(s, S_DUE), &due)
            || !PyList_CheckExact(PyList_GetItem(s, S_RING))
            || !(PyList_GetItem(s, S_DH) == Py_None || PyFloat_CheckExact(PyList_GetItem(s, S_DH)))
            || !(PyList_GetItem(s, S_DL) == Py_None || PyFloat_CheckExact(PyList_GetItem(s, S_DL)))) {
            tick_clear(&t); break;
        }

        /* the fold: add_fields' fast path, step by step */
        ticks += 1;
        if (ts > wm) wm = ts;
        if (put(s, S_LV, t.vol) < 0 || put(s, S_LT, t.ltt) < 0) goto fail;
        ring = PyList_GetItem(s, S_RING);
        if (!(key = PyTuple_Pack(3, t.ltt, t.vol, t.ltp))) goto fail;
        if (PyList_Append(ring, key) < 0) { Py_DECREF(key); goto fail; }
        Py_DECREF(key);
        if (PyList_Size(ring) > ring_max && PyList_SetSlice(ring, 0, 1, NULL) < 0) goto fail;
        ltp = PyFloat_AsDouble(t.ltp);
        if (ltp > h) { if (put(bar, B_H, t.ltp) < 0) goto fail; h = ltp; }
        else if (ltp < l) { if (put(bar, B_L, t.ltp) < 0) goto fail; l = ltp; }
        if (et > ct || (et == ct && kv >= cv)) {
            if (put(bar, B_C, t.ltp) < 0 || put(bar, B_CT, t.ltt) < 0 || put(bar, B_CV, t.vol) < 0) goto fail;
            if (t.oi != Py_None && put(bar, B_OI, t.oi) < 0) goto fail;
        } else if (et < ot || (et == ot && kv < ov)) {
            if (put(bar, B_O, t.ltp) < 0 || put(bar, B_OT, t.ltt) < 0 || put(bar, B_OV, t.vol) < 0) goto fail;
        }
        if (ts < fts) { if (put(bar, B_FTS, t.ts) < 0) goto fail; }
        else if (ts > lts) { if (put(bar, B_LTS, t.ts) < 0) goto fail; }
        if (put_ll(bar, B_N, count + 1) < 0) goto fail;
        if (t.dh != Py_None) {
            PyObject *sdh = PyList_GetItem(s, S_DH);
            double dh = PyFloat_AsDouble(t.dh);
            if (sdh == Py_None || dh > PyFloat_AsDouble(sdh)) {
                if (dh > h && put(bar, B_H, t.dh) < 0) goto fail;
                if (put(s, S_DH, t.dh) < 0) goto fail;
            }
        }
        if (t.dl != Py_None) {
            PyObject *sdl = PyList_GetItem(s, S_DL);
            double dl = PyFloat_AsDouble(t.dl);
            if (sdl == Py_None || dl < PyFloat_AsDouble(sdl)) {
                if (dl < l && put(bar, B_L, t.dl) < 0) goto fail;
                if (put(s, S_DL, t.dl) < 0) goto fail;
            }
        }
        if (kv > vcum) {
            PyObject *turnover;
            /* Python's int * float: the int converted to the nearest double, then multiplied */
            double traded = (double)(kv - vcum) * ltp;
            ucum = PyFloat_AsDouble(PyList_GetItem(bar, B_UCUM)) + traded;
            turnover = PyFloat_FromDouble(ucum);
            if (turnover == NULL || PyList_SetItem(bar, B_UCUM, turnover) < 0) goto fail;
            if (put(bar, B_VCUM, t.vol) < 0) goto fail;
            if (t.atp != Py_None) {
                turnover = PyFloat_FromDouble(PyFloat_AsDouble(t.atp) * (double)kv);
                if (turnover == NULL || PyList_SetItem(bar, B_TCUM, turnover) < 0) goto fail;
            } else if (put(bar, B_TCUM, Py_None) < 0) goto fail;
        }
        if (ts > w) { if (put(s, S_WM, t.ts) < 0) goto fail; w = ts; }
        tick_clear(&t);
        if (w >= due) { action = 1; k++; break; }
        if (wm >= close_due) { action = 2; k++; break; }
        continue;
    fail:
        tick_clear(&t);
        goto done;
    }
    {
        PyObject *o;
        if (!(o = PyLong_FromLongLong(ticks)) || PyObject_SetAttr(builder, s_ticks, o) < 0) { Py_XDECREF(o); goto done; }
        Py_DECREF(o);
        if (!(o = PyLong_FromLongLong(wm)) || PyObject_SetAttr(builder, s_wm, o) < 0) { Py_XDECREF(o); goto done; }
        Py_DECREF(o);
    }
    result = Py_BuildValue("(ni)", k, action);
done:
    Py_XDECREF(syms);
    return result;
}

/* ----- kpl_ticks: a KPL aggregate's tick records decoded and checked, for the fold -------------
 *
 * configure(rules, max_record_bytes)   (rules: a tuple of tuples)
 * kpl_ticks(buffer, start, end, latest, latest_ms, known_symbols) -> [tick, ...] or None
 *
 * Reads the AggregatedRecord protobuf in buffer[start:end] (the aggregate without its magic and md5)
 * and decodes each user record, a tick's JSON object, checking every field against the rules that
 * ``configure`` was given: consumers/bars/decode.py passes them once, made from market/tick.py, the
 * one place that defines the record's fields and their plausibility (no bound is written here). A
 * rule is (name, kind, required, lo, hi, clock, default):
 *   kind 'i': a JSON integer in lo..hi (0 <= lo, hi < 2**64);
 *   kind 'f': a JSON number, lo <= x <= hi, as a float; 'F': the same with lo < x;
 *   kind 's': a string of at most hi characters; 'y': the same, and one of ``known_symbols`` (a set
 *             of symbols whose shape Python checked: the shape is a regular expression);
 *   required: null or absent is not a tick; else either is ``default``;
 *   clock 1: at most ``latest`` (epoch s); clock 2: at most ``latest_ms`` (epoch ms).
 * The result holds one tick per record, with the fields the bars read as attributes (ATTR_NAMES).
 *
 * It reads only the plain shape the producer writes: ASCII strings without escapes, each field once,
 * no field the rules do not name, no minus sign (but an integer's -0). For anything else
 * (a broken aggregate, a record that is not a tick, or one that is but in another shape) it returns
 * None, and the general path (protobuf, msgspec and market.tick) decodes the aggregate and says what
 * is wrong. So it only has to be right on what it accepts, and the reasons have one source.
 * tests/bars/test_decode_native.py checks both paths agree on every record. Every read is
 * bounds-checked. Numbers are converted to the nearest double, as msgspec does: a decimal mantissa
 * of at most 2^53 scaled by a power of ten up to 10^22 is one correctly rounded IEEE operation
 * (Clinger's fast path), any other by Python's PyOS_string_to_double. */
static int varint(const unsigned char *p, Py_ssize_t n, Py_ssize_t *i, unsigned long long *out) {
    unsigned long long v = 0;
    int shift = 0;
    while (*i < n && shift < 64) {
        unsigned char c = p[(*i)++];
        v |= (unsigned long long)(c & 0x7f) << shift;
        if (!(c & 0x80)) { *out = v; return 1; }
        shift += 7;
    }
    return 0;
}

/* skip one field of wire type wt at *i; 0 if it does not fit */
static int skip(const unsigned char *p, Py_ssize_t n, Py_ssize_t *i, int wt) {
    unsigned long long v;
    switch (wt) {
    case 0: return varint(p, n, i, &v);
    case 1: if (n - *i < 8) return 0; *i += 8; return 1;
    case 2: if (!varint(p, n, i, &v) || v > (unsigned long long)(n - *i)) return 0; *i += (Py_ssize_t)v; return 1;
    case 5: if (n - *i < 4) return 0; *i += 4; return 1;
    default: return 0;
    }
}

#define MAX_RULES 64
#define MAX_NAME 32
/* a field's name as it is in JSON, no escape needed (one_tick compares the bytes) */
#define NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
typedef struct {
    char name[MAX_NAME];
    Py_ssize_t name_len;
    char kind;
    int required, clock, attr;         /* attr: ATTR_NAMES index, or -1 for a field only checked */
    unsigned long long lo, hi;         /* 'i' */
    double flo, fhi;                   /* 'f', 'F' */
    Py_ssize_t max_chars;              /* 's', 'y' */
    PyObject *dflt;                    /* null or absent, when not required */
} Rule;
static Rule rules[MAX_RULES];
static int nrules;
static Py_ssize_t max_record;
static const double POW10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static PyObject *configure(PyObject *self, PyObject *args) {
    PyObject *seq;
    Py_ssize_t n, i, limit;
    int attrs_seen[A_COUNT] = {0};
    (void)self;
    if (!PyArg_ParseTuple(args, "O!n", &PyTuple_Type, &seq, &limit)) return NULL;
    n = PyTuple_Size(seq);
    for (i = 0; i < nrules; i++) Py_CLEAR(rules[i].dflt);
    nrules = 0;
    if (n > MAX_RULES) { PyErr_SetString(PyExc_ValueError, "configure: too many fields"); goto fail; }
    for (i = 0; i < n; i++) {
        Rule r;
        PyObject *lo, *hi, *dflt;
        const char *name, *kind;
        Py_ssize_t name_len, kind_len, a;
        memset(&r, 0, sizeof r);
        if (!PyArg_ParseTuple(PyTuple_GetItem(seq, i), "s#s#pOOiO", &name, &name_len, &kind, &kind_len,
                              &r.required, &lo, &hi, &r.clock, &dflt))
            goto fail;
        if (name_len <= 0 || name_len >= MAX_NAME || strspn(name, NAME_CHARS) != (size_t)name_len || kind_len != 1
            || !strchr("ifFsy", kind[0]) || r.clock < 0 || r.clock > 2) {
            PyErr_Format(PyExc_ValueError, "configure: bad rule for field %s", name);
            goto fail;
        }
        memcpy(r.name, name, (size_t)name_len);
        r.name_len = name_len;
        r.kind = kind[0];
        if (r.kind == 'i') {
            r.lo = PyLong_AsUnsignedLongLong(lo);  /* OverflowError for a negative bound: not this reader's */
            if (!PyErr_Occurred()) r.hi = PyLong_AsUnsignedLongLong(hi);
        } else if (r.kind == 'f' || r.kind == 'F') {
            r.flo = PyFloat_AsDouble(lo);
            if (!PyErr_Occurred()) r.fhi = PyFloat_AsDouble(hi);
        } else {
            r.max_chars = PyLong_AsSsize_t(hi);
        }
        if (PyErr_Occurred()) goto fail;
        r.attr = -1;
        for (a = 0; a < A_COUNT; a++)
            if ((Py_ssize_t)strlen(ATTR_NAMES[a]) == name_len && !memcmp(ATTR_NAMES[a], name, (size_t)name_len)) {
                r.attr = (int)a;
                attrs_seen[a] = 1;
            }
        Py_INCREF(dflt);
        r.dflt = dflt;
        rules[nrules++] = r;
    }
    for (i = 0; i < A_COUNT; i++)
        if (!attrs_seen[i]) {
            PyErr_Format(PyExc_ValueError, "configure: no rule for field %s, which the bars read", ATTR_NAMES[i]);
            goto fail;
        }
    max_record = limit;
    Py_RETURN_NONE;
fail:
    for (i = 0; i < nrules; i++) Py_CLEAR(rules[i].dflt);
    nrules = 0;
    return NULL;
}

/* Strings already made, so that a tick's symbol and producer id are shared objects (and the symbol's
 * hash is computed once): a small table keyed by the bytes' hash; a symbol enters only once it is
 * known (its shape checked). An entry is overwritten by a colliding string: it is only a cache. */
#define CACHE_SLOTS 4096
static PyObject *sym_cache[CACHE_SLOTS];
static PyObject *text_cache[16];

static unsigned long hash_bytes(const unsigned char *s, Py_ssize_t n) {
    unsigned long h = 2166136261u;
    Py_ssize_t i;
    for (i = 0; i < n; i++) h = (h ^ s[i]) * 16777619u;
    return h;
}

/* The cached string equal to s[:n], or NULL. */
static PyObject *cached(PyObject **slot, const unsigned char *s, Py_ssize_t n) {
    Py_ssize_t len;
    const char *u;
    if (*slot == NULL) return NULL;
    u = PyUnicode_AsUTF8AndSize(*slot, &len);
    if (u == NULL) { PyErr_Clear(); return NULL; }
    return len == n && !memcmp(u, s, (size_t)n) ? *slot : NULL;
}

static PyObject *symbol(const unsigned char *s, Py_ssize_t n, PyObject *known, int *bail) {
    PyObject **slot = &sym_cache[hash_bytes(s, n) % CACHE_SLOTS], *o = cached(slot, s, n);
    int in;
    if (o) { Py_INCREF(o); return o; }
    if (!(o = PyUnicode_FromStringAndSize((const char *)s, n))) return NULL;
    if ((in = PySet_Contains(known, o)) <= 0) {
        Py_DECREF(o);
        if (in < 0) return NULL;
        *bail = 1;  /* a symbol Python has not checked: it checks it (decode._check) */
        return NULL;
    }
    Py_XDECREF(*slot);
    *slot = o;
    Py_INCREF(o);
    return o;
}

static PyObject *text(const unsigned char *s, Py_ssize_t n) {
    PyObject **slot = &text_cache[hash_bytes(s, n) % 16], *o = cached(slot, s, n);
    if (o) { Py_INCREF(o); return o; }
    if (!(o = PyUnicode_FromStringAndSize((const char *)s, n))) return NULL;
    Py_XDECREF(*slot);
    *slot = o;
    Py_INCREF(o);
    return o;
}

static int is_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* A JSON number without a sign at p[*i]; 0 if it is not one, or longer than MAX_NUMBER characters
 * (a minus sign too: no bound takes a negative number, and msgspec reads -0 as 0.0 but -0.0 as -0.0).
 * With need_value, *out is the nearest double. Without, the number need only be compared with the
 * bounds lo..hi, and *out may be an estimate within a relative 1e-12 of it (see in_bounds). */
#define MAX_NUMBER 40
#define ESTIMATE 1e-12
static int number(const unsigned char *p, Py_ssize_t n, Py_ssize_t *i, double *out, int need_value, int *estimated) {
    unsigned long long mant = 0;
    int frac = 0, exp = 0, exp_neg = 0, dropped = 0, inexact, e;
    Py_ssize_t j = *i;
    *estimated = 0;
    if (j >= n || !is_digit(p[j])) return 0;
    if (p[j] == '0' && j + 1 < n && is_digit(p[j + 1])) return 0;  /* leading zero: not JSON */
    /* mant: the leading digits while it is at most 2^53; the digits after it are dropped */
    for (; j < n && is_digit(p[j]); j++) {
        if (dropped || mant > (1ULL << 53)) dropped++;
        else mant = mant * 10 + (unsigned)(p[j] - '0');
    }
    if (j < n && p[j] == '.') {
        j++;
        if (j >= n || !is_digit(p[j])) return 0;
        for (; j < n && is_digit(p[j]); j++) {
            if (dropped || mant > (1ULL << 53)) { if (p[j] != '0') dropped = dropped ? dropped : -1; }
            else { mant = mant * 10 + (unsigned)(p[j] - '0'); frac++; }
        }
    }
    if (j < n && (p[j] == 'e' || p[j] == 'E')) {
        j++;
        if (j < n && (p[j] == '+' || p[j] == '-')) exp_neg = p[j++] == '-';
        if (j >= n || !is_digit(p[j])) return 0;
        for (; j < n && is_digit(p[j]); j++)
            if ((exp = exp * 10 + (p[j] - '0')) > 1000) return 0;
    }
    if (j - *i > MAX_NUMBER) return 0;
    /* the number is mant * 10^e exactly when nothing was dropped; else it is within mant..mant+1 times
     * 10^e, mant > 2^53: a relative 2^-53. mant is exact as a double up to 2^53. */
    e = (exp_neg ? -exp : exp) - frac + (dropped > 0 ? dropped : 0);
    inexact = dropped != 0 || mant > (1ULL << 53);
    if (e >= -22 && e <= 22 && (!inexact || !need_value)) {
        /* Clinger's fast path: both exact doubles, so one correctly rounded operation; or, inexact,
         * an estimate within 3 roundings and the drop: far inside ESTIMATE */
        *out = e < 0 ? (double)mant / POW10[-e] : (double)mant * POW10[e];
        *estimated = inexact;
    } else {  /* e.g. 100.14999999999999: Python's own correctly rounded conversion (dtoa.c) */
        char text[MAX_NUMBER + 1], *end;
        memcpy(text, p + *i, (size_t)(j - *i));
        text[j - *i] = '\0';
        *out = PyOS_string_to_double(text, &end, NULL);  /* out of range: +inf, no error */
        if (*out == -1.0 && PyErr_Occurred()) { PyErr_Clear(); return 0; }
        if (end != text + (j - *i)) return 0;
    }
    *i = j;
    return 1;
}

/* Whether a number is within the rule's bounds. An estimate (number() without need_value) decides
 * only when it is far enough inside them that the nearest double is too (rounding is monotonic and
 * the bounds are doubles); else (-1) the caller converts the number exactly. */
static int in_bounds(const Rule *r, double v, int estimated) {
    double lo = estimated ? v - fabs(v) * ESTIMATE : v, hi = estimated ? v + fabs(v) * ESTIMATE : v;
    if (estimated && !(lo > r->flo && hi < r->fhi)) return -1;
    return (r->kind == 'F' ? lo > r->flo : lo >= r->flo) && hi <= r->fhi;
}

/* A JSON integer at p[*i] that is at least 0 ("-0" is 0); 0 if not one, or if it has a fraction or
 * exponent, or does not fit 64 bits. */
static int integer(const unsigned char *p, Py_ssize_t n, Py_ssize_t *i, unsigned long long *out) {
    unsigned long long v = 0;
    Py_ssize_t j = *i;
    if (j + 1 < n && p[j] == '-' && p[j + 1] == '0') j++;  /* -0, or not JSON (-01), or -0.5: see below */
    if (j >= n || !is_digit(p[j])) return 0;
    if (p[j] == '0' && j + 1 < n && is_digit(p[j + 1])) return 0;
    for (; j < n && is_digit(p[j]); j++) {
        unsigned d = (unsigned)(p[j] - '0');
        if (v > (~0ULL - d) / 10) return 0;
        v = v * 10 + d;
    }
    if (j < n && (p[j] == '.' || p[j] == 'e' || p[j] == 'E')) return 0;
    *out = v;
    *i = j;
    return 1;
}

/* A JSON string of printable ASCII without escapes at p[*i] (after the quote is p[*i]); its bytes
 * are p[*start : *start + *len]. 0 if it is anything else. */
static int plain_string(const unsigned char *p, Py_ssize_t n, Py_ssize_t *i, Py_ssize_t *start, Py_ssize_t *len) {
    Py_ssize_t j = *i;
    if (j >= n || p[j] != '"') return 0;
    *start = ++j;
    for (; j < n && p[j] != '"'; j++)
        if (p[j] < 0x20 || p[j] >= 0x7f || p[j] == '\\') return 0;
    if (j >= n) return 0;
    *len = j - *start;
    *i = j + 1;
    return 1;
}

typedef struct {
    long long latest, latest_ms;
    PyObject *known, *out;
    int last_rule;
} Batch;

static int rule_of(Batch *b, const unsigned char *key, Py_ssize_t len) {
    int k, r;
    for (k = 0; k < nrules; k++) {
        r = (b->last_rule + 1 + k) % nrules;  /* fields come in the same order: the next one first */
        if (rules[r].name_len == len && !memcmp(rules[r].name, key, (size_t)len)) {
            b->last_rule = r;
            return r;
        }
    }
    return -1;
}

static int within_clock(const Rule *r, unsigned long long v, const Batch *b) {
    long long latest = r->clock == 1 ? b->latest : b->latest_ms;
    return r->clock == 0 || (latest >= 0 && v <= (unsigned long long)latest);
}

/* Decode one record into a TickObject appended to b->out: 1 done, 0 not this reader's (bail), -1 error. */
static int one_tick(Batch *b, const unsigned char *p, Py_ssize_t n) {
    PyObject *f[A_COUNT] = {NULL};
    unsigned long long seen = 0;
    Py_ssize_t i = 0;
    int k, status = 0;
    TickObject *t;
    if (n > max_record) return 0;
    b->last_rule = nrules - 1;
    while (i < n && is_ws(p[i])) i++;
    if (i >= n || p[i++] != '{') return 0;
    while (i < n && is_ws(p[i])) i++;
    if (i < n && p[i] == '}') goto done;  /* {}: no required field */
    for (;;) {
        Py_ssize_t ks, kl, ss, sl;
        const Rule *r;
        PyObject *value = NULL;
        int bail = 0;
        k = b->last_rule + 1 < nrules ? b->last_rule + 1 : 0;  /* fields come in order: the next one's name first */
        if (n - i >= rules[k].name_len + 2 && p[i] == '"' && p[i + 1 + rules[k].name_len] == '"'
            && !memcmp(p + i + 1, rules[k].name, (size_t)rules[k].name_len)) {
            i += rules[k].name_len + 2;
            b->last_rule = k;
        } else if (!plain_string(p, n, &i, &ks, &kl) || (k = rule_of(b, p + ks, kl)) < 0) goto done;
        if (seen & (1ULL << k)) goto done;  /* a field twice */
        seen |= 1ULL << k;
        r = &rules[k];
        while (i < n && is_ws(p[i])) i++;
        if (i >= n || p[i++] != ':') goto done;
        while (i < n && is_ws(p[i])) i++;
        if (i >= n) goto done;
        if (p[i] == 'n') {
            if (r->required || n - i < 4 || memcmp(p + i, "null", 4)) goto done;
            i += 4;
            if (r->attr >= 0) { value = r->dflt; Py_INCREF(value); }
        } else if (r->kind == 'i') {
            unsigned long long v;
            if (!integer(p, n, &i, &v) || v < r->lo || v > r->hi || !within_clock(r, v, b)) goto done;
            if (r->attr >= 0 && !(value = PyLong_FromUnsignedLongLong(v))) { status = -1; goto done; }
        } else if (r->kind == 'f' || r->kind == 'F') {
            double v;
            int estimated, within;
            Py_ssize_t at = i;
            if (!number(p, n, &i, &v, r->attr >= 0, &estimated)) goto done;
            if ((within = in_bounds(r, v, estimated)) < 0) {  /* near a bound: exactly, then */
                i = at;
                if (!number(p, n, &i, &v, 1, &estimated)) goto done;
                within = in_bounds(r, v, estimated);
            }
            if (!within) goto done;
            if (r->attr >= 0 && !(value = PyFloat_FromDouble(v))) { status = -1; goto done; }
        } else {
            if (!plain_string(p, n, &i, &ss, &sl) || sl > r->max_chars) goto done;
            if (r->kind == 'y') {
                if (!(value = symbol(p + ss, sl, b->known, &bail))) { status = bail ? 0 : -1; goto done; }
            } else if (r->attr >= 0 && !(value = text(p + ss, sl))) { status = -1; goto done; }
        }
        if (value != NULL) {
            if (r->attr >= 0) f[r->attr] = value;
            else Py_DECREF(value);
        }
        while (i < n && is_ws(p[i])) i++;
        if (i >= n) goto done;
        if (p[i] == '}') { i++; break; }
        if (p[i++] != ',') goto done;
        while (i < n && is_ws(p[i])) i++;
    }
    while (i < n && is_ws(p[i])) i++;
    if (i != n) goto done;  /* more after the object */
    for (k = 0; k < nrules; k++) {
        if (seen & (1ULL << k)) continue;
        if (rules[k].required) goto done;
        if (rules[k].attr >= 0) { f[rules[k].attr] = rules[k].dflt; Py_INCREF(rules[k].dflt); }
    }
    if (!(t = (TickObject *)PyObject_Malloc(sizeof(TickObject)))) { PyErr_NoMemory(); status = -1; goto done; }
    PyObject_Init((PyObject *)t, TickType);
    memcpy(t->f, f, sizeof f);
    memset(f, 0, sizeof f);
    status = PyList_Append(b->out, (PyObject *)t) < 0 ? -1 : 1;
    Py_DECREF(t);
done:
    for (k = 0; k < A_COUNT; k++) Py_XDECREF(f[k]);
    return status;
}

static void tick_dealloc(PyObject *o) {
    PyTypeObject *type = Py_TYPE(o);
    int k;
    for (k = 0; k < A_COUNT; k++) Py_XDECREF(((TickObject *)o)->f[k]);
    PyObject_Free(o);
    Py_DECREF(type);
}

/* Every user record of the aggregate: 1 all decoded into b->out, 0 not as expected, -1 error. */
static int each_record(const unsigned char *p, Py_ssize_t n, Batch *b) {
    Py_ssize_t i = 0, count = 0;
    while (i < n) {
        unsigned long long key, len;
        if (!varint(p, n, &i, &key)) return 0;
        if (key != 0x1a) { if (!skip(p, n, &i, (int)(key & 7))) return 0; continue; }  /* not a record */
        if (!varint(p, n, &i, &len) || len > (unsigned long long)(n - i)) return 0;
        {
            Py_ssize_t j = i, end = i + (Py_ssize_t)len, d0 = -1, dlen = 0;
            int status;
            while (j < end) {
                unsigned long long k2, l2;
                if (!varint(p, end, &j, &k2)) return 0;
                if (k2 == 0x1a) {  /* data */
                    if (!varint(p, end, &j, &l2) || l2 > (unsigned long long)(end - j)) return 0;
                    d0 = j; dlen = (Py_ssize_t)l2; j += dlen;  /* the last one wins, as in protobuf */
                } else if (!skip(p, end, &j, (int)(k2 & 7))) return 0;
            }
            if (d0 < 0) return 0;
            if ((status = one_tick(b, p + d0, dlen)) != 1) return status;
            count++;
            i = end;
        }
    }
    return count > 0;
}

static PyObject *kpl_ticks(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t start, end;
    Batch b;
    PyObject *result = NULL;
    int status;
    (void)self;
    memset(&b, 0, sizeof b);
    if (!PyArg_ParseTuple(args, "y*nnLLO!", &view, &start, &end, &b.latest, &b.latest_ms, &PySet_Type, &b.known))
        return NULL;
    if (start < 0 || end > view.len || start > end) {
        PyErr_SetString(PyExc_ValueError, "kpl_ticks: start/end outside the buffer");
        goto done;
    }
    if (nrules == 0) {
        PyErr_SetString(PyExc_RuntimeError, "kpl_ticks: configure() was not called");
        goto done;
    }
    if (!(b.out = PyList_New(0))) goto done;
    status = each_record((const unsigned char *)view.buf + start, end - start, &b);
    if (status == 1) { result = b.out; b.out = NULL; }
    else if (status == 0) { result = Py_None; Py_INCREF(result); }
done:
    Py_XDECREF(b.out);
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef methods[] = {
    {"fold", fold, METH_VARARGS,
     "fold(builder, values, start, schema_version) -> (next, action): add_fields' fast path over values[start:]."},
    {"configure", configure, METH_VARARGS,
     "configure(rules, max_record_bytes): the tick record's fields and bounds, for kpl_ticks."},
    {"kpl_ticks", kpl_ticks, METH_VARARGS,
     "kpl_ticks(buffer, start, end, latest, latest_ms, known_symbols) -> [tick, ...] or None: a KPL "
     "aggregate's ticks, decoded and checked."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_tickpipe_bars",
    "BarBuilder.add_fields' fast path and the decode of KPL aggregates of ticks in C (see market/bars_fold.py, "
    "consumers/bars/decode.py).",
    -1, methods, NULL, NULL, NULL, NULL,
};

#define INTERN(var, text) if (!(var = PyUnicode_InternFromString(text))) return NULL

PyMODINIT_FUNC PyInit__tickpipe_bars(void) {
    static PyMemberDef members[A_COUNT + 1];
    PyType_Slot slots[] = {{Py_tp_dealloc, (void *)tick_dealloc}, {Py_tp_members, members},
                           {Py_tp_doc, (void *)"A tick decoded by kpl_ticks: the fields the bars read."}, {0, NULL}};
    PyType_Spec spec = {"_tickpipe_bars.Tick", sizeof(TickObject), 0, Py_TPFLAGS_DEFAULT
#ifdef Py_TPFLAGS_DISALLOW_INSTANTIATION
                        | Py_TPFLAGS_DISALLOW_INSTANTIATION
#endif
                        , slots};
    PyObject *m;
    int k;
    INTERN(s_sym, "sym"); INTERN(s_ts, "ts"); INTERN(s_ltt, "ltt"); INTERN(s_ltp, "ltp");
    INTERN(s_vol, "vol"); INTERN(s_atp, "atp"); INTERN(s_dh, "dh"); INTERN(s_dl, "dl");
    INTERN(s_oi, "oi"); INTERN(s_v, "v");
    INTERN(s_syms, "syms"); INTERN(s_lo, "_lo"); INTERN(s_hi, "_hi"); INTERN(s_day, "_day");
    INTERN(s_wm, "wm"); INTERN(s_close_due, "close_due"); INTERN(s_ticks, "ticks");
    INTERN(s_ring_max, "_ring_max");
    for (k = 0; k < A_COUNT; k++) {
        members[k].name = ATTR_NAMES[k];
        members[k].type = T_OBJECT;
        members[k].offset = (Py_ssize_t)(offsetof(TickObject, f) + (size_t)k * sizeof(PyObject *));
        members[k].flags = READONLY;
    }
    if (!(TickType = (PyTypeObject *)PyType_FromSpec(&spec))) return NULL;
    if (!(m = PyModule_Create(&module))) return NULL;
    Py_INCREF((PyObject *)TickType);
    if (PyModule_AddObject(m, "Tick", (PyObject *)TickType) < 0) {
        Py_DECREF((PyObject *)TickType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
