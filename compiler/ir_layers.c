/* ir_layers.c - the textual form and properties of the layer ops
 * (ir_ops.def, from IM2COL on); the printer in ir.c calls in here for
 * every op it has no case for. */
#include "ir.h"

int64_t ir_window_sweep(int64_t in, int64_t k, int64_t s, int64_t p, int64_t dil) {
    if (s < 1 || k < 1 || dil < 1 || p < 0) return 0;
    int64_t span = dil * (k - 1) + 1;
    if (in + 2 * p < span) return 0;
    return (in + 2 * p - span) / s + 1;
}

void ir_print_layer_attrs(FILE *out, const IrValue *v) {
    const int64_t *i = v->attr.i;
    switch (v->op) {
    case IR_OP_IM2COL:
    case IR_OP_COL2IM:
    case IR_OP_CONV2D:
    case IR_OP_CONV2D_GRAD_W:
        fprintf(out, " kernel=%lld stride=%lld padding=%lld dilation=%lld%s", (long long)i[0],
                (long long)i[1], (long long)i[2], (long long)i[3],
                v->op == IR_OP_CONV2D && i[4] ? " relu" : "");
        if (v->op == IR_OP_CONV2D && i[5] > 1) fprintf(out, " maxpool=%lld", (long long)i[5]);
        break;
    case IR_OP_POOL2D:
    case IR_OP_POOL2D_GRAD:
        fprintf(out, " %s kernel=%lld stride=%lld padding=%lld%s", i[3] ? "avg" : "max",
                (long long)i[0], (long long)i[1], (long long)i[2],
                v->op == IR_OP_POOL2D_GRAD && i[4] ? " relu" : "");
        break;
    case IR_OP_TRANSPOSE:
        fprintf(out, " perm=[");
        for (int k = 0; k < v->attr.shape.rank; k++)
            fprintf(out, "%s%lld", k ? "," : "", (long long)v->attr.shape.dims[k]);
        fprintf(out, "]");
        break;
    case IR_OP_LINEAR:
        if (i[0]) fprintf(out, " %s", ir_unary_name(v->attr.fn));
        break;
    case IR_OP_MATMUL_ACC:
        if (i[0]) fprintf(out, " trans_a");
        if (i[1]) fprintf(out, " trans_b");
        break;
    case IR_OP_CONCAT: fprintf(out, " axis=%lld", (long long)i[0]); break;
    case IR_OP_SLICE:
    case IR_OP_SLICE_GRAD:
    case IR_OP_SLICE_ADD:
        fprintf(out, " axis=%lld [%lld:%lld]", (long long)i[0], (long long)i[1], (long long)i[2]);
        break;
    case IR_OP_DROPOUT: fprintf(out, " p=%.9g seed=%lld", v->attr.f[0], (long long)i[0]); break;
    case IR_OP_BN_NORM:
    case IR_OP_BN_GRAD:
    case IR_OP_BN_GRAD_X:
        fprintf(out, " eps=%.9g%s%s", v->attr.f[0], v->op == IR_OP_BN_NORM && i[0] ? " fixed" : "",
                v->op == IR_OP_BN_NORM && i[1] ? " relu" : "");
        break;
    case IR_OP_RUNNING_UPDATE:
        fprintf(out, " \"%s\" momentum=%.9g%s", v->attr.param ? v->attr.param->name : "?",
                v->attr.f[0], i[0] ? " unbiased" : "");
        break;
    default: break;
    }
}

bool ir_op_updates_first_input(IrOpKind op) {
    return op == IR_OP_SLICE_ADD || op == IR_OP_MATMUL_ACC;
}

bool ir_op_has_effect(IrOpKind op) { return op == IR_OP_RUNNING_UPDATE; }
