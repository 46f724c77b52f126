/* ir_compose.h - layers built from IR ops: convolution, pooling,
 * normalization, attention, recurrent cells, and the data-movement
 * helpers they share. Lowering (lower_layers.c) and the parity tests call
 * the same builders, so what the tests check is what models run.
 *
 * Every builder appends values to `f`, takes tensors that may be NULL
 * (an earlier error: the result is NULL too, nothing new is reported) and
 * reports shape errors at `loc`. Layouts are PyTorch's: NCHW,
 * conv weight [out, in/groups, k, k], LSTM/GRU weights [gates*hidden, in]
 * with gate order i,f,g,o (LSTM) and r,z,n (GRU), batch-first sequences. */
#ifndef AAI_IR_COMPOSE_H
#define AAI_IR_COMPOSE_H

#include "ir.h"

IrValue *ir_reshape(IrFunc *f, IrValue *x, IrShape s, SrcLoc loc);
/* x[start:end] along `axis`. */
IrValue *ir_slice(IrFunc *f, IrValue *x, int axis, int64_t start, int64_t end, SrcLoc loc);
/* Joins n >= 1 tensors along `axis` (any n: groups of IR_MAX_INPUTS). */
IrValue *ir_concat(IrFunc *f, IrValue **xs, int n, int axis, SrcLoc loc);
IrValue *ir_permute(IrFunc *f, IrValue *x, const int64_t *perm, SrcLoc loc);
/* Row `row` of a [rows, C] block as a [C] vector. */
IrValue *ir_channel_row(IrFunc *f, IrValue *rows, int64_t row, SrcLoc loc);

/* conv2d: x[N,C,H,W], w[O,C/groups,k,k], bias[O] or NULL. */
IrValue *ir_conv2d(IrFunc *f, IrValue *x, IrValue *w, IrValue *bias, int64_t stride,
                   int64_t padding, int64_t dilation, int64_t groups, SrcLoc loc);
/* avg = false: max pooling (padding -inf); true: average (count_include_pad). */
IrValue *ir_pool2d(IrFunc *f, IrValue *x, int64_t kernel, int64_t stride, int64_t padding,
                   bool avg, SrcLoc loc);

/* batch_norm over every axis but 1 of x ([N,C] or [N,C,H,W]).
 * Training: batch statistics, biased variance, w and b [C] (both needed);
 * *mean / *var (may be NULL) receive the batch mean and biased variance
 * as [C]. */
IrValue *ir_batch_norm_train(IrFunc *f, IrValue *x, IrValue *w, IrValue *b, double eps,
                             IrValue **mean, IrValue **var, SrcLoc loc);
/* Inference: the running statistics rm, rv [C] (all of w, b, rm, rv needed). */
IrValue *ir_batch_norm_eval(IrFunc *f, IrValue *x, IrValue *w, IrValue *b, IrValue *rm,
                            IrValue *rv, double eps, SrcLoc loc);
/* layer_norm over the last axis; w, b [D] (either may be NULL). */
IrValue *ir_layer_norm(IrFunc *f, IrValue *x, IrValue *w, IrValue *b, double eps, SrcLoc loc);

/* softmax(q k^T / sqrt(d)) v; q[..,T,d], k[..,S,d], v[..,S,e]. */
IrValue *ir_attention(IrFunc *f, IrValue *q, IrValue *k, IrValue *v, SrcLoc loc);

/* Batch-first recurrent layers from a zero state over x[N,T,I]:
 * `sequence` returns every hidden state [N,T,H], else the last [N,H]. */
IrValue *ir_lstm(IrFunc *f, IrValue *x, IrValue *w_ih, IrValue *w_hh, IrValue *b_ih,
                 IrValue *b_hh, bool sequence, SrcLoc loc);
IrValue *ir_gru(IrFunc *f, IrValue *x, IrValue *w_ih, IrValue *w_hh, IrValue *b_ih,
                IrValue *b_hh, bool sequence, SrcLoc loc);

#endif
