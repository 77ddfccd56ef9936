/* _tickpipe_bars: BarBuilder.add_fields' fast path in C, for the bars handler's hot loop.
 *
 * fold(builder, values, start, schema_version) -> (next, action)
 *
 * Folds values[start:] (objects with the attributes of consumers.bars.decode.TickFields) into the
 * builder for as long as each tick takes add_fields' fast path (market/bars.py): a valid tick of
 * the session day last seen, newer than every tick of its symbol, for the symbol's latest bar,
 * open and already holding ticks. It writes exactly what that path writes, into the same Python
 * lists, and stops:
 *   - before a tick that needs anything else (action 0): the caller folds it with add_fields;
 *   - after a tick whose symbol watermark reached its next due bar (action 1: the caller calls
 *     builder._advance) or whose shard watermark reached a session close (action 2: the caller
 *     calls builder._close_sessions).
 * market/bars_fold.py drives it and is the reference; tests/bars/test_bars_fold.py checks that both
 * give the same bars, state and counters. Only the stable ABI is used (one build serves 3.11+).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

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

static void tick_clear(Tick *t) {
    Py_XDECREF(t->sym); Py_XDECREF(t->ts); Py_XDECREF(t->ltt); Py_XDECREF(t->ltp);
    Py_XDECREF(t->vol); Py_XDECREF(t->atp); Py_XDECREF(t->dh); Py_XDECREF(t->dl);
    Py_XDECREF(t->oi); Py_XDECREF(t->v);
    memset(t, 0, sizeof(*t));
}

/* The tick's attributes (new references); 0 if one is missing (not a TickFields). */
static int tick_get(PyObject *v, Tick *t) {
    memset(t, 0, sizeof(*t));
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

/* ----- kpl_join: the user records' data of a KPL aggregate as one JSON array ------------------
 *
 * kpl_join(buffer, start, end) -> (bytes, count, longest) or None
 *
 * Reads the AggregatedRecord protobuf in buffer[start:end] (the aggregate without its magic and md5)
 * and returns b"[" + data_0 + b"," + data_1 + ... + b"]", the number of records and the longest
 * record's length, so that one msgspec call decodes every tick without a bytes object per record.
 * Returns None for anything it does not expect (no records, a record without data, a wire type or
 * length that does not fit): consumers/bars/decode.py then parses the aggregate with protobuf, which
 * says what is wrong. Every read is bounds-checked. */
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

/* Walk the records; with out == NULL only count and measure. Returns 0 if the buffer is not as expected. */
static int walk(const unsigned char *p, Py_ssize_t n, char *out, Py_ssize_t *count, Py_ssize_t *total,
                Py_ssize_t *longest) {
    Py_ssize_t i = 0, pos = 1;
    *count = 0; *total = 0; *longest = 0;
    while (i < n) {
        unsigned long long key, len;
        if (!varint(p, n, &i, &key)) return 0;
        if (key != 0x1a) { if (!skip(p, n, &i, (int)(key & 7))) return 0; continue; }
        if (!varint(p, n, &i, &len) || len > (unsigned long long)(n - i)) return 0;
        {
            Py_ssize_t j = i, end = i + (Py_ssize_t)len, d0 = -1, dlen = 0;
            while (j < end) {
                unsigned long long k2, l2;
                if (!varint(p, end, &j, &k2)) return 0;
                if (k2 == 0x1a) {
                    if (!varint(p, end, &j, &l2) || l2 > (unsigned long long)(end - j)) return 0;
                    d0 = j; dlen = (Py_ssize_t)l2; j += dlen;  /* the last one wins, as in protobuf */
                } else if (!skip(p, end, &j, (int)(k2 & 7))) return 0;
            }
            if (d0 < 0) return 0;
            if (out) {
                if (*count) out[pos++] = ',';
                memcpy(out + pos, p + d0, (size_t)dlen);
                pos += dlen;
            }
            *total += dlen;
            if (dlen > *longest) *longest = dlen;
            *count += 1;
            i = end;
        }
    }
    return *count > 0;
}

static PyObject *kpl_join(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t start, end, count, total, longest, count2, total2, longest2;
    PyObject *joined = NULL, *result = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*nn", &view, &start, &end)) return NULL;
    if (start < 0 || end > view.len || start > end) {
        PyErr_SetString(PyExc_ValueError, "kpl_join: start/end outside the buffer");
        goto done;
    }
    {
        const unsigned char *p = (const unsigned char *)view.buf + start;
        Py_ssize_t n = end - start;
        char *out;
        if (!walk(p, n, NULL, &count, &total, &longest)) { result = Py_None; Py_INCREF(result); goto done; }
        if (!(joined = PyBytes_FromStringAndSize(NULL, total + count + 1))) goto done;
        out = PyBytes_AsString(joined);
        out[0] = '[';
        if (!walk(p, n, out, &count2, &total2, &longest2)) { result = Py_None; Py_INCREF(result); goto done; }
        out[total + count] = ']';
        result = Py_BuildValue("(Onn)", joined, count, longest);
    }
done:
    Py_XDECREF(joined);
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef methods[] = {
    {"fold", fold, METH_VARARGS,
     "fold(builder, values, start, schema_version) -> (next, action): add_fields' fast path over values[start:]."},
    {"kpl_join", kpl_join, METH_VARARGS,
     "kpl_join(buffer, start, end) -> (b'[d0,d1,...]', count, longest) or None: a KPL aggregate's user records."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_tickpipe_bars", "BarBuilder.add_fields' fast path in C (see market/bars_fold.py).",
    -1, methods, NULL, NULL, NULL, NULL,
};

#define INTERN(var, text) if (!(var = PyUnicode_InternFromString(text))) return NULL

PyMODINIT_FUNC PyInit__tickpipe_bars(void) {
    INTERN(s_sym, "sym"); INTERN(s_ts, "ts"); INTERN(s_ltt, "ltt"); INTERN(s_ltp, "ltp");
    INTERN(s_vol, "vol"); INTERN(s_atp, "atp"); INTERN(s_dh, "dh"); INTERN(s_dl, "dl");
    INTERN(s_oi, "oi"); INTERN(s_v, "v");
    INTERN(s_syms, "syms"); INTERN(s_lo, "_lo"); INTERN(s_hi, "_hi"); INTERN(s_day, "_day");
    INTERN(s_wm, "wm"); INTERN(s_close_due, "close_due"); INTERN(s_ticks, "ticks");
    INTERN(s_ring_max, "_ring_max");
    return PyModule_Create(&module);
}
