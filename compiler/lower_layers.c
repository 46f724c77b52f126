/* lower_layers.c - the layer and tensor builtins beyond dense: convolution,
 * pooling, normalization, dropout, shape ops, reductions, elementwise
 * pow/minimum/maximum, embedding, attention and recurrent layers.
 *
 * lower.c's lower_call tries its own table first, then this one. Each
 * builtin binds its arguments like dense does (pipe-friendly, keywords,
 * compile-time constants through lower_subst), creates its parameters with
 * get_param under the statement's layer name with PyTorch's suffixes, and
 * builds IR through ir_compose.c, so the parity tests check the very
 * graphs models run. The entry being lowered decides training behaviour:
 * batch_norm uses batch statistics and updates its running buffers, and
 * dropout masks, only in train_step; predict and eval_step use the running
 * statistics and pass dropout through. */
#include <math.h>
#include <string.h>

#include "ir_compose.h"
#include "lower_internal.h"

static const LVal none = {LV_NONE, NULL, 0, NULL};

static LVal tensor(IrValue *v) { return v ? (LVal){LV_TENSOR, v, 0, NULL} : none; }

/* ---- arguments ---------------------------------------------------------- */

static bool eval_int(Lower *l, const AstExpr *e, long long lo, long long hi, long long *out) {
    return sema_eval_int(l->diag, lower_subst(l, e), lo, hi, out);
}

static bool eval_num(Lower *l, const AstExpr *e, double *out) {
    return sema_eval_number(l->diag, lower_subst(l, e), out);
}

static bool eval_bool(Lower *l, const AstExpr *e, bool *out) {
    return sema_eval_bool(l->diag, lower_subst(l, e), out);
}

static IrValue *as_tensor(Lower *l, LVal v, SrcLoc loc, const char *what) {
    if (v.kind == LV_TENSOR) return v.tensor;
    if (v.kind == LV_NUMBER) return ir_build_const(l->func, v.number, loc);
    if (v.kind != LV_NONE) diag_error(l->diag, loc, "%s expects a tensor", what);
    return NULL;
}

static IrValue *need_tensor(Lower *l, LVal v, SrcLoc loc, const char *what) {
    if (v.kind == LV_TENSOR) return v.tensor;
    if (v.kind != LV_NONE) diag_error(l->diag, loc, "%s expects a tensor", what);
    return NULL;
}

static IrValue *tensor_arg(Lower *l, const AstExpr *e, const char *what) {
    if (!e) return NULL; /* missing: reported when binding */
    return need_tensor(l, lower_expr(l, e), e->loc, what);
}

/* Binds `spec` (spec[0] the tensor operand) and returns the operand. */
static IrValue *bind(Lower *l, const CallArgs *c, const SemaArgSpec *spec, int n,
                     const AstExpr **a) {
    LVal xv;
    SrcLoc xloc;
    if (!bind_layer_args(l, c, spec, n, &xv, &xloc, a)) return NULL;
    return need_tensor(l, xv, xloc, c->name);
}

/* An axis of a rank-`rank` tensor; negative counts from the end. */
static bool axis_arg(Lower *l, const AstExpr *e, int rank, int *out) {
    long long a;
    if (!eval_int(l, e, -rank, rank - 1, &a)) return false;
    *out = (int)(a < 0 ? a + rank : a);
    return true;
}

/* One axis or a list of axes as a bitmask. */
static bool axes_arg(Lower *l, const AstExpr *e, int rank, uint32_t *mask) {
    e = lower_subst(l, e);
    *mask = 0;
    if (e->kind != AST_EXPR_LIST) {
        int a;
        if (!axis_arg(l, e, rank, &a)) return false;
        *mask = 1u << a;
        return true;
    }
    for (size_t i = 0; i < e->as.list.len; i++) {
        int a;
        if (!axis_arg(l, e->as.list.items[i], rank, &a)) return false;
        *mask |= 1u << a;
    }
    if (!*mask) diag_error(l->diag, e->loc, "expected at least one axis");
    return *mask != 0;
}

static bool check_rank(Lower *l, const CallArgs *c, IrValue *x, int rank, const char *layout) {
    if (x->shape.rank == rank) return true;
    char b[96];
    diag_error(l->diag, c->loc, "%s expects %s, got %s", c->name, layout,
               ir_shape_str(x->shape, b, sizeof b));
    return false;
}

/* Where a layer's parameters come from: its own (named after the
 * statement, or name = "..."), or, with share = "NAME", those of the layer
 * NAME created earlier (same shapes; gradients of all uses add up). */
typedef struct Layer {
    const char *name;
    bool share;
} Layer;

static Layer layer_of(Lower *l, const AstExpr *name_arg, const AstExpr *share_arg, bool *ok) {
    Layer y = {NULL, false};
    const char *share = NULL;
    if (share_arg && !sema_eval_string(l->diag, lower_subst(l, share_arg), &share)) *ok = false;
    if (name_arg && share) {
        diag_error(l->diag, share_arg->loc, "give either name = or share =");
        *ok = false;
    }
    if (share) {
        l->layer_index++;
        y.name = arena_printf(l->arena, "%s%s", l->prefix, share);
        y.share = true;
    } else {
        y.name = next_layer_name(l, name_arg ? lower_subst(l, name_arg) : NULL, ok);
    }
    return y;
}

/* The parameter `<layer>.<suffix>`. */
static IrParam *param_of(Lower *l, const CallArgs *c, Layer y, const char *suffix, IrShape s,
                         IrInit init, int64_t fan_in, int64_t fan_out) {
    bool saved = l->sharing;
    l->sharing = saved || y.share;
    IrParam *p = get_param(l, arena_printf(l->arena, "%s.%s", y.name, suffix), s, init, fan_in,
                           fan_out, c->loc);
    l->sharing = saved;
    return p;
}

/* The same, as a value of the entry being lowered. */
static IrValue *param(Lower *l, const CallArgs *c, Layer y, const char *suffix, IrShape s,
                      IrInit init, int64_t fan_in, int64_t fan_out, bool buffer) {
    IrParam *p = param_of(l, c, y, suffix, s, init, fan_in, fan_out);
    if (!p) return NULL;
    if (buffer) p->buffer = true;
    return ir_build_param(l->func, p, c->loc);
}

static IrShape vec(int64_t n) { return ir_shape(1, &n); }

static bool training(const Lower *l) { return l->func->kind == IR_ENTRY_TRAIN; }

/* ---- convolution and pooling ------------------------------------------------ */

static LVal lower_conv2d(Lower *l, const CallArgs *c) {
    static const SemaArgSpec spec[] = {{"x", true},         {"out_channels", true}, {"kernel", true},
                                       {"stride", false},   {"padding", false},     {"dilation", false},
                                       {"groups", false},   {"bias", false},        {"init", false},
                                       {"name", false},     {"share", false}};
    const AstExpr *a[11];
    IrValue *x = bind(l, c, spec, 11, a);
    long long out, k, stride = 1, pad = 0, dil = 1, groups = 1;
    bool bias = true, ok = x != NULL, same = false;
    ok &= eval_int(l, a[1], 1, 1 << 24, &out);
    ok &= eval_int(l, a[2], 1, 1 << 12, &k);
    if (a[3]) ok &= eval_int(l, a[3], 1, 1 << 12, &stride);
    if (a[5]) ok &= eval_int(l, a[5], 1, 1 << 12, &dil);
    if (a[6]) ok &= eval_int(l, a[6], 1, 1 << 24, &groups);
    if (a[7]) ok &= eval_bool(l, a[7], &bias);
    if (a[4]) {
        const AstExpr *p = lower_subst(l, a[4]);
        if (p->kind == AST_EXPR_STRING) {
            const char *mode;
            ok &= sema_eval_string(l->diag, p, &mode);
            if (ok && strcmp(mode, "same") == 0) same = true;
            else if (ok && strcmp(mode, "valid") != 0) {
                diag_error(l->diag, p->loc, "conv2d's padding is a number, \"same\" or \"valid\"");
                ok = false;
            }
        } else {
            ok &= eval_int(l, p, 0, 1 << 12, &pad);
        }
    }
    IrInit init = a[8] ? parse_init(l, a[8], &ok) : IR_INIT_TORCH_DEFAULT;
    Layer name = layer_of(l, a[9], a[10], &ok);
    if (!ok || !check_rank(l, c, x, 4, "an [N, C, H, W] input")) return none;
    if (same) {
        if (stride != 1 || (dil * (k - 1)) % 2 != 0) {
            diag_error(l->diag, a[4]->loc, "padding = \"same\" needs stride 1 and an odd "
                                           "dilation * (kernel - 1) + 1");
            return none;
        }
        pad = dil * (k - 1) / 2;
    }
    int64_t cin = x->shape.dims[1];
    if (cin % groups != 0 || out % groups != 0) {
        diag_error(l->diag, c->loc, "conv2d: groups %lld must divide the %lld input and %lld "
                   "output channels", groups, (long long)cin, out);
        return none;
    }
    int64_t fan_in = cin / groups * k * k, fan_out = out / groups * k * k;
    IrValue *w = param(l, c, name, "weight", ir_shape(4, (int64_t[]){out, cin / groups, k, k}),
                       init, fan_in, fan_out, false);
    IrValue *b = NULL;
    if (bias) {
        IrInit bi = init == IR_INIT_TORCH_DEFAULT || init == IR_INIT_ONES ? init : IR_INIT_ZEROS;
        if (!(b = param(l, c, name, "bias", vec(out), bi, fan_in, fan_out, false))) return none;
    }
    if (!w) return none;
    return tensor(ir_conv2d(l->func, x, w, b, stride, pad, dil, groups, c->loc));
}

static LVal lower_pool(Lower *l, const CallArgs *c, bool avg) {
    static const SemaArgSpec spec[] = {{"x", true}, {"kernel", true}, {"stride", false},
                                       {"padding", false}};
    const AstExpr *a[4];
    IrValue *x = bind(l, c, spec, 4, a);
    long long k, stride, pad = 0;
    bool ok = x != NULL;
    ok &= eval_int(l, a[1], 1, 1 << 12, &k);
    stride = k;
    if (a[2]) ok &= eval_int(l, a[2], 1, 1 << 12, &stride);
    if (a[3]) ok &= eval_int(l, a[3], 0, 1 << 12, &pad);
    if (!ok || !check_rank(l, c, x, 4, "an [N, C, H, W] input")) return none;
    return tensor(ir_pool2d(l->func, x, k, stride, pad, avg, c->loc));
}

static LVal lower_global_avg_pool(Lower *l, const CallArgs *c) {
    static const SemaArgSpec spec[] = {{"x", true}};
    const AstExpr *a[1];
    IrValue *x = bind(l, c, spec, 1, a);
    if (!x) return none;
    if (x->shape.rank < 3) {
        char b[96];
        diag_error(l->diag, c->loc, "global_avg_pool expects [N, C, ...], got %s",
                   ir_shape_str(x->shape, b, sizeof b));
        return none;
    }
    uint32_t mask = (uint32_t)((1u << x->shape.rank) - 1) & ~3u;
    return tensor(ir_build_reduce(l->func, IR_OP_MEAN, x, mask, false, c->loc));
}

/* ---- normalization and dropout ------------------------------------------------ */

static LVal lower_batch_norm(Lower *l, const CallArgs *c) {
    static const SemaArgSpec spec[] = {{"x", true}, {"momentum", false}, {"eps", false},
                                       {"name", false}, {"share", false}};
    const AstExpr *a[5];
    IrValue *x = bind(l, c, spec, 5, a);
    double momentum = 0.1, eps = 1e-5;
    bool ok = x != NULL;
    if (a[1]) ok &= eval_num(l, a[1], &momentum);
    if (a[2]) ok &= eval_num(l, a[2], &eps);
    Layer name = layer_of(l, a[3], a[4], &ok);
    if (!ok) return none;
    if (x->shape.rank < 2 || x->shape.dims[1] == IR_BATCH) {
        diag_error(l->diag, c->loc, "batch_norm expects [N, C] or [N, C, ...]");
        return none;
    }
    int64_t ch = x->shape.dims[1];
    IrValue *w = param(l, c, name, "weight", vec(ch), IR_INIT_ONES, ch, ch, false);
    IrValue *b = w ? param(l, c, name, "bias", vec(ch), IR_INIT_ZEROS, ch, ch, false) : NULL;
    IrParam *rm = b ? param_of(l, c, name, "running_mean", vec(ch), IR_INIT_ZEROS, ch, ch) : NULL;
    IrParam *rv = rm ? param_of(l, c, name, "running_var", vec(ch), IR_INIT_ONES, ch, ch) : NULL;
    if (!rv) return none;
    rm->buffer = rv->buffer = true;
    if (!training(l))
        return tensor(ir_batch_norm_eval(l->func, x, w, b, ir_build_param(l->func, rm, c->loc),
                                         ir_build_param(l->func, rv, c->loc), eps, c->loc));
    IrValue *mean = NULL, *var = NULL;
    IrValue *y = ir_batch_norm_train(l->func, x, w, b, eps, &mean, &var, c->loc);
    if (!y || !mean || !var) return none;
    IrAttrs at = {0};
    at.f[0] = momentum;
    at.param = rm;
    ir_build(l->func, IR_OP_RUNNING_UPDATE, &mean, 1, &at, c->loc);
    at.param = rv;
    at.i[0] = 1; /* unbiased, like PyTorch's running_var */
    at.i[1] = ir_shape_row_elems(x->shape) / ch;
    if (!ir_shape_has_batch(x->shape)) at.i[1] = ir_shape_elems_static(x->shape) / ch;
    ir_build(l->func, IR_OP_RUNNING_UPDATE, &var, 1, &at, c->loc);
    return tensor(y);
}

static LVal lower_layer_norm(Lower *l, const CallArgs *c) {
    static const SemaArgSpec spec[] = {{"x", true}, {"eps", false}, {"affine", false},
                                       {"name", false}, {"share", false}};
    const AstExpr *a[5];
    IrValue *x = bind(l, c, spec, 5, a);
    double eps = 1e-5;
    bool affine = true, ok = x != NULL;
    if (a[1]) ok &= eval_num(l, a[1], &eps);
    if (a[2]) ok &= eval_bool(l, a[2], &affine);
    Layer name = layer_of(l, a[3], a[4], &ok);
    if (!ok || x->shape.rank < 1) return none;
    int64_t d = x->shape.dims[x->shape.rank - 1];
    IrValue *w = NULL, *b = NULL;
    if (affine) {
        w = param(l, c, name, "weight", vec(d), IR_INIT_ONES, d, d, false);
        b = param(l, c, name, "bias", vec(d), IR_INIT_ZEROS, d, d, false);
        if (!w || !b) return none;
    }
    return tensor(ir_layer_norm(l->func, x, w, b, eps, c->loc));
}

static LVal lower_dropout(Lower *l, const CallArgs *c) {
    static const SemaArgSpec spec[] = {{"x", true}, {"p", false}};
    const AstExpr *a[2];
    IrValue *x = bind(l, c, spec, 2, a);
    double p = 0.5;
    if (!x || (a[1] && !eval_num(l, a[1], &p))) return none;
    if (!(p >= 0 && p < 1)) {
        diag_error(l->diag, a[1]->loc, "dropout's p must be in [0, 1)");
        return none;
    }
    if (!training(l) || p == 0) return tensor(x);
    const cJSON *seed = l->prog->train_json ? cJSON_GetObjectItem(l->prog->train_json, "seed") : NULL;
    uint64_t s = cJSON_IsNumber(seed) ? (uint64_t)seed->valuedouble : 0;
    IrAttrs at = {0};
    at.f[0] = p;
    /* one stream per dropout site: the train seed and the value's id */
    at.i[0] = (int64_t)((s * 0x9E3779B97F4A7C15ULL) ^ ((uint64_t)(x->id + 1) * 0xC2B2AE3D27D4EB4FULL));
    return tensor(ir_build(l->func, IR_OP_DROPOUT, &x, 1, &at, c->loc));
}

/* ---- shape ops ----------------------------------------------------------------- */

static LVal lower_reshape(Lower *l, const CallArgs *c) {
    static const SemaArgSpec spec[] = {{"x", true}, {"shape", true}};
    const AstExpr *a[2];
    IrValue *x = bind(l, c, spec, 2, a);
    if (!x) return none;
    const AstExpr *e = lower_subst(l, a[1]);
    if (e->kind != AST_EXPR_LIST || e->as.list.len == 0 ||
        e->as.list.len + ir_shape_has_batch(x->shape) > IR_MAX_RANK) {
        diag_error(l->diag, e->loc, "reshape expects a list of dimensions (per sample), like [16, 7, 7]");
        return none;
    }
    bool batched = ir_shape_has_batch(x->shape);
    IrShape s = {0};
    if (batched) s.dims[s.rank++] = IR_BATCH;
    int infer = -1;
    int64_t known = 1;
    for (size_t i = 0; i < e->as.list.len; i++) {
        long long d;
        if (!eval_int(l, e->as.list.items[i], -1, 1LL << 31, &d)) return none;
        if (d == 0 || (d == -1 && infer >= 0)) {
            diag_error(l->diag, e->as.list.items[i]->loc, "dimensions are positive; at most one may be -1");
            return none;
        }
        if (d == -1) infer = s.rank;
        else known *= d;
        s.dims[s.rank++] = d;
    }
    int64_t total = ir_shape_row_elems(x->shape);
    if (infer >= 0) {
        if (total % known != 0) {
            diag_error(l->diag, c->loc, "reshape: %lld elements per sample do not divide by %lld",
                       (long long)total, (long long)known);
            return none;
        }
        s.dims[infer] = total / known;
    }
    return tensor(ir_build_to_shape(l->func, IR_OP_RESHAPE, x, s, c->loc));
}

static LVal lower_transpose(Lower *l, const CallArgs *c) {
    static const SemaArgSpec spec[] = {{"x", true}, {"dim0", false}, {"dim1", false}};
    const AstExpr *a[3];
    IrValue *x = bind(l, c, spec, 3, a);
    if (!x) return none;
    int r = x->shape.rank, d0 = r - 2, d1 = r - 1;
    if ((a[1] && !axis_arg(l, a[1], r, &d0)) || (a[2] && !axis_arg(l, a[2], r, &d1))) return none;
    if (r < 2) {
        diag_error(l->diag, c->loc, "transpose needs at least two axes");
        return none;
    }
    int64_t perm[IR_MAX_RANK];
    for (int i = 0; i < r; i++) perm[i] = i;
    perm[d0] = d1;
    perm[d1] = d0;
    return tensor(ir_permute(l->func, x, perm, c->loc));
}

static LVal lower_permute(Lower *l, const CallArgs *c) {
    static const SemaArgSpec spec[] = {{"x", true}, {"dims", true}};
    const AstExpr *a[2];
    IrValue *x = bind(l, c, spec, 2, a);
    if (!x) return none;
    const AstExpr *e = lower_subst(l, a[1]);
    int r = x->shape.rank;
    if (e->kind != AST_EXPR_LIST || (int)e->as.list.len != r) {
        diag_error(l->diag, e->loc, "permute expects a list of all %d axes (the batch axis 0 first)", r);
        return none;
    }
    int64_t perm[IR_MAX_RANK];
    for (int i = 0; i < r; i++) {
        int ax;
        if (!axis_arg(l, e->as.list.items[i], r, &ax)) return none;
        perm[i] = ax;
    }
    return tensor(ir_permute(l->func, x, perm, c->loc));
}

static LVal lower_concat(Lower *l, const CallArgs *c) {
    static const SemaArgSpec spec[] = {{"tensors", true}, {"axis", false}};
    const AstExpr *a[2] = {NULL, NULL};
    if (c->has_piped || !c->call) {
        diag_error(l->diag, c->loc, "concat takes a list: concat([a, b], axis)");
        return none;
    }
    if (!sema_bind_args(l->diag, c->call, spec, 2, a)) return none;
    if (a[0]->kind != AST_EXPR_LIST || a[0]->as.list.len < 1 || a[0]->as.list.len > 64) {
        diag_error(l->diag, a[0]->loc, "concat expects a list of 1 to 64 tensors: concat([a, b], axis)");
        return none;
    }
    int n = (int)a[0]->as.list.len;
    IrValue *xs[64];
    for (int i = 0; i < n; i++)
        if (!(xs[i] = tensor_arg(l, a[0]->as.list.items[i], "concat"))) return none;
    int axis = xs[0]->shape.rank - 1;
    if (a[1] && !axis_arg(l, a[1], xs[0]->shape.rank, &axis)) return none;
    return tensor(ir_concat(l->func, xs, n, axis, c->loc));
}

static LVal lower_slice(Lower *l, const CallArgs *c) {
    static const SemaArgSpec spec[] = {{"x", true}, {"axis", true}, {"start", true}, {"end", true}};
    const AstExpr *a[4];
    IrValue *x = bind(l, c, spec, 4, a);
    int axis;
    if (!x || !axis_arg(l, a[1], x->shape.rank, &axis)) return none;
    int64_t n = x->shape.dims[axis];
    long long b, e;
    if (!eval_int(l, a[2], -(1LL << 31), 1LL << 31, &b) || !eval_int(l, a[3], -(1LL << 31), 1LL << 31, &e))
        return none;
    if (n != IR_BATCH) {
        if (b < 0) b += n;
        if (e < 0) e += n;
    }
    return tensor(ir_slice(l->func, x, axis, b, e, c->loc));
}

/* ---- elementwise and reductions ----------------------------------------------------- */

static LVal lower_pow(Lower *l, const CallArgs *c) {
    static const SemaArgSpec spec[] = {{"x", true}, {"p", true}};
    const AstExpr *a[2];
    LVal xv;
    SrcLoc xloc;
    double p;
    if (!bind_layer_args(l, c, spec, 2, &xv, &xloc, a) || !eval_num(l, a[1], &p)) return none;
    if (xv.kind == LV_NUMBER) return (LVal){LV_NUMBER, NULL, pow(xv.number, p), NULL};
    IrValue *x = need_tensor(l, xv, xloc, "pow");
    return x ? tensor(ir_build_unary(l->func, IR_FN_POW, x, p, c->loc)) : none;
}

static LVal elementwise2(Lower *l, const CallArgs *c, IrOpKind op, LVal av, SrcLoc aloc,
                         const AstExpr *b) {
    LVal bv = lower_expr(l, b);
    if (av.kind == LV_NUMBER && bv.kind == LV_NUMBER) {
        double x = av.number, y = bv.number;
        return (LVal){LV_NUMBER, NULL, op == IR_OP_MAXIMUM ? fmax(x, y) : fmin(x, y), NULL};
    }
    IrValue *x = as_tensor(l, av, aloc, c->name), *y = as_tensor(l, bv, b->loc, c->name);
    return x && y ? tensor(ir_build_binary(l->func, op, x, y, c->loc)) : none;
}

static LVal lower_minmax2(Lower *l, const CallArgs *c, IrOpKind op) {
    static const SemaArgSpec spec[] = {{"a", true}, {"b", true}};
    const AstExpr *a[2];
    LVal av;
    SrcLoc aloc;
    if (!bind_layer_args(l, c, spec, 2, &av, &aloc, a)) return none;
    return elementwise2(l, c, op, av, aloc, a[1]);
}

/* sum, mean, max, min (x, axis = all, keepdims = false); max(a, b) and
 * min(a, b) with a tensor second argument are elementwise. */
static LVal lower_reduce(Lower *l, const CallArgs *c, IrOpKind op, bool negate) {
    static const SemaArgSpec spec[] = {{"x", true}, {"axis", false}, {"keepdims", false}};
    const AstExpr *a[3];
    LVal xv;
    SrcLoc xloc;
    if (!bind_layer_args(l, c, spec, 3, &xv, &xloc, a)) return none;
    if (op == IR_OP_REDUCE_MAX && a[1]) {
        const AstExpr *e = lower_subst(l, a[1]);
        bool axis_like = e->kind == AST_EXPR_NUMBER || e->kind == AST_EXPR_LIST ||
                         (e->kind == AST_EXPR_NEG && e->as.unary.operand->kind == AST_EXPR_NUMBER);
        if (!axis_like) return elementwise2(l, c, negate ? IR_OP_MINIMUM : IR_OP_MAXIMUM, xv, xloc, a[1]);
    }
    IrValue *x = need_tensor(l, xv, xloc, c->name);
    uint32_t mask = 0;
    bool keep = false;
    if (!x || (a[1] && !axes_arg(l, a[1], x->shape.rank, &mask)) || (a[2] && !eval_bool(l, a[2], &keep)))
        return none;
    if (negate) x = ir_build_unary(l->func, IR_FN_NEG, x, 0, c->loc);
    IrValue *y = ir_build_reduce(l->func, op, x, mask, keep, c->loc);
    if (negate) y = y ? ir_build_unary(l->func, IR_FN_NEG, y, 0, c->loc) : NULL;
    return tensor(y);
}

/* ---- sequences ----------------------------------------------------------------------- */

static LVal lower_embedding(Lower *l, const CallArgs *c) {
    static const SemaArgSpec spec[] = {{"ids", true}, {"num", true}, {"dim", true},
                                       {"name", false}, {"share", false}};
    const AstExpr *a[5];
    IrValue *ids = bind(l, c, spec, 5, a);
    long long num, dim;
    bool ok = ids != NULL;
    ok &= eval_int(l, a[1], 1, 1 << 26, &num);
    ok &= eval_int(l, a[2], 1, 1 << 20, &dim);
    Layer name = layer_of(l, a[3], a[4], &ok);
    if (!ok) return none;
    /* N(0, 1) like nn.Embedding: he_normal's sqrt(2 / fan_in) with fan_in 2 */
    IrValue *w = param(l, c, name, "weight", ir_shape2(num, dim), IR_INIT_HE_NORMAL, 2, dim, false);
    return w ? tensor(ir_build2(l->func, IR_OP_EMBEDDING, ids, w, c->loc)) : none;
}

static LVal lower_attention(Lower *l, const CallArgs *c) {
    static const SemaArgSpec spec[] = {{"q", true}, {"k", false}, {"v", false}};
    const AstExpr *a[3];
    IrValue *q = bind(l, c, spec, 3, a);
    if (!q) return none;
    IrValue *k = a[1] ? tensor_arg(l, a[1], "attention") : q;
    IrValue *v = a[2] ? tensor_arg(l, a[2], "attention") : k;
    if (!k || !v) return none;
    return tensor(ir_attention(l->func, q, k, v, c->loc));
}

static LVal lower_rnn(Lower *l, const CallArgs *c, bool gru) {
    static const SemaArgSpec spec[] = {{"x", true}, {"hidden", true}, {"sequence", false},
                                       {"bias", false}, {"name", false}, {"share", false}};
    const AstExpr *a[6];
    IrValue *x = bind(l, c, spec, 6, a);
    long long hidden;
    bool seq = true, bias = true, ok = x != NULL;
    ok &= eval_int(l, a[1], 1, 1 << 20, &hidden);
    if (a[2]) ok &= eval_bool(l, a[2], &seq);
    if (a[3]) ok &= eval_bool(l, a[3], &bias);
    Layer name = layer_of(l, a[4], a[5], &ok);
    if (!ok || !check_rank(l, c, x, 3, "a batch-first [N, T, features] input")) return none;
    int64_t g = (gru ? 3 : 4) * hidden, in = x->shape.dims[2];
    /* U(+-1/sqrt(hidden)) for every tensor, as nn.LSTM / nn.GRU */
    IrInit init = IR_INIT_TORCH_DEFAULT;
    IrValue *w_ih = param(l, c, name, "weight_ih_l0", ir_shape2(g, in), init, hidden, g, false);
    IrValue *w_hh = param(l, c, name, "weight_hh_l0", ir_shape2(g, hidden), init, hidden, g, false);
    IrValue *b_ih = NULL, *b_hh = NULL;
    if (bias) {
        b_ih = param(l, c, name, "bias_ih_l0", vec(g), init, hidden, g, false);
        b_hh = param(l, c, name, "bias_hh_l0", vec(g), init, hidden, g, false);
        if (!b_ih || !b_hh) return none;
    }
    if (!w_ih || !w_hh) return none;
    IrValue *y = gru ? ir_gru(l->func, x, w_ih, w_hh, b_ih, b_hh, seq, c->loc)
                     : ir_lstm(l->func, x, w_ih, w_hh, b_ih, b_hh, seq, c->loc);
    return tensor(y);
}

/* ---- the table ------------------------------------------------------------------------- */

typedef enum LayerKind {
    LK_CONV2D, LK_MAX_POOL, LK_AVG_POOL, LK_GLOBAL_AVG_POOL, LK_BATCH_NORM, LK_LAYER_NORM,
    LK_DROPOUT, LK_RESHAPE, LK_TRANSPOSE, LK_PERMUTE, LK_CONCAT, LK_SLICE, LK_POW, LK_MINIMUM,
    LK_MAXIMUM, LK_SUM, LK_MEAN, LK_MAX, LK_MIN, LK_EMBEDDING, LK_ATTENTION, LK_LSTM, LK_GRU,
} LayerKind;

static const struct {
    const char *name;
    LayerKind kind;
    bool params;
} layers[] = {
    {"conv2d", LK_CONV2D, true},          {"max_pool2d", LK_MAX_POOL, false},
    {"avg_pool2d", LK_AVG_POOL, false},   {"global_avg_pool", LK_GLOBAL_AVG_POOL, false},
    {"batch_norm", LK_BATCH_NORM, true},  {"layer_norm", LK_LAYER_NORM, true},
    {"dropout", LK_DROPOUT, false},       {"reshape", LK_RESHAPE, false},
    {"transpose", LK_TRANSPOSE, false},   {"permute", LK_PERMUTE, false},
    {"concat", LK_CONCAT, false},         {"slice", LK_SLICE, false},
    {"pow", LK_POW, false},               {"minimum", LK_MINIMUM, false},
    {"maximum", LK_MAXIMUM, false},       {"sum", LK_SUM, false},
    {"mean", LK_MEAN, false},             {"max", LK_MAX, false},
    {"min", LK_MIN, false},               {"embedding", LK_EMBEDDING, true},
    {"attention", LK_ATTENTION, false},   {"lstm", LK_LSTM, true},
    {"gru", LK_GRU, true},
};
enum { N_LAYERS = sizeof layers / sizeof layers[0] };

static int layer_find(const char *name) {
    for (int i = 0; name && i < N_LAYERS; i++)
        if (strcmp(layers[i].name, name) == 0) return i;
    return -1;
}

bool lower_layer_has_params(const char *name) {
    int i = layer_find(name);
    return i >= 0 && layers[i].params;
}

int lower_layer_names(const char **out, int max) {
    int n = 0;
    for (int i = 0; i < N_LAYERS && n < max; i++) out[n++] = layers[i].name;
    return n;
}

bool lower_layer_call(Lower *l, const CallArgs *c, LVal *out) {
    int i = layer_find(c->name);
    if (i < 0) return false;
    switch (layers[i].kind) {
    case LK_CONV2D: *out = lower_conv2d(l, c); break;
    case LK_MAX_POOL: *out = lower_pool(l, c, false); break;
    case LK_AVG_POOL: *out = lower_pool(l, c, true); break;
    case LK_GLOBAL_AVG_POOL: *out = lower_global_avg_pool(l, c); break;
    case LK_BATCH_NORM: *out = lower_batch_norm(l, c); break;
    case LK_LAYER_NORM: *out = lower_layer_norm(l, c); break;
    case LK_DROPOUT: *out = lower_dropout(l, c); break;
    case LK_RESHAPE: *out = lower_reshape(l, c); break;
    case LK_TRANSPOSE: *out = lower_transpose(l, c); break;
    case LK_PERMUTE: *out = lower_permute(l, c); break;
    case LK_CONCAT: *out = lower_concat(l, c); break;
    case LK_SLICE: *out = lower_slice(l, c); break;
    case LK_POW: *out = lower_pow(l, c); break;
    case LK_MINIMUM: *out = lower_minmax2(l, c, IR_OP_MINIMUM); break;
    case LK_MAXIMUM: *out = lower_minmax2(l, c, IR_OP_MAXIMUM); break;
    case LK_SUM: *out = lower_reduce(l, c, IR_OP_SUM, false); break;
    case LK_MEAN: *out = lower_reduce(l, c, IR_OP_MEAN, false); break;
    case LK_MAX: *out = lower_reduce(l, c, IR_OP_REDUCE_MAX, false); break;
    case LK_MIN: *out = lower_reduce(l, c, IR_OP_REDUCE_MAX, true); break;
    case LK_EMBEDDING: *out = lower_embedding(l, c); break;
    case LK_ATTENTION: *out = lower_attention(l, c); break;
    case LK_LSTM: *out = lower_rnn(l, c, false); break;
    case LK_GRU: *out = lower_rnn(l, c, true); break;
    }
    return true;
}
