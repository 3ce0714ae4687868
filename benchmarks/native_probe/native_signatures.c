/* A probe, not part of gradtui: benchmarks/native_probe.py builds it to weigh what native
 * code would save. tensor_signature and module_signature of gradtui/engine/var_signatures.py
 * written in C with the same reads of the same torch attributes, in the same order (the
 * batch-norm correction, SILENT, is left out: it is empty in the benchmark workloads). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
static PyObject *zero, *s_version, *s_grad_fn, *s_grad, *s_requires_grad, *s_retains_grad, *s_training, *s_params, *s_buffers, *s_modules;

static int get_version(PyObject *t, PyObject **out) {
    PyObject *v = PyObject_GetAttr(t, s_version);
    if (!v) { if (PyErr_ExceptionMatches(PyExc_RuntimeError)) { PyErr_Clear(); *out = PyLong_FromLong(-1); return *out ? 0 : -1; } return -1; }
    *out = v; return 0;
}
/* append ref to keep, return id(ref) as PyLong */
static PyObject *keep_ref(PyObject *obj, PyObject *keep) {
    PyObject *r = PyWeakref_NewRef(obj, NULL);
    if (!r) return NULL;
    if (PyList_Append(keep, r) < 0) { Py_DECREF(r); return NULL; }
    PyObject *id = PyLong_FromVoidPtr(r);
    Py_DECREF(r);
    return id;
}
static PyObject *tsig(PyObject *t, PyObject *keep) {
    PyObject *rid = NULL, *ver = NULL, *rg = NULL, *fn = NULL, *grad = NULL, *res = NULL, *gid = NULL, *gver = NULL;
    rid = keep_ref(t, keep); if (!rid) goto done;
    if (get_version(t, &ver) < 0) goto done;
    fn = PyObject_GetAttr(t, s_grad_fn); if (!fn) goto done;
    rg = PyObject_GetAttr(t, s_requires_grad); if (!rg) goto done;
    int read_grad = (fn == Py_None);
    if (!read_grad) {
        PyObject *rt = PyObject_GetAttr(t, s_retains_grad); if (!rt) goto done;
        read_grad = PyObject_IsTrue(rt); Py_DECREF(rt);
        if (read_grad < 0) goto done;
    }
    if (read_grad) { grad = PyObject_GetAttr(t, s_grad); if (!grad) goto done; }
    PyObject *fid = PyLong_FromVoidPtr(fn); if (!fid) goto done;
    if (!grad || grad == Py_None) {
        res = PyTuple_Pack(6, rid, ver, rg, fid, zero, zero);
    } else {
        gid = keep_ref(grad, keep); if (!gid) { Py_DECREF(fid); goto done; }
        if (get_version(grad, &gver) < 0) { Py_DECREF(fid); goto done; }
        res = PyTuple_Pack(6, rid, ver, rg, fid, gid, gver);
    }
    Py_DECREF(fid);
done:
    Py_XDECREF(rid); Py_XDECREF(ver); Py_XDECREF(rg); Py_XDECREF(fn); Py_XDECREF(grad); Py_XDECREF(gid); Py_XDECREF(gver);
    return res;
}
/* A parameter as the Python module_signature reads it: a leaf's five fields, else tsig. */
static PyObject *leaf_sig(PyObject *t, PyObject *keep) {
    PyObject *fn = PyObject_GetAttr(t, s_grad_fn);
    if (!fn) return NULL;
    if (fn != Py_None) { Py_DECREF(fn); return tsig(t, keep); }
    Py_DECREF(fn);
    PyObject *rid = NULL, *grad = NULL, *ver = NULL, *rg = NULL, *gid = NULL, *gver = NULL, *res = NULL;
    rid = keep_ref(t, keep); if (!rid) goto done;
    grad = PyObject_GetAttr(t, s_grad); if (!grad) goto done;
    if (get_version(t, &ver) < 0) goto done;
    rg = PyObject_GetAttr(t, s_requires_grad); if (!rg) goto done;
    if (grad == Py_None) {
        res = PyTuple_Pack(5, rid, ver, rg, zero, zero);
    } else {
        gid = keep_ref(grad, keep); if (!gid) goto done;
        if (get_version(grad, &gver) < 0) goto done;
        res = PyTuple_Pack(5, rid, ver, rg, gid, gver);
    }
done:
    Py_XDECREF(rid); Py_XDECREF(grad); Py_XDECREF(ver); Py_XDECREF(rg); Py_XDECREF(gid); Py_XDECREF(gver);
    return res;
}
static PyObject *py_tsig(PyObject *self, PyObject *args) {
    PyObject *t, *keep;
    if (!PyArg_ParseTuple(args, "OO!", &t, &PyList_Type, &keep)) return NULL;
    return tsig(t, keep);
}
static int extend(PyObject *parts, PyObject *tup) {
    Py_ssize_t n = PyTuple_GET_SIZE(tup);
    for (Py_ssize_t i = 0; i < n; i++) if (PyList_Append(parts, PyTuple_GET_ITEM(tup, i)) < 0) return -1;
    return 0;
}
/* The tensors of ``mod``'s dictionary ``attr`` (its parameters or buffers), each signed by
 * ``sign`` onto ``parts``; counted in ``count``. -1 with an exception set on failure. */
static int sign_members(PyObject *mod, PyObject *attr, PyObject *(*sign)(PyObject *, PyObject *),
                        PyObject *keep, PyObject *parts, Py_ssize_t *count) {
    PyObject *d = PyObject_GetAttr(mod, attr);
    if (!d) return -1;
    PyObject *key, *t; Py_ssize_t pos = 0;
    while (PyDict_Next(d, &pos, &key, &t)) {
        if (t == Py_None) continue;
        (*count)++;
        PyObject *sig = sign(t, keep);
        int failed = !sig || extend(parts, sig) < 0;
        Py_XDECREF(sig);
        if (failed) { Py_DECREF(d); return -1; }
    }
    Py_DECREF(d);
    return 0;
}
static PyObject *py_msig(PyObject *self, PyObject *args) {
    PyObject *m, *keep; Py_ssize_t maxm;
    if (!PyArg_ParseTuple(args, "OO!n", &m, &PyList_Type, &keep, &maxm)) return NULL;
    PyObject *parts = PyList_New(0), *seen = PySet_New(NULL), *stack = PyList_New(0), *res = NULL;
    if (!parts || !seen || !stack) goto done;
    PyObject *rid = keep_ref(m, keep); if (!rid) goto done;
    if (PyList_Append(parts, rid) < 0) { Py_DECREF(rid); goto done; } Py_DECREF(rid);
    PyObject *tr = PyObject_GetAttr(m, s_training); if (!tr) goto done;
    if (PyList_Append(parts, tr) < 0) { Py_DECREF(tr); goto done; } Py_DECREF(tr);
    Py_ssize_t count = 0;
    if (PyList_Append(stack, m) < 0) goto done;
    while (PyList_GET_SIZE(stack) && count < maxm) {
        Py_ssize_t last = PyList_GET_SIZE(stack) - 1;
        PyObject *mod = PyList_GET_ITEM(stack, last); Py_INCREF(mod);
        if (PyList_SetSlice(stack, last, last + 1, NULL) < 0) { Py_DECREF(mod); goto done; }
        if (mod == Py_None) { Py_DECREF(mod); continue; }
        PyObject *mid = PyLong_FromVoidPtr(mod);
        if (!mid) { Py_DECREF(mod); goto done; }
        int has = PySet_Contains(seen, mid);
        if (has) { Py_DECREF(mid); Py_DECREF(mod); if (has < 0) goto done; continue; }
        int added = PySet_Add(seen, mid); Py_DECREF(mid);
        if (added < 0) { Py_DECREF(mod); goto done; }
        if (sign_members(mod, s_params, leaf_sig, keep, parts, &count) < 0
                || sign_members(mod, s_buffers, tsig, keep, parts, &count) < 0) { Py_DECREF(mod); goto done; }
        PyObject *d = PyObject_GetAttr(mod, s_modules);
        Py_DECREF(mod);
        if (!d) goto done;
        PyObject *key, *t; Py_ssize_t pos = 0;
        while (PyDict_Next(d, &pos, &key, &t)) if (PyList_Append(stack, t) < 0) { Py_DECREF(d); goto done; }
        Py_DECREF(d);
    }
    res = PyList_AsTuple(parts);
done:
    Py_XDECREF(parts); Py_XDECREF(seen); Py_XDECREF(stack);
    return res;
}
static PyMethodDef methods[] = {
    {"tensor_signature", py_tsig, METH_VARARGS, NULL},
    {"module_signature", py_msig, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}};
static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, "native_signatures", NULL, -1, methods};
PyMODINIT_FUNC PyInit_native_signatures(void) {
    s_version = PyUnicode_InternFromString("_version"); s_grad_fn = PyUnicode_InternFromString("grad_fn");
    s_grad = PyUnicode_InternFromString("grad"); s_requires_grad = PyUnicode_InternFromString("requires_grad");
    s_retains_grad = PyUnicode_InternFromString("retains_grad"); s_training = PyUnicode_InternFromString("training");
    s_params = PyUnicode_InternFromString("_parameters"); s_buffers = PyUnicode_InternFromString("_buffers");
    s_modules = PyUnicode_InternFromString("_modules"); zero = PyLong_FromLong(0);
    return PyModule_Create(&mod);
}
