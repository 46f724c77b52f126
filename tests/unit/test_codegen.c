/* test_codegen.c - the LLVM back end: object / asm / textual IR output,
 * cross-compiling to aarch64, the descriptor, symbol prefixes,
 * deterministic output, and batch-size independence of the JIT'd code. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


#include "aairt.h"
#include "codegen_llvm.h"
#include "ir.h"
#include "jit.h"
#include "pipeline.h"

static Arena arena;
static Diag *diag;
static IrModule *mod;
static const SrcLoc L0 = {0, 0, 0, 0};

static void setup(void) {
    memset(&arena, 0, sizeof arena);
    diag = diag_new(stderr, DIAG_FORMAT_HUMAN);
    mod = ir_module_new(&arena, diag, "m");
    IrParam *w = ir_param_new(mod, "w", ir_shape2(3, 4), IR_INIT_TORCH_DEFAULT, 4, 3, L0);
    int64_t three = 3;
    IrParam *b = ir_param_new(mod, "b", ir_shape(1, &three), IR_INIT_ZEROS, 4, 3, L0);
    for (int k = 0; k < 3; k++) {
        IrFunc *f = ir_func_new(mod, (IrEntryKind)k);
        IrValue *x = ir_build_input(f, IR_SLOT_X, IR_F32, ir_shape2(IR_BATCH, 4), L0);
        IrValue *h = ir_build_matmul(f, x, ir_build_param(f, w, L0), false, true, L0);
        h = ir_build_binary(f, IR_OP_ADD, h, ir_build_param(f, b, L0), L0);
        h = ir_build_unary(f, IR_FN_TANH, h, 0, L0);
        if (k != IR_ENTRY_TRAIN) f->output = h;
        if (k != IR_ENTRY_PREDICT) {
            IrValue *lab = ir_build_input(f, IR_SLOT_Y, IR_F32, ir_shape2(IR_BATCH, 1), L0);
            f->loss = ir_build2(f, IR_OP_CROSS_ENTROPY, h, lab, L0);
        }
    }
    PipelineOptions o = pipeline_options_default();
    o.verify = true;
    cr_assert(pipeline_run(mod, &o));
}

static void teardown(void) {
    diag_free(diag);
    arena_free(&arena);
}

TestSuite(codegen, .init = setup, .fini = teardown);

static char *slurp(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    cr_assert(fp, "cannot open %s", path);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    cr_assert_eq(fread(buf, 1, (size_t)n, fp), (size_t)n);
    buf[n] = '\0';
    fclose(fp);
    *len = (size_t)n;
    return buf;
}

static char *emit(const CgOptions *o, CgOutputKind kind, size_t *len) {
    char path[] = "/tmp/aai_cg_XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    char *err = NULL;
    bool ok = cg_compile(mod, o, kind, path, &err);
    cr_assert(ok, "cg_compile: %s", err ? err : "?");
    char *buf = slurp(path, len);
    unlink(path);
    return buf;
}

Test(codegen, object_file_is_elf) {
    CgOptions o = {.manifest_json = "{\"aai_manifest\": 1}"};
    size_t n;
    char *obj = emit(&o, CG_OUT_OBJ, &n);
    cr_assert_gt(n, 64);
    cr_expect_eq(memcmp(obj, "\x7f" "ELF", 4), 0);
    free(obj);
}

Test(codegen, textual_ir_and_asm) {
    CgOptions o = {.manifest_json = "{\"k\": 1}"};
    size_t n;
    char *ir = emit(&o, CG_OUT_LLVM_IR, &n);
    cr_expect(strstr(ir, "define void @aai_predict(") != NULL);
    cr_expect(strstr(ir, "define void @aai_train_step(") != NULL);
    cr_expect(strstr(ir, "define void @aai_eval_step(") != NULL);
    cr_expect(strstr(ir, "@aai_model = ") != NULL);
    cr_expect(strstr(ir, "@aairt_sgemm(") != NULL);
    cr_expect(strstr(ir, "@aairt_optimizer_step(") != NULL);
    cr_expect(strstr(ir, "{\\22k\\22: 1}") != NULL, "manifest string embedded");
    cr_expect(strstr(ir, "/tmp") == NULL, "no paths in the output");
    char *ir2 = emit(&o, CG_OUT_LLVM_IR, &n);
    cr_expect_str_eq(ir, ir2, "output is deterministic");
    free(ir);
    free(ir2);
    char *as = emit(&o, CG_OUT_ASM, &n);
    cr_expect(strstr(as, "aai_predict") != NULL);
    free(as);
}

Test(codegen, prefix) {
    CgOptions o = {.prefix = "net"};
    size_t n;
    char *ir = emit(&o, CG_OUT_LLVM_IR, &n);
    cr_expect(strstr(ir, "@net_predict(") != NULL);
    cr_expect(strstr(ir, "@net_model = ") != NULL);
    cr_expect(strstr(ir, "@aai_predict") == NULL);
    free(ir);
}

Test(codegen, aarch64_cross) {
    CgOptions o = {.triple = "aarch64-unknown-linux-gnu"};
    char *err = NULL;
    LLVMTargetMachineRef tm = cg_target_machine_new(&o, &err);
    if (!tm) cr_skip_test("no AArch64 target in this LLVM: %s", err ? err : "");
    LLVMDisposeTargetMachine(tm);
    size_t n;
    char *obj = emit(&o, CG_OUT_OBJ, &n);
    cr_assert_gt(n, 64);
    cr_expect_eq(memcmp(obj, "\x7f" "ELF", 4), 0);
    unsigned machine = (unsigned char)obj[18] | (unsigned)(unsigned char)obj[19] << 8;
    cr_expect_eq(machine, 183u, "e_machine is EM_AARCH64");
    free(obj);
}

Test(codegen, bad_triple_is_an_error) {
    CgOptions o = {.triple = "nonsense-unknown-none"};
    char *err = NULL;
    cr_expect(!cg_compile(mod, &o, CG_OUT_OBJ, "/tmp/never_written.o", &err));
    cr_expect(err != NULL);
    free(err);
}

Test(codegen, jit_descriptor_and_batch_independence) {
    JitSymbol syms[] = {{"aairt_sgemm", (void *)aairt_sgemm},
                        {"aairt_optimizer_step", (void *)aairt_optimizer_step}};
    CgOptions o = {.manifest_json = "{\"name\": \"m\"}"};
    char *err = NULL;
    Jit *j = jit_new(mod, &o, syms, 2, &err);
    cr_assert(j, "%s", err ? err : "");
    const AairtModel *md = jit_model(j);
    cr_expect_eq(md->abi_version, AAIRT_ABI_VERSION);
    cr_expect_str_eq(md->manifest_json, "{\"name\": \"m\"}");
    cr_expect_eq(md->n_param_floats, mod->n_param_floats);
    int64_t st = 0, row = 0;
    for (int k = 0; k < 3; k++) {
        if (mod->funcs[k]->arena_static_floats > st) st = mod->funcs[k]->arena_static_floats;
        if (mod->funcs[k]->arena_row_floats > row) row = mod->funcs[k]->arena_row_floats;
    }
    cr_expect_eq(md->arena_static_floats, st);
    cr_expect_eq(md->arena_row_floats, row);
    cr_expect(md->predict == jit_entry(j, IR_ENTRY_PREDICT));
    cr_expect(md->train_step == jit_entry(j, IR_ENTRY_TRAIN));
    cr_expect(md->eval_step == jit_entry(j, IR_ENTRY_EVAL));

    float params[64] = {0};
    for (int i = 0; i < 12; i++) params[i] = 0.1f * (float)(i - 6);
    for (int i = 0; i < 3; i++) params[16 + i] = 0.05f * (float)i;
    enum { MAXB = 7 };
    float x[MAXB * 4], y[MAXB], out1[3], out7[MAXB * 3];
    for (int i = 0; i < MAXB * 4; i++) x[i] = sinf((float)i);
    for (int i = 0; i < MAXB; i++) y[i] = (float)(i % 3);
    float *ar = calloc((size_t)(st + row * MAXB), sizeof(float));
    AairtStepArgs a1 = {params, NULL, ar, x, y, out1, NULL, NULL, 1};
    md->predict(&a1);
    AairtStepArgs a7 = {params, NULL, ar, x, y, out7, NULL, NULL, MAXB};
    md->predict(&a7);
    for (int i = 0; i < 3; i++) cr_expect_float_eq(out1[i], out7[i], 1e-6);
    /* row 0 by hand: tanh(x0 . w_r + b_r) */
    for (int r = 0; r < 3; r++) {
        float s = params[16 + r];
        for (int c = 0; c < 4; c++) s += x[c] * params[r * 4 + c];
        cr_expect_float_eq(out1[r], tanhf(s), 1e-5);
    }
    float loss = NAN;
    AairtStepArgs ae = {params, NULL, ar, x, y, out7, &loss, NULL, MAXB};
    md->eval_step(&ae);
    cr_expect(isfinite(loss) && loss > 0);
    free(ar);
    jit_free(j);
}
