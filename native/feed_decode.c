/* _tickpipe_feed: fyers.feed.Feed._full_updates in C, the producer's hot path.
 *
 * full_updates(frame, offset, topics, ticks, rx_ms, seq, source, pid, version) -> (blocks, seq)
 *
 * Walks the data blocks of a data-feed frame whose size says every block may be a full-mode
 * update of 21 values (type 85: u8 type, u16 topic id little-endian, u8 count, 21 big-endian
 * int32), and for each one whose topic is bound and ``fast`` merges the values into the topic's
 * state (``raw``, a bytearray of the values' big-endian bytes; NO_VALUE 0x80000000 keeps the old
 * value) and appends the tick dict, exactly as the Python loop in fyers/feed.py does: the same
 * keys in the same order, prices as value / divisor. It stops at the first block that is anything
 * else and returns how many blocks it handled and the last sequence number; the Python general
 * path takes over from there. tests/fyers/test_feed_native.py checks both give the same ticks and
 * state. Only the stable ABI is used.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#define WIDTH 21      /* scrip values */
#define BLOCK (4 + 4 * WIDTH)
#define NO_VALUE 0x80000000u

/* tick record keys in market/tick.py order, and the scrip value each comes from (-1: not a value) */
enum { K_SYM, K_TS, K_LTT, K_LTP, K_LTQ, K_VOL, K_ATP, K_BID, K_ASK, K_BQ, K_AQ, K_TBQ, K_TSQ, K_OI,
       K_DH, K_DL, K_OP, K_PC, K_SRC, K_PID, K_SEQ, K_RX, K_V, K_COUNT };
static const char *KEY_NAMES[K_COUNT] = {"sym", "ts", "ltt", "ltp", "ltq", "vol", "atp", "bid", "ask", "bq",
                                         "aq", "tbq", "tsq", "oi", "dh", "dl", "op", "pc", "src", "pid",
                                         "seq", "rx", "v"};
/* fyers.codec.SCRIP_FIELDS order: ltp vol ltt ts bq aq bid ask ltq tbq tsq atp oi dl dh yh yl lc uc op pc */
static const int VALUE_OF[K_COUNT] = {-1, 3, 2, 0, 8, 1, 11, 6, 7, 4, 5, 9, 10, 12, 14, 13, 19, 20,
                                      -1, -1, -1, -1, -1};
static const int IS_PRICE[K_COUNT] = {0, 0, 0, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0};

static PyObject *keys[K_COUNT];
static PyObject *s_fast, *s_raw, *s_divisor, *s_sym;

static int32_t be32(const unsigned char *p) {
    return (int32_t)(((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3]);
}

static PyObject *full_updates(PyObject *self, PyObject *args) {
    PyObject *frame, *topics, *ticks, *rx, *source, *pid, *version;
    long long seq;
    Py_buffer view;
    Py_ssize_t done = 0, count, pos, offset;
    PyObject *result = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "OnO!O!OLOOO", &frame, &offset, &PyDict_Type, &topics, &PyList_Type, &ticks, &rx,
                          &seq, &source, &pid, &version))
        return NULL;
    if (PyObject_GetBuffer(frame, &view, PyBUF_SIMPLE) < 0) return NULL;
    if (offset < 0 || view.len < offset || (view.len - offset) % BLOCK) {
        PyErr_SetString(PyExc_ValueError, "frame size is not the header plus whole 21-value updates");
        goto done;
    }
    count = (view.len - offset) / BLOCK;
    for (pos = offset; done < count; done++, pos += BLOCK) {
        const unsigned char *b = (const unsigned char *)view.buf + pos;
        PyObject *tid, *t, *fast, *raw, *divisor_obj, *sym, *tick;
        unsigned char *state;
        double divisor;
        int32_t v[WIDTH];
        int i, k, isfast;

        if (b[0] != 85 || b[3] != WIDTH) break;
        if (!(tid = PyLong_FromLong((long)b[1] | ((long)b[2] << 8)))) goto done;
        t = PyDict_GetItemWithError(topics, tid);  /* borrowed */
        Py_DECREF(tid);
        if (t == NULL) { if (PyErr_Occurred()) goto done; break; }
        if (!(fast = PyObject_GetAttr(t, s_fast))) goto done;
        isfast = PyObject_IsTrue(fast);
        Py_DECREF(fast);
        if (isfast < 0) goto done;
        if (!isfast) break;
        if (!(raw = PyObject_GetAttr(t, s_raw))) goto done;
        if (!PyByteArray_Check(raw) || PyByteArray_Size(raw) != 4 * WIDTH) { Py_DECREF(raw); break; }
        if (!(divisor_obj = PyObject_GetAttr(t, s_divisor))) { Py_DECREF(raw); goto done; }
        divisor = PyFloat_AsDouble(divisor_obj);
        Py_DECREF(divisor_obj);
        if (divisor == -1.0 && PyErr_Occurred()) { Py_DECREF(raw); goto done; }
        /* the merge: a NO_VALUE lane keeps the old value */
        state = (unsigned char *)PyByteArray_AsString(raw);
        for (i = 0; i < WIDTH; i++) {
            const unsigned char *u = b + 4 + 4 * i;
            if ((uint32_t)be32(u) != NO_VALUE) memcpy(state + 4 * i, u, 4);
            v[i] = be32(state + 4 * i);
        }
        Py_DECREF(raw);
        if (!(sym = PyObject_GetAttr(t, s_sym))) goto done;
        if (!(tick = PyDict_New())) { Py_DECREF(sym); goto done; }
        seq += 1;
        for (k = 0; k < K_COUNT; k++) {
            PyObject *val;
            int rc;
            switch (k) {
                case K_SYM: val = sym; Py_INCREF(val); break;
                case K_SRC: val = source; Py_INCREF(val); break;
                case K_PID: val = pid; Py_INCREF(val); break;
                case K_RX: val = rx; Py_INCREF(val); break;
                case K_V: val = version; Py_INCREF(val); break;
                case K_SEQ: val = PyLong_FromLongLong(seq); break;
                default:  /* Python's int / float: the int32 as a double, divided */
                    val = IS_PRICE[k] ? PyFloat_FromDouble((double)v[VALUE_OF[k]] / divisor)
                                      : PyLong_FromLong((long)v[VALUE_OF[k]]);
            }
            if (val == NULL) { Py_DECREF(tick); Py_DECREF(sym); goto done; }
            rc = PyDict_SetItem(tick, keys[k], val);
            Py_DECREF(val);
            if (rc < 0) { Py_DECREF(tick); Py_DECREF(sym); goto done; }
        }
        Py_DECREF(sym);
        if (PyList_Append(ticks, tick) < 0) { Py_DECREF(tick); goto done; }
        Py_DECREF(tick);
    }
    result = Py_BuildValue("(nL)", done, seq);
done:
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef methods[] = {
    {"full_updates", full_updates, METH_VARARGS,
     "full_updates(frame, offset, topics, ticks, rx_ms, seq, source, pid, version) -> (blocks, seq)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_tickpipe_feed", "fyers.feed's full-update fast path in C (see fyers/feed.py).",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__tickpipe_feed(void) {
    int k;
    for (k = 0; k < K_COUNT; k++)
        if (!(keys[k] = PyUnicode_InternFromString(KEY_NAMES[k]))) return NULL;
    if (!(s_fast = PyUnicode_InternFromString("fast")) || !(s_raw = PyUnicode_InternFromString("raw"))
        || !(s_divisor = PyUnicode_InternFromString("divisor")) || !(s_sym = PyUnicode_InternFromString("sym")))
        return NULL;
    return PyModule_Create(&module);
}
