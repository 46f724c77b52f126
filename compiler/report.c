/* report.c - resource report and budgets (see report.h). */
#include "report.h"

#include <stdlib.h>
#include <string.h>

#include "aairt_embed.h"
#include "manifest.h"

typedef struct Layer {
    const char *name;
    size_t len;     /* of name (a prefix of a parameter name) */
    int64_t params, flops, act_bytes;
} Layer;

static size_t layer_len(const char *param) {
    const char *dot = strrchr(param, '.');
    return dot ? (size_t)(dot - param) : strlen(param);
}

static int layer_find(Layer *ls, int n, const char *name, size_t len) {
    for (int i = 0; i < n; i++)
        if (ls[i].len == len && strncmp(ls[i].name, name, len) == 0) return i;
    return -1;
}

static int collect(const IrModule *m, Layer **out) {
    int n = 0;
    Layer *ls = calloc(m->params.len + 2, sizeof *ls);
    for (size_t i = 0; i < m->params.len; i++) {
        const IrParam *p = m->params.items[i];
        size_t len = layer_len(p->name);
        int k = layer_find(ls, n, p->name, len);
        if (k < 0) {
            k = n++;
            ls[k].name = p->name;
            ls[k].len = len;
        }
        ls[k].params += p->size;
    }
    int other = n++;
    ls[other].name = "(other)";
    ls[other].len = strlen("(other)");
    const IrFunc *f = m->funcs[IR_ENTRY_PREDICT];
    int *layer_of = malloc(((size_t)f->next_id + 1) * sizeof *layer_of);
    for (int i = 0; i <= f->next_id; i++) layer_of[i] = -1;
    for (size_t i = 0; i < f->values.len; i++) {
        const IrValue *v = f->values.items[i];
        int k = -1;
        if (v->op == IR_OP_PARAM) {
            k = layer_find(ls, n, v->attr.param->name, layer_len(v->attr.param->name));
        } else {
            for (int j = 0; j < v->n_in && k < 0; j++)
                if (v->in[j]->op == IR_OP_PARAM) k = layer_of[v->in[j]->id];
            for (int j = 0; j < v->n_in && k < 0; j++) k = layer_of[v->in[j]->id];
        }
        layer_of[v->id] = k;
        if (v->dead || v->op == IR_OP_PARAM || v->op == IR_OP_INPUT) continue;
        Layer *l = &ls[k < 0 ? other : k];
        l->flops += ir_value_flops(v);
        if (v->store.kind == IR_STORE_ARENA || v->store.kind == IR_STORE_SLOT)
            l->act_bytes += ir_shape_row_elems(v->shape) * 4;
    }
    free(layer_of);
    *out = ls;
    return n;
}

void report_totals(const IrModule *m, const EmbedSpec *spec, size_t object_size,
                   ReportTotals *t) {
    int64_t st, row;
    manifest_arena_size(m, &st, &row);
    memset(t, 0, sizeof *t);
    t->weights_bytes = m->n_param_floats * 4;
    t->arena_static_bytes = st * 4;
    t->arena_row_bytes = row * 4;
    int64_t state = AAIRT_EMBED_CTX_BYTES + (spec ? spec->stats_floats * 4 : 0);
    t->ram_bytes = t->weights_bytes + t->arena_static_bytes + t->arena_row_bytes + state;
    t->code_bytes = (int64_t)object_size;
    t->flops_per_sample = manifest_flops_per_sample(m->funcs[IR_ENTRY_PREDICT]);
}

void report_print(FILE *out, const IrModule *m, const ReportTotals *t) {
    Layer *ls;
    int n = collect(m, &ls);
    fprintf(out, "model %s\n\n", m->name);
    fprintf(out, "%-24s %12s %14s %16s\n", "layer", "params", "flops/sample", "act bytes/sample");
    for (int i = 0; i < n; i++) {
        if (!ls[i].params && !ls[i].flops && !ls[i].act_bytes) continue;
        fprintf(out, "%-24.*s %12lld %14lld %16lld\n", (int)ls[i].len, ls[i].name,
                (long long)ls[i].params, (long long)ls[i].flops, (long long)ls[i].act_bytes);
    }
    fprintf(out, "%-24s %12lld %14lld\n\n", "total", (long long)m->n_param_floats,
            (long long)t->flops_per_sample);
    fprintf(out, "weights      %lld bytes\n", (long long)t->weights_bytes);
    fprintf(out, "arena peak   %lld + %lld * batch bytes\n", (long long)t->arena_static_bytes,
            (long long)t->arena_row_bytes);
    fprintf(out, "ram          %lld bytes (weights + arena + state, 1 row)\n",
            (long long)t->ram_bytes);
    fprintf(out, "code         %lld bytes (object)\n", (long long)t->code_bytes);
    free(ls);
}

bool report_check_budgets(Diag *d, SrcLoc at, const ReportTotals *t, int64_t max_ram,
                          int64_t max_code) {
    bool ok = true;
    if (max_ram > 0 && t->ram_bytes > max_ram) {
        diag_error(d, at, "model needs %lld bytes of RAM (weights %lld, arena %lld, state), "
                          "over the --max-ram budget of %lld",
                   (long long)t->ram_bytes, (long long)t->weights_bytes,
                   (long long)(t->arena_static_bytes + t->arena_row_bytes), (long long)max_ram);
        ok = false;
    }
    if (max_code > 0 && t->code_bytes > max_code) {
        diag_error(d, at, "model object is %lld bytes, over the --max-code budget of %lld",
                   (long long)t->code_bytes, (long long)max_code);
        ok = false;
    }
    return ok;
}
