/* ast.c - printing the syntax tree.
 *
 * ast_print writes a stable, indented S-expression dump: the format of
 * `aaic --emit=ast` and of the parser's unit tests. Layout rule: a leaf
 * (name, number, string, bool) prints inline; a node whose children are all
 * leaves prints on one line; any other node puts each child on its own line,
 * indented two more spaces. Source locations are not printed. */
#include "ast.h"

#include <stdlib.h>
#include <string.h>

const char *ast_binop_name(AstBinOp op) {
    switch (op) {
    case AST_ADD:
        return "+";
    case AST_SUB:
        return "-";
    case AST_MUL:
        return "*";
    case AST_DIV:
        return "/";
    }
    return "?";
}

static void print_indent(FILE *out, int indent) {
    for (int i = 0; i < indent; i++)
        fputc(' ', out);
}

/* Writes `s` quoted, escaping what the lexer unescapes plus any byte that
 * is not printable ASCII, so the dump is one line per leaf. */
static void print_quoted(FILE *out, const char *s) {
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", out);
        else if (*p == '\t')
            fputs("\\t", out);
        else if (*p < 0x20 || *p >= 0x7f)
            fprintf(out, "\\x%02x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

/* Shortest %g form that reads back to the same double. */
static void print_number(FILE *out, double v, bool is_int) {
    if (is_int && v >= -9.2e18 && v <= 9.2e18) {
        fprintf(out, "%lld", (long long)v);
        return;
    }
    char buf[64];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    fputs(buf, out);
}

static bool expr_is_leaf(const AstExpr *e) {
    return e->kind == AST_EXPR_NUMBER || e->kind == AST_EXPR_STRING ||
           e->kind == AST_EXPR_BOOL || e->kind == AST_EXPR_NAME;
}

/* Fills `kids` with the children of `e` (a call's callee is not a child:
 * it prints in the head) and returns how many; `cap` bounds the count. */
static size_t expr_children(const AstExpr *e, const AstExpr **kids,
                            size_t cap) {
    size_t n = 0;
    switch (e->kind) {
    case AST_EXPR_CALL:
        for (size_t i = 0; i < e->as.call.n_args && n < cap; i++)
            kids[n++] = e->as.call.args[i].value;
        break;
    case AST_EXPR_PIPE:
    case AST_EXPR_BINARY:
        kids[n++] = e->as.binary.lhs;
        kids[n++] = e->as.binary.rhs;
        break;
    case AST_EXPR_NEG:
        kids[n++] = e->as.unary.operand;
        break;
    case AST_EXPR_LIST:
        for (size_t i = 0; i < e->as.list.len && n < cap; i++)
            kids[n++] = e->as.list.items[i];
        break;
    case AST_EXPR_FIELD:
        kids[n++] = e->as.field.object;
        break;
    default:
        break;
    }
    return n;
}

/* True when every child of `e` is a leaf (so `e` fits on one line). */
static bool expr_is_flat(const AstExpr *e) {
    if (e->kind == AST_EXPR_CALL && e->as.call.callee->kind != AST_EXPR_NAME)
        return false;
    size_t total = e->kind == AST_EXPR_CALL ? e->as.call.n_args
                   : e->kind == AST_EXPR_LIST ? e->as.list.len
                                              : 2;
    if (total > 8)
        return false;
    const AstExpr *kids[8];
    size_t n = expr_children(e, kids, 8);
    for (size_t i = 0; i < n; i++)
        if (!expr_is_leaf(kids[i]))
            return false;
    return true;
}

static void print_expr(FILE *out, const AstExpr *e, int indent);

/* Separator before a child: a space on flat lines, else a new line. */
static void print_sep(FILE *out, bool flat, int indent) {
    if (flat) {
        fputc(' ', out);
        return;
    }
    fputc('\n', out);
    print_indent(out, indent);
}

static void print_leaf(FILE *out, const AstExpr *e) {
    switch (e->kind) {
    case AST_EXPR_NUMBER:
        fputs("(num ", out);
        print_number(out, e->as.number.value, e->as.number.is_int);
        break;
    case AST_EXPR_STRING:
        fputs("(str ", out);
        print_quoted(out, e->as.string);
        break;
    case AST_EXPR_BOOL:
        fputs(e->as.boolean ? "(bool true" : "(bool false", out);
        break;
    default:
        fprintf(out, "(name %s", e->as.name);
        break;
    }
    fputc(')', out);
}

static void print_call(FILE *out, const AstExpr *e, int indent) {
    bool flat = expr_is_flat(e);
    const AstExpr *callee = e->as.call.callee;
    if (callee->kind == AST_EXPR_NAME) {
        fprintf(out, "(call %s", callee->as.name);
    } else {
        fputs("(call", out);
        print_sep(out, false, indent + 2);
        print_expr(out, callee, indent + 2);
    }
    for (size_t i = 0; i < e->as.call.n_args; i++) {
        const AstArg *arg = &e->as.call.args[i];
        print_sep(out, flat, indent + 2);
        if (!arg->name) {
            print_expr(out, arg->value, indent + 2);
            continue;
        }
        fprintf(out, "(kwarg %s", arg->name);
        print_sep(out, expr_is_leaf(arg->value), indent + 4);
        print_expr(out, arg->value, indent + 4);
        fputc(')', out);
    }
    fputc(')', out);
}

static void print_expr(FILE *out, const AstExpr *e, int indent) {
    if (expr_is_leaf(e)) {
        print_leaf(out, e);
        return;
    }
    if (e->kind == AST_EXPR_CALL) {
        print_call(out, e, indent);
        return;
    }
    switch (e->kind) {
    case AST_EXPR_PIPE:
        fputs("(pipe", out);
        break;
    case AST_EXPR_BINARY:
        fprintf(out, "(%s", ast_binop_name(e->as.binary.op));
        break;
    case AST_EXPR_NEG:
        fputs("(neg", out);
        break;
    case AST_EXPR_LIST:
        fputs("(list", out);
        break;
    default:
        fprintf(out, "(member %s", e->as.field.member);
        break;
    }
    bool flat = expr_is_flat(e);
    const AstExpr *kids[2];
    if (e->kind == AST_EXPR_LIST) {
        for (size_t i = 0; i < e->as.list.len; i++) {
            print_sep(out, flat, indent + 2);
            print_expr(out, e->as.list.items[i], indent + 2);
        }
    } else {
        size_t n = expr_children(e, kids, 2);
        for (size_t i = 0; i < n; i++) {
            print_sep(out, flat, indent + 2);
            print_expr(out, kids[i], indent + 2);
        }
    }
    fputc(')', out);
}

/* `(head value)`: on one line when the value is a leaf. */
static void print_labeled(FILE *out, const char *head, const AstExpr *value,
                          int indent) {
    print_indent(out, indent);
    fputs(head, out);
    print_sep(out, expr_is_leaf(value), indent + 2);
    print_expr(out, value, indent + 2);
    fputc(')', out);
}

static void print_type(FILE *out, const AstType *t) {
    fprintf(out, "(type %s", t->dtype);
    for (size_t i = 0; i < t->n_dims; i++) {
        if (t->dims[i].symbol)
            fprintf(out, " %s", t->dims[i].symbol);
        else
            fprintf(out, " %lld", t->dims[i].size);
    }
    fputc(')', out);
}

static void print_fields(FILE *out, const AstItem *item, int indent) {
    for (size_t i = 0; i < item->n_fields; i++) {
        const AstField *f = &item->fields[i];
        fputc('\n', out);
        char head[256];
        snprintf(head, sizeof head, "(field %s", f->key);
        print_labeled(out, head, f->value, indent);
    }
}

static void print_stmts(FILE *out, const AstStmt *stmts, size_t n,
                        int indent) {
    for (size_t i = 0; i < n; i++) {
        const AstStmt *s = &stmts[i];
        fputc('\n', out);
        char head[256];
        switch (s->kind) {
        case AST_STMT_LET:
            snprintf(head, sizeof head, "(let %s", s->name);
            break;
        case AST_STMT_RETURN:
            snprintf(head, sizeof head, "(return");
            break;
        case AST_STMT_PARAM:
            print_indent(out, indent);
            fprintf(out, "(param-decl %s ", s->name);
            print_type(out, &s->type);
            print_sep(out, expr_is_leaf(s->value), indent + 2);
            print_expr(out, s->value, indent + 2);
            fputc(')', out);
            continue;
        case AST_STMT_LOOP:
            print_indent(out, indent);
            if (s->name)
                fprintf(out, "(for %s", s->name);
            else
                fputs("(repeat", out);
            print_sep(out, false, indent + 2);
            print_expr(out, s->value, indent + 2);
            print_stmts(out, s->body, s->n_body, indent + 2);
            fputc(')', out);
            continue;
        }
        print_labeled(out, head, s->value, indent);
    }
}

static void print_model(FILE *out, const AstItem *item, int indent) {
    for (size_t i = 0; i < item->n_params; i++) {
        const AstParam *p = &item->params[i];
        fputc('\n', out);
        print_indent(out, indent);
        fprintf(out, "(param %s", p->name);
        if (p->has_type) {
            fputc(' ', out);
            print_type(out, &p->type);
        }
        if (p->default_value) {
            fputs(" (default", out);
            print_sep(out, expr_is_leaf(p->default_value), indent + 4);
            print_expr(out, p->default_value, indent + 4);
            fputc(')', out);
        }
        fputc(')', out);
    }
    if (item->has_result) {
        fputc('\n', out);
        print_indent(out, indent);
        fputs("(result ", out);
        print_type(out, &item->result);
        fputc(')', out);
    }
    print_stmts(out, item->stmts, item->n_stmts, indent);
}

static void print_item(FILE *out, const AstItem *item, int indent) {
    print_indent(out, indent);
    switch (item->kind) {
    case AST_ITEM_DATASET:
        fprintf(out, "(dataset %s", item->name);
        print_fields(out, item, indent + 2);
        break;
    case AST_ITEM_MODEL:
        fprintf(out, "(model %s", item->name);
        print_model(out, item, indent + 2);
        break;
    case AST_ITEM_TRAIN:
        fprintf(out, "(train %s on %s", item->name, item->dataset);
        print_fields(out, item, indent + 2);
        break;
    case AST_ITEM_DEF:
        fprintf(out, "(def %s", item->name);
        print_model(out, item, indent + 2);
        break;
    case AST_ITEM_USE:
        fprintf(out, "(use %s", item->use_is_file ? "file" : "module");
        fputc(' ', out);
        if (item->use_is_file)
            print_quoted(out, item->name);
        else
            fputs(item->name, out);
        break;
    case AST_ITEM_CONST:
        fprintf(out, "(const %s", item->name);
        print_sep(out, expr_is_leaf(item->value), indent + 2);
        print_expr(out, item->value, indent + 2);
        break;
    }
    fputc(')', out);
}

void ast_print(FILE *out, const AstFile *file) {
    fputs("(file", out);
    for (size_t i = 0; i < file->n_items; i++) {
        fputc('\n', out);
        print_item(out, &file->items[i], 2);
    }
    fputs(")\n", out);
}
