/* manifest.c - write the model manifest (see manifest.h). */
#include "manifest.h"

#include <stdlib.h>

#include "aai_config.h"

static cJSON *shape_json(IrShape s) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < s.rank; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber((double)s.dims[i]));
    return a;
}

static cJSON *tensor_json(const char *name, IrShape s) {
    cJSON *t = cJSON_CreateObject();
    if (name)
        cJSON_AddStringToObject(t, "name", name);
    cJSON_AddStringToObject(t, "dtype", "f32");
    cJSON_AddItemToObject(t, "shape", shape_json(s));
    return t;
}

static cJSON *params_json(const IrModule *m) {
    cJSON *list = cJSON_CreateArray();
    for (size_t i = 0; i < m->params.len; i++) {
        const IrParam *p = m->params.items[i];
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "name", p->name);
        cJSON_AddItemToObject(j, "shape", shape_json(p->shape));
        cJSON_AddNumberToObject(j, "offset", (double)p->offset);
        cJSON_AddNumberToObject(j, "size", (double)p->size);
        cJSON_AddStringToObject(j, "init", ir_init_name(p->init));
        cJSON_AddNumberToObject(j, "fan_in", (double)p->fan_in);
        cJSON_AddNumberToObject(j, "fan_out", (double)p->fan_out);
        if (p->buffer) cJSON_AddBoolToObject(j, "buffer", 1);
        cJSON_AddItemToArray(list, j);
    }
    return list;
}

int64_t manifest_flops_per_sample(const IrFunc *f) {
    int64_t flops = 0;
    for (size_t i = 0; i < f->values.len; i++) {
        const IrValue *v = f->values.items[i];
        if (v->dead)
            continue;
        flops += ir_value_flops(v);
    }
    return flops;
}

void manifest_arena_size(const IrModule *m, int64_t *static_floats,
                         int64_t *row_floats) {
    *static_floats = *row_floats = 0;
    for (int k = 0; k < IR_ENTRY_COUNT; k++) {
        const IrFunc *f = m->funcs[k];
        if (!f)
            continue;
        if (f->arena_static_floats > *static_floats)
            *static_floats = f->arena_static_floats;
        if (f->arena_row_floats > *row_floats)
            *row_floats = f->arena_row_floats;
    }
}

static const char *task_name(SemaLoss loss) {
    switch (loss) {
    case SEMA_LOSS_CROSS_ENTROPY: return "classification";
    case SEMA_LOSS_BCE: return "binary";
    case SEMA_LOSS_MSE: return "regression";
    case SEMA_LOSS_NONE: break;
    }
    return "none";
}

static cJSON *label_json(const SemaProgram *prog) {
    cJSON *l = cJSON_CreateObject();
    const char *kind = prog->loss == SEMA_LOSS_CROSS_ENTROPY ? "classes"
                       : prog->loss == SEMA_LOSS_BCE         ? "binary"
                                                             : "values";
    cJSON_AddStringToObject(l, "kind", kind);
    if (prog->loss == SEMA_LOSS_CROSS_ENTROPY)
        cJSON_AddNumberToObject(l, "classes", prog->n_classes);
    cJSON_AddNumberToObject(l, "width", 1);
    return l;
}

char *manifest_build(const IrModule *m, const SemaProgram *prog) {
    const IrFunc *predict = m->funcs[IR_ENTRY_PREDICT];
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "aai_manifest", 1);
    cJSON_AddStringToObject(j, "name", m->name);
    cJSON_AddStringToObject(j, "compiler", "aaic " AAI_VERSION);
    const IrValue *in = NULL;
    for (size_t i = 0; i < predict->values.len && !in; i++) {
        const IrValue *v = predict->values.items[i];
        if (v->op == IR_OP_INPUT && v->attr.slot == IR_SLOT_X)
            in = v;
    }
    cJSON_AddItemToObject(j, "input",
                          tensor_json(in && in->name ? in->name : "x",
                                      in ? in->shape : predict->output->shape));
    cJSON_AddItemToObject(j, "output", tensor_json(NULL, predict->output->shape));
    cJSON_AddStringToObject(j, "task", task_name(prog->loss));
    if (prog->train)
        cJSON_AddItemToObject(j, "label", label_json(prog));
    cJSON_AddItemToObject(j, "params", params_json(m));
    cJSON_AddNumberToObject(j, "n_param_floats", (double)m->n_param_floats);
    int64_t st, row;
    manifest_arena_size(m, &st, &row);
    cJSON *arena = cJSON_AddObjectToObject(j, "arena");
    cJSON_AddNumberToObject(arena, "static_floats", (double)st);
    cJSON_AddNumberToObject(arena, "row_floats", (double)row);
    cJSON_AddNumberToObject(j, "flops_per_sample",
                            (double)manifest_flops_per_sample(predict));
    if (m->funcs[IR_ENTRY_TRAIN]) /* forward, loss and backward of a step */
        cJSON_AddNumberToObject(j, "train_flops_per_sample",
                                (double)manifest_flops_per_sample(m->funcs[IR_ENTRY_TRAIN]));
    if (prog->dataset_json)
        cJSON_AddItemReferenceToObject(j, "dataset", prog->dataset_json);
    if (prog->train_json)
        cJSON_AddItemReferenceToObject(j, "train", prog->train_json);
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return text;
}
