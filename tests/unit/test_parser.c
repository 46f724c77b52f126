/* test_parser.c - the grammar: tree shape (through ast_print), locations,
 * error recovery, limits, and robustness on hostile input. */
#include <criterion/criterion.h>

#include "lang_test_support.h"

static const char iris_example[] =
    "dataset iris {\n"
    "    source   = csv(\"data/iris.csv\", header = true)\n"
    "    features = columns(\"sepal_length\", \"sepal_width\", "
    "\"petal_length\", \"petal_width\") |> standardize\n"
    "    label    = column(\"species\") |> classes(3)\n"
    "    split    = holdout(test = 0.2, shuffle_seed = 7)\n"
    "}\n"
    "model classifier(x: f32[batch, 4]) -> f32[batch, 3] {\n"
    "    hidden = relu(dense(x, 16))\n"
    "    return dense(hidden, 3)\n"
    "}\n"
    "train classifier on iris {\n"
    "    loss      = cross_entropy\n"
    "    optimizer = adam(lr = 0.01)\n"
    "    epochs    = 100\n"
    "    batch     = 16\n"
    "    seed      = 42\n"
    "    metrics   = [accuracy]\n"
    "}\n";

static const char iris_dump[] =
    "(file\n"
    "  (dataset iris\n"
    "    (field source\n"
    "      (call csv (str \"data/iris.csv\") (kwarg header (bool true))))\n"
    "    (field features\n"
    "      (pipe\n"
    "        (call columns (str \"sepal_length\") (str \"sepal_width\") "
    "(str \"petal_length\") (str \"petal_width\"))\n"
    "        (name standardize)))\n"
    "    (field label\n"
    "      (pipe\n"
    "        (call column (str \"species\"))\n"
    "        (call classes (num 3))))\n"
    "    (field split\n"
    "      (call holdout (kwarg test (num 0.2)) (kwarg shuffle_seed (num "
    "7)))))\n"
    "  (model classifier\n"
    "    (param x (type f32 batch 4))\n"
    "    (result (type f32 batch 3))\n"
    "    (let hidden\n"
    "      (call relu\n"
    "        (call dense (name x) (num 16))))\n"
    "    (return\n"
    "      (call dense (name hidden) (num 3))))\n"
    "  (train classifier on iris\n"
    "    (field loss (name cross_entropy))\n"
    "    (field optimizer\n"
    "      (call adam (kwarg lr (num 0.01))))\n"
    "    (field epochs (num 100))\n"
    "    (field batch (num 16))\n"
    "    (field seed (num 42))\n"
    "    (field metrics\n"
    "      (list (name accuracy)))))\n";

/* Parses `text`, expecting no errors, and returns the dump (malloc'd). */
static char *dump_ok(const char *text) {
    DiagCapture cap;
    char *dump = parse_dump(text, &cap);
    if (cap.n_errors) {
        fprintf(stderr, "unexpected errors for:\n%s\n", text);
        capture_dump(&cap, stderr);
    }
    cr_expect_eq(cap.n_errors, 0);
    return dump;
}

/* Wraps `expr` as `return EXPR` in a model and checks the return dump. */
static void expect_expr(const char *expr, const char *want) {
    char text[1024], full[2048];
    snprintf(text, sizeof text, "model m() {\n  return %s\n}\n", expr);
    snprintf(full, sizeof full,
             "(file\n  (model m\n    (return%s%s)))\n",
             want[0] == '\n' ? "" : " ", want);
    char *dump = dump_ok(text);
    cr_expect_str_eq(dump, full, "expression: %s", expr);
    free(dump);
}

Test(parser, iris_example_tree) {
    char *dump = dump_ok(iris_example);
    cr_expect_str_eq(dump, iris_dump);
    free(dump);
}

Test(parser, precedence_and_associativity) {
    expect_expr("a + b * c |> f",
                "\n      (pipe\n        (+\n          (name a)\n"
                "          (* (name b) (name c)))\n        (name f))");
    expect_expr("a - b - c", "\n      (-\n        (- (name a) (name b))\n"
                             "        (name c))");
    expect_expr("a / b * c", "\n      (*\n        (/ (name a) (name b))\n"
                             "        (name c))");
    expect_expr("-a * b", "\n      (*\n        (neg (name a))\n"
                          "        (name b))");
    expect_expr("a * -b", "\n      (*\n        (name a)\n"
                          "        (neg (name b)))");
    expect_expr("-f(x)", "\n      (neg\n        (call f (name x)))");
    expect_expr("(a + b) * c", "\n      (*\n        (+ (name a) (name b))\n"
                               "        (name c))");
    expect_expr("x |> f |> g(1)", "\n      (pipe\n        (pipe (name x) "
                                  "(name f))\n        (call g (num 1)))");
}

Test(parser, calls_kwargs_lists_members) {
    expect_expr("f()", "\n      (call f)");
    expect_expr("f(1, k = 2.5, s = \"t\",)",
                "\n      (call f (num 1) (kwarg k (num 2.5)) (kwarg s (str "
                "\"t\")))");
    expect_expr("[]", "\n      (list)");
    expect_expr("[1, 2, 3,]", "\n      (list (num 1) (num 2) (num 3))");
    expect_expr("[a, [b]]", "\n      (list\n        (name a)\n"
                            "        (list (name b)))");
    expect_expr("relu(dense(x, 16, bias = false))",
                "\n      (call relu\n        (call dense (name x) (num 16) "
                "(kwarg bias (bool false))))");
    expect_expr("std.nn.mlp(x)",
                "\n      (call\n        (member mlp\n          (member nn "
                "(name std)))\n        (name x))");
    expect_expr("f(k = g(1))",
                "\n      (call f\n        (kwarg k\n          (call g (num "
                "1))))");
    expect_expr("1e-3", "(num 0.001)");
    expect_expr("true", "(bool true)");
}

Test(parser, multi_line_forms) {
    char *dump = dump_ok("dataset d\n{\n"
                         "  features = columns(\"a\",\n"
                         "                     \"b\")\n"
                         "      |> standardize   # comment\n"
                         "      |> scale(2)\n"
                         "  x = 1; y = 2;\n"
                         "}\n"
                         "model m(x: f32[b, 4],)\n"
                         "  -> f32 { return x }\n"
                         "train m\n  on d { epochs = 1 }");
    cr_expect_str_eq(dump,
                     "(file\n  (dataset d\n    (field features\n"
                     "      (pipe\n        (pipe\n          (call columns "
                     "(str \"a\") (str \"b\"))\n          (name standardize))\n"
                     "        (call scale (num 2))))\n"
                     "    (field x (num 1))\n    (field y (num 2)))\n"
                     "  (model m\n    (param x (type f32 b 4))\n"
                     "    (result (type f32))\n    (return (name x)))\n"
                     "  (train m on d\n    (field epochs (num 1))))\n");
    free(dump);
}

Test(parser, empty_inputs) {
    const char *empties[] = {"", "\n\n", "# just a comment\n", "   \t  "};
    for (size_t i = 0; i < sizeof empties / sizeof empties[0]; i++) {
        char *dump = dump_ok(empties[i]);
        cr_expect_str_eq(dump, "(file)\n");
        free(dump);
    }
    char *dump = dump_ok("dataset d {}\nmodel m() {}\ntrain m on d {\n}\n");
    cr_expect_str_eq(dump, "(file\n  (dataset d)\n  (model m)\n"
                           "  (train m on d))\n");
    free(dump);
}

Test(parser, locations) {
    Arena a = {0};
    DiagCapture cap;
    Diag *d = capture_new(&cap);
    AstFile *f = parse_source(&a, d, "loc.aai", iris_example);
    cr_assert_eq(cap.n_errors, 0);
    cr_assert_eq(f->n_items, 3);
    cr_expect_eq(f->file_id, 1);
    const AstItem *ds = &f->items[0], *model = &f->items[1],
                  *train = &f->items[2];
    cr_expect_eq(ds->loc.line, 1);
    cr_expect_eq(ds->loc.col, 1);
    cr_expect_eq(ds->loc.len, 7);
    cr_expect_eq(ds->name_loc.col, 9);
    cr_expect_eq(ds->end_loc.line, 6);
    /* field: the key; call: the callee name */
    const AstField *source = &ds->fields[0];
    cr_expect_eq(source->loc.line, 2);
    cr_expect_eq(source->loc.col, 5);
    cr_expect_eq(source->loc.len, 6);
    cr_expect_eq(source->value->loc.col, 16);
    cr_expect_eq(source->value->loc.len, 3);
    const AstArg *header = &source->value->as.call.args[1];
    cr_expect_str_eq(header->name, "header");
    cr_expect_eq(header->name_loc.col, 37);
    cr_expect_eq(header->value->loc.col, 46);
    /* pipe: the operator */
    const AstExpr *pipe = ds->fields[1].value;
    cr_expect_eq(pipe->kind, AST_EXPR_PIPE);
    cr_expect_eq(pipe->loc.line, 3);
    cr_expect_eq(pipe->loc.len, 2);
    cr_expect_eq(pipe->loc.col, 86);
    /* model: params, dims, statements */
    cr_expect_eq(model->params[0].loc.col, 18);
    cr_expect_eq(model->params[0].type.loc.col, 21);
    cr_expect_eq(model->params[0].type.n_dims, 2);
    cr_expect_str_eq(model->params[0].type.dims[0].symbol, "batch");
    cr_expect_null(model->params[0].type.dims[1].symbol);
    cr_expect_eq(model->params[0].type.dims[1].size, 4);
    cr_expect_eq(model->params[0].type.dims[1].loc.col, 32);
    cr_expect(model->has_result);
    cr_expect_eq(model->result.dims[1].size, 3);
    cr_expect_eq(model->stmts[0].kind, AST_STMT_LET);
    cr_expect_eq(model->stmts[0].loc.line, 8);
    cr_expect_eq(model->stmts[0].loc.col, 5);
    cr_expect_eq(model->stmts[0].loc.len, 6);
    cr_expect_eq(model->stmts[1].kind, AST_STMT_RETURN);
    cr_expect_eq(model->stmts[1].loc.len, 6);
    cr_expect_eq(model->end_loc.line, 10);
    /* train */
    cr_expect_str_eq(train->name, "classifier");
    cr_expect_str_eq(train->dataset, "iris");
    cr_expect_eq(train->dataset_loc.col, 21);
    cr_expect_eq(train->fields[2].value->as.number.is_int, true);
    cr_expect_eq(train->fields[1].value->as.call.args[0].value->as.number.value,
                 0.01);
    diag_free(d);
    arena_free(&a);
}

Test(parser, binary_location_is_the_operator) {
    Arena a = {0};
    DiagCapture cap;
    Diag *d = capture_new(&cap);
    AstFile *f = parse_source(&a, d, "b.aai", "model m() {\n  return a + b * c\n}");
    cr_assert_eq(cap.n_errors, 0);
    const AstExpr *add = f->items[0].stmts[0].value;
    cr_expect_eq(add->kind, AST_EXPR_BINARY);
    cr_expect_eq(add->as.binary.op, AST_ADD);
    cr_expect_eq(add->loc.col, 12);
    cr_expect_eq(add->as.binary.rhs->loc.col, 16);
    cr_expect_eq(add->depth, 3);
    diag_free(d);
    arena_free(&a);
}

Test(parser, recovery_reports_several_errors) {
    DiagCapture cap;
    char *dump = parse_dump("dataset iris {\n"
                            "    source   = csv(\"x.csv\" header = true)\n"
                            "    label    column(\"species\")\n"
                            "    split    = holdout(test = 0.2)\n"
                            "}\n"
                            "model m(x f32) {\n"
                            "    return x\n"
                            "}\n"
                            "model k(x: f32) {\n"
                            "    h = x +\n"
                            "    return h\n"
                            "}\n"
                            "train k on iris {\n"
                            "    loss = }\n",
                            &cap);
    if (cap.n_errors != 5)
        capture_dump(&cap, stderr);
    cr_expect(capture_has(&cap, 2, "expected ',' or ')' in the argument list"));
    cr_expect(capture_has(&cap, 3, "expected '=' after field name 'label'"));
    cr_expect(capture_has(&cap, 6, "expected ':' and a type after parameter name 'x'"));
    /* `x +` continues on the next line, so the error is at `return` */
    cr_expect(capture_has(&cap, 11, "expected an operand after '+', found keyword 'return'"));
    cr_expect(capture_has(&cap, 14, "expected a value after '=', found '}'"));
    cr_expect_eq(cap.n_errors, 5);
    /* the good parts survive */
    cr_expect(strstr(dump, "(field split"));
    cr_expect(strstr(dump, "(model k"));
    cr_expect(strstr(dump, "(train k on iris"));
    free(dump);
}

Test(parser, missing_brace_before_next_item) {
    DiagCapture cap;
    char *dump = parse_dump("dataset d {\n  x = 1\n\nmodel m() {\n  return x\n}\n",
                            &cap);
    cr_expect_eq(cap.n_errors, 1);
    cr_expect(capture_has(&cap, 4, "missing '}' before 'model'"));
    cr_expect(strstr(dump, "(return (name x))"));
    free(dump);
}

Test(parser, call_of_a_non_name) {
    DiagCapture cap;
    free(parse_dump("model m() {\n  return (a + b)(x)\n}\n", &cap));
    cr_expect_eq(cap.n_errors, 1);
    cr_expect(capture_has(&cap, 2, "only a name can be called"));
}

/* A model returning `expr` built by repeating `unit` n times around x. */
static char *nested_source(const char *open, const char *close, int n) {
    size_t lo = strlen(open), lc = strlen(close);
    char *text = malloc(64 + (size_t)n * (lo + lc));
    char *p = text + sprintf(text, "model m() {\n  return ");
    for (int i = 0; i < n; i++, p += lo)
        memcpy(p, open, lo);
    *p++ = 'x';
    for (int i = 0; i < n; i++, p += lc)
        memcpy(p, close, lc);
    strcpy(p, "\n}\n");
    return text;
}

static void expect_nesting(const char *open, const char *close, int n,
                           int want_errors) {
    char *text = nested_source(open, close, n);
    DiagCapture cap;
    free(parse_dump(text, &cap));
    cr_expect_eq(cap.n_errors, want_errors, "%d x '%s': %d errors", n, open,
                 cap.n_errors);
    if (want_errors)
        cr_expect(strstr(cap.items[0].message, "nested too deeply"));
    free(text);
}

Test(parser, nesting_limits) {
    expect_nesting("(", ")", 256, 0);
    expect_nesting("(", ")", 257, 1);
    expect_nesting("(", ")", 100000, 1);
    expect_nesting("f(", ")", 200, 0);
    expect_nesting("f(", ")", 300, 1);
    expect_nesting("[", "]", 255, 0);
    expect_nesting("-", "", 255, 0);
    expect_nesting("-", "", 300, 1);
    expect_nesting("-", "", 200000, 1);
    expect_nesting("1 + ", "", 255, 0);
    expect_nesting("1 + ", "", 20000, 1);
    expect_nesting("", " |> f", 20000, 1);
}

/* ---- robustness: hostile input must never crash ---- */

/* Tiny deterministic generator (xorshift) so failures reproduce. */
static uint32_t rng_next(uint32_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* Checks invariants the later stages rely on, over one expression. */
static void check_expr(const AstExpr *e) {
    cr_assert_not_null(e);
    cr_assert_leq(e->depth, AST_MAX_EXPR_DEPTH + 1);
    switch (e->kind) {
    case AST_EXPR_CALL:
        cr_assert(e->as.call.callee->kind == AST_EXPR_NAME ||
                  e->as.call.callee->kind == AST_EXPR_FIELD);
        for (size_t i = 0; i < e->as.call.n_args; i++)
            check_expr(e->as.call.args[i].value);
        break;
    case AST_EXPR_PIPE:
    case AST_EXPR_BINARY:
        check_expr(e->as.binary.lhs);
        check_expr(e->as.binary.rhs);
        break;
    case AST_EXPR_NEG:
        check_expr(e->as.unary.operand);
        break;
    case AST_EXPR_LIST:
        for (size_t i = 0; i < e->as.list.len; i++)
            check_expr(e->as.list.items[i]);
        break;
    case AST_EXPR_FIELD:
        check_expr(e->as.field.object);
        break;
    default:
        break;
    }
}

/* Parses `text` (any bytes, NUL-terminated), checks the tree and prints
 * it to /dev/null. */
static void parse_hostile(const char *text, FILE *sink) {
    Arena a = {0};
    DiagCapture cap;
    Diag *d = capture_new(&cap);
    AstFile *f = parse_source(&a, d, "fuzz.aai", text);
    cr_assert_not_null(f);
    for (size_t i = 0; i < f->n_items; i++) {
        const AstItem *item = &f->items[i];
        cr_assert_not_null(item->name);
        for (size_t j = 0; j < item->n_fields; j++)
            check_expr(item->fields[j].value);
        for (size_t j = 0; j < item->n_stmts; j++)
            check_expr(item->stmts[j].value);
    }
    ast_print(sink, f);
    diag_free(d);
    arena_free(&a);
}

Test(parser, fuzz_truncations_of_the_example) {
    FILE *sink = fopen("/dev/null", "w");
    size_t n = strlen(iris_example);
    char *buf = malloc(n + 1);
    for (size_t cut = 0; cut <= n; cut++) {
        memcpy(buf, iris_example, cut);
        buf[cut] = '\0';
        parse_hostile(buf, sink);
        /* and the tail alone */
        parse_hostile(iris_example + cut, sink);
    }
    free(buf);
    fclose(sink);
}

Test(parser, fuzz_random_bytes) {
    FILE *sink = fopen("/dev/null", "w");
    uint32_t seed = 0x2545F491u;
    char buf[512];
    for (int round = 0; round < 3000; round++) {
        size_t len = rng_next(&seed) % (sizeof buf - 1);
        for (size_t i = 0; i < len; i++)
            buf[i] = (char)(rng_next(&seed) % 255 + 1);
        buf[len] = '\0';
        parse_hostile(buf, sink);
    }
    fclose(sink);
}

Test(parser, fuzz_token_soup) {
    static const char *const pieces[] = {
        "dataset", "model", "train", "on", "return", "true", "x", "f32",
        "1", "0.5", "\"s\"", "(", ")", "[", "]", "{", "}", ",", "=", "->",
        "|>", "+", "-", "*", "/", ":", ".", ";", "\n", " ", "#c\n", "\"",
        "\xff", "1e", "relu(", "x = ", "return "};
    FILE *sink = fopen("/dev/null", "w");
    uint32_t seed = 12345u;
    char buf[2048];
    size_t n_pieces = sizeof pieces / sizeof pieces[0];
    for (int round = 0; round < 4000; round++) {
        size_t len = 0, count = rng_next(&seed) % 120;
        for (size_t i = 0; i < count; i++) {
            const char *p = pieces[rng_next(&seed) % n_pieces];
            size_t pl = strlen(p);
            if (len + pl >= sizeof buf)
                break;
            memcpy(buf + len, p, pl);
            len += pl;
        }
        buf[len] = '\0';
        parse_hostile(buf, sink);
    }
    fclose(sink);
}

Test(parser, fuzz_mutations_of_the_example) {
    FILE *sink = fopen("/dev/null", "w");
    uint32_t seed = 777u;
    size_t n = strlen(iris_example);
    char *buf = malloc(n + 64);
    for (int round = 0; round < 3000; round++) {
        memcpy(buf, iris_example, n + 1);
        size_t len = n;
        int edits = 1 + (int)(rng_next(&seed) % 4);
        for (int e = 0; e < edits && len > 0; e++) {
            size_t at = rng_next(&seed) % len;
            switch (rng_next(&seed) % 3) {
            case 0: /* overwrite */
                buf[at] = (char)(rng_next(&seed) % 255 + 1);
                break;
            case 1: /* delete */
                memmove(buf + at, buf + at + 1, len - at);
                len--;
                break;
            default: /* duplicate */
                memmove(buf + at + 1, buf + at, len - at + 1);
                len++;
                break;
            }
        }
        parse_hostile(buf, sink);
    }
    free(buf);
    fclose(sink);
}
