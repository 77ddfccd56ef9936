/* _tickpipe_lines: JSON lines of flat records straight into Arrow column buffers (compaction's parse).
 *
 * columns(data, names, kinds, max_line) -> (rows, [column, ...]) or None
 *
 * ``names`` is a tuple of bytes (the columns), ``kinds`` one byte per column: 'i' int64, 'u' uint64,
 * 'f' float64, 's' utf8 string. A number column is (validity, values); a string column is
 * (validity, int32 offsets, data); validity is an Arrow bitmap (bit set = not null). A missing field
 * or a JSON null is null; a field not in ``names`` is skipped.
 *
 * It reads only the plain shape the producer writes (one object per line, no blank line, no line
 * over ``max_line`` bytes, scalar values, ASCII strings without escapes, integers in range of their
 * column, decimal numbers exactly representable by the fast path below, no repeated key). Anything
 * else returns None and the caller reads the object the general way (pyarrow's reader, then line by
 * line), so this only has to be right on what it accepts: the same values pyarrow's reader gives.
 * Floats: a decimal mantissa below 2^53 scaled by a power of ten up to 10^22 is one correctly rounded
 * IEEE operation (Clinger's fast path), so the result is the correctly rounded value, as pyarrow's.
 * tests/lake/test_parse_native.py checks both readers agree. Only the stable ABI is used.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_COLUMNS 64

static const double POW10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

typedef struct {
    char kind;
    const char *name;
    Py_ssize_t name_len;
    unsigned char *valid; /* bitmap */
    int64_t *values;      /* numbers (uint64 stored bit for bit) */
    int32_t *offsets;     /* strings */
    char *data;
    size_t data_len, data_cap;
} Column;

static int is_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* A JSON number at p (< end). Returns the position after it, or NULL if it is not one this reader
 * takes. Sets *ival (integers only: *is_int) or *dval. */
static const char *number(const char *p, const char *end, char kind, int64_t *out) {
    int neg = 0, digits = 0, frac_digits = 0, exp = 0, exp_neg = 0, exp_digits = 0;
    uint64_t mant = 0;
    int is_int = 1, overflow = 0;
    if (p < end && *p == '-') { neg = 1; p++; }
    if (p >= end || *p < '0' || *p > '9') return NULL;
    if (*p == '0' && p + 1 < end && p[1] >= '0' && p[1] <= '9') return NULL; /* leading zero: not JSON */
    while (p < end && *p >= '0' && *p <= '9') {
        unsigned d = (unsigned)(*p - '0');
        if (mant > (UINT64_MAX - d) / 10) overflow = 1; else mant = mant * 10 + d;
        digits++; p++;
    }
    if (p < end && *p == '.') {
        is_int = 0; p++;
        if (p >= end || *p < '0' || *p > '9') return NULL;
        while (p < end && *p >= '0' && *p <= '9') {
            unsigned d = (unsigned)(*p - '0');
            if (mant > (UINT64_MAX - d) / 10) overflow = 1; else mant = mant * 10 + d;
            frac_digits++; p++;
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        is_int = 0; p++;
        if (p < end && (*p == '+' || *p == '-')) { exp_neg = *p == '-'; p++; }
        if (p >= end || *p < '0' || *p > '9') return NULL;
        while (p < end && *p >= '0' && *p <= '9') {
            if (exp < 10000) exp = exp * 10 + (*p - '0');
            exp_digits++; p++;
        }
    }
    (void)digits; (void)exp_digits;
    if (overflow) return NULL;
    if (kind == 'i') {
        if (!is_int) return NULL;
        if (neg ? mant > (uint64_t)INT64_MAX + 1 : mant > (uint64_t)INT64_MAX) return NULL;
        *out = neg ? (int64_t)(0 - mant) : (int64_t)mant;
        return p;
    }
    if (kind == 'u') {
        if (!is_int || (neg && mant)) return NULL;
        *out = (int64_t)mant;
        return p;
    }
    /* 'f' */
    {
        int e = (exp_neg ? -exp : exp) - frac_digits;
        double v;
        if (mant > ((uint64_t)1 << 53) || e < -22 || e > 22) return NULL;
        v = (double)mant;
        v = e < 0 ? v / POW10[-e] : v * POW10[e];
        if (neg) v = -v;
        memcpy(out, &v, sizeof v);
        return p;
    }
}

/* 0 = appended, 0 > too long for int32 offsets (-2) or out of memory (-1) */
static int push_string(Column *c, const char *s, size_t n) {
    if (c->data_len + n > (size_t)INT32_MAX) return -2;
    if (c->data_len + n > c->data_cap) {
        size_t cap = c->data_cap ? c->data_cap * 2 : 4096;
        char *grown;
        while (cap < c->data_len + n) cap *= 2;
        grown = PyMem_Realloc(c->data, cap);
        if (!grown) return -1;
        c->data = grown;
        c->data_cap = cap;
    }
    memcpy(c->data + c->data_len, s, n);
    c->data_len += n;
    return 0;
}

/* Parse every line; 1 = done, 0 = not this reader's shape, -1 = out of memory. */
static int parse(const char *buf, Py_ssize_t len, Column *cols, int ncols, Py_ssize_t rows, Py_ssize_t max_line) {
    const char *p = buf, *end = buf + len;
    Py_ssize_t row;
    for (row = 0; row < rows; row++) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        uint64_t seen = 0, valued = 0; /* keys met; string columns given a value */
        int expect = 0, k;
        if (!eol) eol = end;
        if (eol - p > max_line) return 0;
        if (p >= eol || *p != '{') return 0; /* a line starts with its object, as compact.parse checks */
        p++;
        while (p < eol && is_ws((unsigned char)*p)) p++;
        if (p < eol && *p == '}') { p++; goto close; }
        for (;;) {
            const char *key, *q;
            Py_ssize_t key_len;
            int col = -1;
            if (p >= eol || *p != '"') return 0;
            key = ++p;
            while (p < eol && *p != '"' && *p != '\\' && (unsigned char)*p >= 0x20 && (unsigned char)*p < 0x80) p++;
            if (p >= eol || *p != '"') return 0;
            key_len = p - key;
            p++;
            /* keys usually come in column order: try the next one first */
            if (expect < ncols && cols[expect].name_len == key_len && !memcmp(cols[expect].name, key, (size_t)key_len))
                col = expect;
            else
                for (k = 0; k < ncols; k++)
                    if (cols[k].name_len == key_len && !memcmp(cols[k].name, key, (size_t)key_len)) { col = k; break; }
            while (p < eol && is_ws((unsigned char)*p)) p++;
            if (p >= eol || *p != ':') return 0;
            p++;
            while (p < eol && is_ws((unsigned char)*p)) p++;
            if (p >= eol) return 0;
            if (col >= 0) {
                if (seen & ((uint64_t)1 << col)) return 0; /* a repeated key */
                seen |= (uint64_t)1 << col;
                expect = col + 1;
            }
            if (*p == 'n') {
                if (eol - p < 4 || memcmp(p, "null", 4)) return 0;
                p += 4; /* null: as if missing */
            } else if (*p == '"') {
                const char *s = ++p;
                while (p < eol && *p != '"' && *p != '\\' && (unsigned char)*p >= 0x20 && (unsigned char)*p < 0x80) p++;
                if (p >= eol || *p != '"') return 0;
                if (col >= 0) {
                    Column *c = &cols[col];
                    if (c->kind != 's') return 0;
                    int pushed = push_string(c, s, (size_t)(p - s));
                    if (pushed == -2) return 0;
                    if (pushed < 0) return -1;
                    valued |= (uint64_t)1 << col;
                    c->offsets[row + 1] = (int32_t)c->data_len;
                    c->valid[row >> 3] |= (unsigned char)(1u << (row & 7));
                }
                p++;
            } else if (*p == '-' || (*p >= '0' && *p <= '9')) {
                int64_t v = 0;
                char kind = col >= 0 ? cols[col].kind : 'f';
                if (kind == 's') return 0;
                q = number(p, eol, kind, &v); /* an unknown field's number is read as a float, and dropped */
                if (!q) return 0;
                p = q;
                if (col >= 0) {
                    cols[col].values[row] = v;
                    cols[col].valid[row >> 3] |= (unsigned char)(1u << (row & 7));
                }
            } else {
                return 0; /* true, false, an object or an array */
            }
            while (p < eol && is_ws((unsigned char)*p)) p++;
            if (p < eol && *p == ',') {
                p++;
                while (p < eol && is_ws((unsigned char)*p)) p++;
                continue;
            }
            if (p < eol && *p == '}') { p++; break; }
            return 0;
        }
    close:
        while (p < eol && is_ws((unsigned char)*p)) p++;
        if (p != eol) return 0;
        for (k = 0; k < ncols; k++)
            if (cols[k].kind == 's' && !(valued & ((uint64_t)1 << k))) cols[k].offsets[row + 1] = (int32_t)cols[k].data_len;
        p = eol + 1;
    }
    return 1;
}

static PyObject *columns(PyObject *self, PyObject *args) {
    Py_buffer view;
    PyObject *names, *result = NULL, *list = NULL;
    const char *kinds;
    Py_ssize_t nkinds, max_line, rows = 0, i;
    Column cols[MAX_COLUMNS];
    int ncols, k, status;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*O!y#n", &view, &PyTuple_Type, &names, &kinds, &nkinds, &max_line)) return NULL;
    memset(cols, 0, sizeof cols);
    ncols = (int)nkinds;
    if (ncols > MAX_COLUMNS || PyTuple_Size(names) != nkinds) {
        PyErr_SetString(PyExc_ValueError, "names and kinds differ in length, or more than 64 columns");
        goto done;
    }
    if (view.len == 0) { Py_INCREF(Py_None); result = Py_None; goto done; }
    {
        const char *b = view.buf, *e = b + view.len, *q = b;
        while ((q = memchr(q, '\n', (size_t)(e - q))) != NULL) { rows++; q++; }
        if (b[view.len - 1] != '\n') rows++;
    }
    for (k = 0; k < ncols; k++) {
        PyObject *n = PyTuple_GetItem(names, k);
        char *s;
        if (!n || PyBytes_AsStringAndSize(n, &s, &cols[k].name_len) < 0) goto done;
        cols[k].name = s;
        cols[k].kind = kinds[k];
        if (strchr("iufs", kinds[k]) == NULL) { PyErr_SetString(PyExc_ValueError, "kind must be one of i u f s"); goto done; }
        cols[k].valid = PyMem_Calloc((size_t)(rows + 7) / 8 + 1, 1);
        if (kinds[k] == 's') cols[k].offsets = PyMem_Calloc((size_t)rows + 1, sizeof(int32_t));
        else cols[k].values = PyMem_Calloc((size_t)rows + 1, sizeof(int64_t));
        if (!cols[k].valid || (!cols[k].offsets && !cols[k].values)) { PyErr_NoMemory(); goto done; }
    }
    Py_BEGIN_ALLOW_THREADS
    status = parse(view.buf, view.len, cols, ncols, rows, max_line);
    Py_END_ALLOW_THREADS
    if (status < 0) { PyErr_NoMemory(); goto done; }
    if (status == 0) { Py_INCREF(Py_None); result = Py_None; goto done; }
    list = PyList_New(ncols);
    if (!list) goto done;
    for (k = 0; k < ncols; k++) {
        Column *c = &cols[k];
        PyObject *item;
        Py_ssize_t vlen = (rows + 7) / 8;
        if (c->kind == 's')
            item = Py_BuildValue("(y#y#y#)", (const char *)c->valid, vlen, (const char *)c->offsets,
                                 (Py_ssize_t)((size_t)(rows + 1) * sizeof(int32_t)), c->data ? c->data : "", (Py_ssize_t)c->data_len);
        else
            item = Py_BuildValue("(y#y#)", (const char *)c->valid, vlen, (const char *)c->values,
                                 (Py_ssize_t)((size_t)rows * sizeof(int64_t)));
        if (!item) goto done;
        PyList_SetItem(list, k, item);
    }
    result = Py_BuildValue("(nO)", rows, list);
done:
    Py_XDECREF(list);
    for (i = 0; i < MAX_COLUMNS; i++) {
        PyMem_Free(cols[i].valid);
        PyMem_Free(cols[i].values);
        PyMem_Free(cols[i].offsets);
        PyMem_Free(cols[i].data);
    }
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef methods[] = {
    {"columns", columns, METH_VARARGS, "columns(data, names, kinds, max_line) -> (rows, columns) or None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_tickpipe_lines", NULL, -1, methods,
                                    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__tickpipe_lines(void) { return PyModule_Create(&module); }
