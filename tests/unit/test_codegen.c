/* test_codegen.c - the LLVM back end: object / asm / textual IR output,
 * cross-compiling to aarch64, the descriptor, symbol prefixes,
 * deterministic output, and batch-size independence of the JIT'd code;
 * then code generation in parts on several threads (codegen_parallel.c):
 * the combined object defines what the one-thread object defines, the
 * bytes do not depend on the run, and an example compiled on 1 and on 2
 * threads trains to the same weights and predicts the same numbers, bit
 * for bit. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>


#include "aairt.h"
#include "codegen_llvm.h"
#include "codegen_parallel.h"
#include "ir.h"
#include "ir_compose.h"
#include "jit.h"
#include "jit_runtime.h"
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

/* The loss's expf and logf calls list glibc's vector variants for the
 * vectorizer (codegen_vecmath.c), only those the target CPU can run:
 * 4 lanes on baseline x86-64, 8 more with AVX2, 16 more with AVX-512
 * (from the features, or a psABI level's name), and none for another
 * architecture. */
static char *ir_for(const char *triple, const char *cpu, const char *features) {
    CgOptions o = {.triple = triple, .cpu = cpu, .features = features, .opt_level = -1};
    char *err = NULL;
    LLVMTargetMachineRef tm = cg_target_machine_new(&o, &err);
    if (!tm) return NULL;
    LLVMDisposeTargetMachine(tm);
    size_t n;
    return emit(&o, CG_OUT_LLVM_IR, &n);
}

Test(codegen, vector_math_follows_the_target) {
    /* an AVX-512 CPU named, not the host's: the name alone says nothing */
    char *host = LLVMGetHostCPUName();
    const char *other = strcmp(host, "znver4") ? "znver4" : "skylake-avx512";
    const struct {
        const char *cpu, *features;
        bool b4, d8, e16;
    } cases[] = {{"x86-64", NULL, true, false, false},
                 {other, NULL, true, false, false}, /* a name alone: baseline */
                 {"x86-64-v3", NULL, true, true, false},
                 {"x86-64-v4", NULL, true, true, true},
                 {"x86-64", "+avx2,+fma", true, true, false},
                 {"x86-64", "+avx2,+avx512fp16", true, true, false}, /* not avx512f */
                 {"x86-64", "+avx2,+avx512f", true, true, true}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *ir = ir_for("x86_64-unknown-linux-gnu", cases[i].cpu, cases[i].features);
        cr_assert(ir, "no x86-64 target");
        cr_expect_eq(strstr(ir, "_ZGV_LLVM_N4v_expf(_ZGVbN4v_expf)") != NULL, cases[i].b4, "%s",
                     cases[i].cpu);
        cr_expect_eq(strstr(ir, "_ZGV_LLVM_N8v_expf(_ZGVdN8v_expf)") != NULL, cases[i].d8, "%s",
                     cases[i].cpu);
        cr_expect_eq(strstr(ir, "declare <16 x float> @_ZGVeN16v_logf(<16 x float>)") != NULL,
                     cases[i].e16, "%s", cases[i].cpu);
        cr_expect(strstr(ir, "@llvm.exp.f32") == NULL, "%s: expf, which has variants",
                  cases[i].cpu);
        free(ir);
    }
    /* --cpu naming the host's own CPU: the host's features, as by default */
    char *host_features = LLVMGetHostCPUFeatures();
    char *triple = LLVMGetDefaultTargetTriple();
    if (!strncmp(triple, "x86_64", 6)) {
        char *named = ir_for("x86_64-unknown-linux-gnu", host, NULL);
        cr_assert(named);
        bool avx2 = strstr(host_features, "+avx2") != NULL; /* no other feature starts so */
        cr_expect_eq(strstr(named, "(_ZGVdN8v_expf)") != NULL, avx2, "--cpu %s", host);
        free(named);
    }
    LLVMDisposeMessage(triple);
    LLVMDisposeMessage(host);
    LLVMDisposeMessage(host_features);
    char *arm = ir_for("aarch64-unknown-linux-gnu", "generic", NULL);
    if (!arm) cr_skip_test("no AArch64 target in this LLVM");
    cr_expect(strstr(arm, "_ZGV") == NULL, "no x86 vector variants on AArch64");
    cr_expect(strstr(arm, "@llvm.exp.f32") != NULL);
    free(arm);
}

Test(codegen, bad_triple_is_an_error) {
    CgOptions o = {.triple = "nonsense-unknown-none"};
    char *err = NULL;
    cr_expect(!cg_compile(mod, &o, CG_OUT_OBJ, "/tmp/never_written.o", &err));
    cr_expect(err != NULL);
    free(err);
}

Test(codegen, jit_descriptor_and_batch_independence) {
    CgOptions o = {.manifest_json = "{\"name\": \"m\"}"};
    char *err = NULL;
    Jit *j = jit_new(mod, &o, jit_runtime, JIT_RUNTIME_COUNT, &err);
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

/* ---- kernels shared across shapes -------------------------------------- */

/* Kernels named `aai.<op>.` in textual IR, their thread splits aside. */
static int count_kernels(const char *ir, const char *op) {
    char prefix[64];
    snprintf(prefix, sizeof prefix, "aai.%s.", op);
    int n = 0;
    for (const char *p = ir; (p = strstr(p, "define internal void @aai.")); p++) {
        const char *name = p + 22, *end = strchr(name, '(');
        bool part = end - name > 5 && strncmp(end - 5, ".rows", 5) == 0;
        n += !part && strncmp(name, prefix, strlen(prefix)) == 0;
    }
    return n;
}

/* Whether the first kernel `aai.<op>.` in textual IR carries function
 * attribute `attr` (through its `#N` attribute group). */
static bool kernel_has_attr(const char *ir, const char *op, const char *attr) {
    char def[80], group[32];
    snprintf(def, sizeof def, "define internal void @aai.%s.", op);
    const char *d = strstr(ir, def);
    cr_assert(d, "no %s kernel", op);
    const char *brace = strchr(d, '{'), *hash = d;
    for (const char *q = d; q < brace; q++)
        if (*q == '#') hash = q;
    cr_assert(hash != d, "the %s kernel has no attribute group", op);
    int n = atoi(hash + 1);
    snprintf(group, sizeof group, "\nattributes #%d = {", n);
    const char *g = strstr(ir, group);
    cr_assert(g, "attribute group #%d not found", n);
    const char *end = strchr(g + 1, '\n');
    const char *hit = strstr(g, attr);
    return hit && (!end || hit < end);
}

/* Runs the pass pipeline on m and returns its LLVM IR as text, unoptimised
 * (-O0), as the kernels were built (free it). */
static char *module_ir(IrModule *m) {
    PipelineOptions po = pipeline_options_default();
    cr_assert(pipeline_run(m, &po));
    char path[] = "/tmp/aai_cgs_XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    CgOptions o = {.manifest_json = "{}", .opt_level = -1};
    char *err = NULL;
    cr_assert(cg_compile(m, &o, CG_OUT_LLVM_IR, path, &err), "%s", err ? err : "");
    size_t len;
    char *ir = slurp(path, &len);
    unlink(path);
    return ir;
}

/* Two bias adds of different widths ([B,6] + [6], [B,4] + [4]) have the
 * same broadcast pattern and two relus the same op: each pair is one
 * kernel taking its extents (or element count) as arguments, and each
 * call must still compute its own shape. */
Test(codegen_shared, one_kernel_for_every_width) {
    Arena ar = {0};
    Diag *dg = diag_new(stderr, DIAG_FORMAT_HUMAN);
    IrModule *m = ir_module_new(&ar, dg, "shared");
    int64_t six = 6, four = 4;
    IrParam *b1 = ir_param_new(m, "b1", ir_shape(1, &six), IR_INIT_ZEROS, 1, 1, L0);
    IrParam *w = ir_param_new(m, "w", ir_shape2(4, 6), IR_INIT_ZEROS, 6, 4, L0);
    IrParam *b2 = ir_param_new(m, "b2", ir_shape(1, &four), IR_INIT_ZEROS, 1, 1, L0);
    IrFunc *f = ir_func_new(m, IR_ENTRY_PREDICT);
    IrValue *x = ir_build_input(f, IR_SLOT_X, IR_F32, ir_shape2(IR_BATCH, 6), L0);
    IrValue *h = ir_build_binary(f, IR_OP_ADD, x, ir_build_param(f, b1, L0), L0);
    h = ir_build_unary(f, IR_FN_RELU, h, 0, L0);
    h = ir_build_matmul(f, h, ir_build_param(f, w, L0), false, true, L0);
    h = ir_build_binary(f, IR_OP_ADD, h, ir_build_param(f, b2, L0), L0);
    f->output = ir_build_unary(f, IR_FN_RELU, h, 0, L0);
    char *ir = module_ir(m), *err = NULL;
    cr_expect_eq(count_kernels(ir, "add"), 1, "one bias-add kernel for both widths");
    cr_expect_eq(count_kernels(ir, "relu"), 1, "one relu kernel for both shapes");
    cr_expect(!kernel_has_attr(ir, "relu", "optnone"), "element-wise kernels are optimised");
    cr_expect(!kernel_has_attr(ir, "add", "optnone"), "element-wise kernels are optimised");
    free(ir);

    Jit *j = jit_new(m, NULL, jit_runtime, JIT_RUNTIME_COUNT, &err);
    cr_assert(j, "%s", err ? err : "");
    float params[64] = {0}, x3[18], out[12], arena_buf[256] = {0};
    for (int i = 0; i < 6; i++) params[b1->offset + i] = 0.1f * (float)(i - 2);
    for (int i = 0; i < 24; i++) params[w->offset + i] = 0.05f * (float)(i % 7) - 0.1f;
    for (int i = 0; i < 4; i++) params[b2->offset + i] = 0.2f * (float)(i - 1);
    for (int i = 0; i < 18; i++) x3[i] = sinf((float)i);
    cr_assert_leq(f->arena_static_floats + 3 * f->arena_row_floats, 256);
    AairtStepArgs a = {params, NULL, arena_buf, x3, NULL, out, NULL, NULL, 3};
    jit_model(j)->predict(&a);
    for (int n = 0; n < 3; n++)
        for (int r = 0; r < 4; r++) {
            float s = params[b2->offset + r];
            for (int c = 0; c < 6; c++) {
                float hc = x3[n * 6 + c] + params[b1->offset + c];
                s += (hc > 0 ? hc : 0) * params[w->offset + r * 6 + c];
            }
            cr_expect_float_eq(out[n * 4 + r], s > 0 ? s : 0, 1e-5, "row %d col %d", n, r);
        }
    jit_free(j);
    diag_free(dg);
    arena_free(&ar);
}

/* y[n,o,i,j] = sum_c,a,b x[n,c,i*s-p+a,j*s-p+b] w[o,c,a,b] (zero padding) */
static void conv_ref(const float *x, int n, int c, int h, int w, const float *wt, int o, int k,
                     int s, int p, float *y, int oh, int ow) {
    for (int in = 0; in < n; in++)
        for (int io = 0; io < o; io++)
            for (int i = 0; i < oh; i++)
                for (int j = 0; j < ow; j++) {
                    float acc = 0;
                    for (int ic = 0; ic < c; ic++)
                        for (int a = 0; a < k; a++)
                            for (int b = 0; b < k; b++) {
                                int r = i * s - p + a, q = j * s - p + b;
                                if (r < 0 || r >= h || q < 0 || q >= w) continue;
                                acc += x[((in * c + ic) * h + r) * w + q] *
                                       wt[((io * c + ic) * k + a) * k + b];
                            }
                    y[((in * o + io) * oh + i) * ow + j] = acc;
                }
}

/* Two convolutions of different geometry (3x3 stride 1 pad 1 on 2x6x6,
 * 3x3 stride 2 on 3x6x6) share one IM2COL kernel and one batched product:
 * the windows and sizes are the kernels' arguments, so each call must
 * still compute its own convolution. */
Test(codegen_shared, convolutions_share_their_kernels) {
    Arena ar = {0};
    Diag *dg = diag_new(stderr, DIAG_FORMAT_HUMAN);
    IrModule *m = ir_module_new(&ar, dg, "convs");
    int64_t d1[4] = {3, 2, 3, 3}, d2[4] = {4, 3, 3, 3}, dx[4] = {IR_BATCH, 2, 6, 6};
    IrParam *w1 = ir_param_new(m, "w1", ir_shape(4, d1), IR_INIT_ZEROS, 18, 27, L0);
    IrParam *w2 = ir_param_new(m, "w2", ir_shape(4, d2), IR_INIT_ZEROS, 27, 36, L0);
    IrFunc *f = ir_func_new(m, IR_ENTRY_PREDICT);
    IrValue *x = ir_build_input(f, IR_SLOT_X, IR_F32, ir_shape(4, dx), L0);
    IrValue *h = ir_conv2d(f, x, ir_build_param(f, w1, L0), NULL, 1, 1, 1, 1, L0);
    f->output = ir_conv2d(f, h, ir_build_param(f, w2, L0), NULL, 2, 0, 1, 1, L0);
    char *ir = module_ir(m), *err = NULL;
    cr_expect_eq(count_kernels(ir, "im2col"), 1, "one im2col kernel for both windows");
    cr_expect_eq(count_kernels(ir, "matmul"), 1, "one batched product for both convolutions");
    /* Both only call libaairt: the -O0 code generator takes them (faster
     * to compile, as fast to run). */
    cr_expect(kernel_has_attr(ir, "im2col", "optnone"), "im2col is not optimised");
    cr_expect(kernel_has_attr(ir, "matmul", "optnone"), "the batched product is not optimised");
    free(ir);

    Jit *j = jit_new(m, NULL, jit_runtime, JIT_RUNTIME_COUNT, &err);
    cr_assert(j, "%s", err ? err : "");
    enum { N = 2 };
    float params[256] = {0}, xs[N * 72], out[N * 16], mid[N * 108], want[N * 16];
    static float arena_buf[1 << 14];
    for (int i = 0; i < 54; i++) params[w1->offset + i] = 0.1f * sinf((float)i);
    for (int i = 0; i < 108; i++) params[w2->offset + i] = 0.1f * cosf((float)i * 0.7f);
    for (int i = 0; i < N * 72; i++) xs[i] = sinf(0.3f * (float)i);
    cr_assert_leq(w2->offset + 108, 256);
    cr_assert_leq(f->arena_static_floats + N * f->arena_row_floats, 1 << 14);
    AairtStepArgs a = {params, NULL, arena_buf, xs, NULL, out, NULL, NULL, N};
    jit_model(j)->predict(&a);
    conv_ref(xs, N, 2, 6, 6, params + w1->offset, 3, 3, 1, 1, mid, 6, 6);
    conv_ref(mid, N, 3, 6, 6, params + w2->offset, 4, 3, 2, 0, want, 2, 2);
    for (int i = 0; i < N * 16; i++) cr_expect_float_eq(out[i], want[i], 1e-5, "element %d", i);
    jit_free(j);
    diag_free(dg);
    arena_free(&ar);
}

/* ---- code generation in parts ---------------------------------------- */

TestSuite(codegen_parallel, .init = setup, .fini = teardown);

/* The module in `n_parts` parts, combined into one object; its bytes. */
static char *emit_parts(int n_parts, size_t *len) {
    char path[] = "/tmp/aai_cgp_XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    CgOptions o = {.manifest_json = "{}"};
    char *err = NULL;
    LLVMTargetMachineRef tm = cg_target_machine_new(&o, &err);
    cr_assert(tm, "%s", err ? err : "");
    LLVMContextRef ctx = LLVMContextCreate();
    LLVMModuleRef m = cg_module_build(ctx, mod, &o, tm, &err);
    cr_assert(m, "%s", err ? err : "");
    bool ok = cg_parallel_compile(m, &o, n_parts, path, &err);
    cr_assert(ok, "cg_parallel_compile: %s", err ? err : "?");
    LLVMDisposeModule(m);
    LLVMContextDispose(ctx);
    LLVMDisposeTargetMachine(tm);
    char *buf = slurp(path, len);
    unlink(path);
    return buf;
}

/* Whether `nm` lists `symbol` as defined in the object `bytes`. */
static bool defines(const char *bytes, size_t len, const char *symbol) {
    char path[] = "/tmp/aai_cgp_nm_XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, bytes, len), (ssize_t)len);
    close(fd);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "nm --defined-only %s", path);
    FILE *p = popen(cmd, "r");
    cr_assert(p);
    char line[512];
    bool found = false;
    while (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = '\0';
        const char *name = strrchr(line, ' ');
        if (name && strcmp(name + 1, symbol) == 0) found = true;
    }
    pclose(p);
    unlink(path);
    return found;
}

Test(codegen_parallel, parts_combine_into_one_deterministic_object) {
    size_t n1, n2, n3;
    char *one = emit_parts(1, &n1);
    char *two = emit_parts(2, &n2);
    char *again = emit_parts(2, &n3);
    cr_expect_eq(memcmp(two, "\x7f" "ELF", 4), 0);
    const char *entries[] = {"aai_predict", "aai_train_step", "aai_eval_step", "aai_model"};
    for (size_t i = 0; i < sizeof entries / sizeof *entries; i++) {
        cr_expect(defines(one, n1, entries[i]), "1 part defines %s", entries[i]);
        cr_expect(defines(two, n2, entries[i]), "2 parts define %s", entries[i]);
    }
    cr_expect(n2 == n3 && memcmp(two, again, n2) == 0, "2 parts: the same bytes every run");
    free(one);
    free(two);
    free(again);
}

Test(codegen_parallel, part_count_follows_the_options) {
    CgOptions o = {0};
    char *err = NULL;
    LLVMTargetMachineRef tm = cg_target_machine_new(&o, &err);
    cr_assert(tm);
    LLVMContextRef ctx = LLVMContextCreate();
    LLVMModuleRef m = cg_module_build(ctx, mod, &o, tm, &err);
    cr_assert(m);
    o.threads = 1;
    cr_expect_eq(cg_parallel_parts(m, &o), 1);
    o.threads = 1000;
    int n = cg_parallel_parts(m, &o);
    cr_expect(n >= 1 && n <= CG_MAX_THREADS, "%d parts", n);
    o.threads = 0;
    setenv("AAI_CODEGEN_THREADS", "1", 1);
    cr_expect_eq(cg_parallel_parts(m, &o), 1);
    unsetenv("AAI_CODEGEN_THREADS");
    LLVMDisposeModule(m);
    LLVMContextDispose(ctx);
    LLVMDisposeTargetMachine(tm);
}

Test(codegen_parallel, objects_for_the_link_are_listed_and_removed) {
    for (int threads = 1; threads <= 2; threads++) {
        char path[] = "/tmp/aai_cgp_objs_XXXXXX";
        int fd = mkstemp(path);
        cr_assert_geq(fd, 0);
        close(fd);
        CgOptions o = {.threads = threads};
        CgObjects objs;
        char *err = NULL;
        cr_assert(cg_compile_objects(mod, &o, path, &objs, &err), "%s", err ? err : "?");
        cr_expect(objs.n >= 1 && objs.n <= threads * CG_OBJECTS_PER_PART,
                  "%d objects on %d threads", objs.n, threads);
        char names[CG_MAX_OBJECTS][CG_PATH_MAX];
        for (int i = 0; i < objs.n; i++) {
            cr_expect_eq(access(objs.path[i], R_OK), 0, "%s written", objs.path[i]);
            memcpy(names[i], objs.path[i], sizeof names[i]);
        }
        int n = objs.n;
        cg_objects_remove(&objs);
        cr_expect_eq(objs.n, 0);
        for (int i = 0; i < n; i++)
            cr_expect_neq(access(names[i], F_OK), 0, "%s removed", names[i]);
        unlink(path);
    }
}

/* Runs a shell command from the source tree; its exit status. */
static int sh(const char *fmt, ...) {
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* digits_residual.aai on 1 and on 2 code generation threads: the 2-thread
 * build must take the parallel path (--time-passes says opt+emit), and
 * both executables train (runtime on 1 thread) to the same weights and
 * predict the same numbers. */
Test(codegen_parallel, one_and_two_threads_give_the_same_answers, .timeout = 300) {
    char dir[] = "/tmp/aai_cgp_e2e_XXXXXX";
    cr_assert(mkdtemp(dir));
    const char *aaic = AAI_BINARY_DIR "/aaic";
    for (int t = 1; t <= 2; t++) {
        cr_assert_eq(sh("AAI_CODEGEN_THREADS=%d %s --time-passes examples/digits_residual.aai "
                        "-o %s/m%d 2> %s/passes%d.txt",
                        t, aaic, dir, t, dir, t),
                     0, "aaic on %d threads", t);
        cr_assert_eq(sh("%s/m%d train --quiet --epochs 2 --threads 1 --out %s/w%d.safetensors "
                        "--metrics %s/metrics%d.jsonl",
                        dir, t, dir, t, dir, t),
                     0);
        cr_assert_eq(sh("cut -d, -f1-64 examples/data/digits.csv | tail -n +2 | head -100 | "
                        "%s/m%d predict --weights %s/w%d.safetensors --raw > %s/p%d.csv",
                        dir, t, dir, t, dir, t),
                     0);
    }
    cr_expect_eq(sh("grep -q 'llvm-opt+emit' %s/passes2.txt", dir), 0,
                 "2 threads took the parallel path");
    cr_expect_eq(sh("grep -q 'llvm-opt ' %s/passes1.txt", dir), 0, "1 thread did not");
    cr_expect_eq(sh("cmp -s %s/w1.safetensors %s/w2.safetensors", dir, dir), 0,
                 "the same trained weights");
    cr_expect_eq(sh("cmp -s %s/p1.csv %s/p2.csv", dir, dir), 0, "the same predictions");
    sh("rm -rf %s", dir);
}
