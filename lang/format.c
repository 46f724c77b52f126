/* format.c - print an AST in the canonical layout (see format.h).
 *
 * One pass over the tree writes into a growing buffer that tracks the
 * output column (for aligning continuation lines). Comments are merged in
 * by source line: before a node, every pending comment from an earlier
 * line is printed on its own line; when a source line ends (a statement,
 * a header, a line break kept inside an expression), a comment from that
 * line is appended to the output line. Literals are copied from the
 * source text, so `1e-3` stays `1e-3`. */
#include "format.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct Fmt {
    char *buf;
    size_t len, cap;
    size_t col;            /* output column of the next byte, from 0 */
    const char *text;      /* the source */
    const size_t *line_at; /* byte offset of each source line (1-based) */
    uint32_t n_lines;
    const AstComment *comments;
    size_t n_comments, next_comment;
    bool block_start; /* nothing printed since '{' (or the file start) */
    int indent;       /* of the current statement */
} Fmt;

enum { PREC_PIPE = 1, PREC_ADD, PREC_MUL, PREC_UNARY, PREC_POSTFIX, PREC_ATOM };

static void put_n(Fmt *f, const char *s, size_t n) {
    if (f->len + n + 1 > f->cap) {
        f->cap = (f->len + n + 1) * 2;
        f->buf = realloc(f->buf, f->cap);
        if (!f->buf)
            abort();
    }
    memcpy(f->buf + f->len, s, n);
    f->len += n;
    f->buf[f->len] = '\0';
    for (size_t i = 0; i < n; i++)
        f->col = s[i] == '\n' ? 0 : f->col + 1;
}

static void put(Fmt *f, const char *s) { put_n(f, s, strlen(s)); }

static void put_spaces(Fmt *f, size_t n) {
    for (size_t i = 0; i < n; i++)
        put_n(f, " ", 1);
}

/* Ends the output line (dropping trailing blanks). */
static void newline(Fmt *f) {
    while (f->len > 0 && f->buf[f->len - 1] == ' ')
        f->len--;
    f->buf[f->len] = '\0';
    put_n(f, "\n", 1);
}

static bool line_blank(const Fmt *f, uint32_t line) {
    if (line < 1 || line > f->n_lines)
        return false;
    for (const char *p = f->text + f->line_at[line]; *p && *p != '\n'; p++)
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\f' && *p != '\v')
            return false;
    return true;
}

/* The source bytes of `loc` (a token on one line). */
static void put_source(Fmt *f, SrcLoc loc) {
    if (loc.line < 1 || loc.line > f->n_lines)
        return;
    put_n(f, f->text + f->line_at[loc.line] + loc.col - 1, loc.len);
}

/* Marks where a trailing comment starts; align_comments replaces it. */
#define TRAILING_MARK "\x01"

/* Appends the comments of source lines up to `line` to the output line. */
static void trailing_comments(Fmt *f, uint32_t line) {
    bool first = true;
    while (f->next_comment < f->n_comments &&
           f->comments[f->next_comment].loc.line <= line) {
        put(f, first ? TRAILING_MARK : "  ");
        put(f, f->comments[f->next_comment++].text);
        first = false;
    }
}

/* Trailing comments on consecutive lines start in one column, two spaces
 * after the longest code among those lines (like gofmt). Works on the
 * finished text, where each trailing comment starts with TRAILING_MARK
 * (code never contains that byte: strings reject control characters). */
static char *align_comments(char *text) {
    size_t n = strlen(text), lines = 1, longest = 0, cur = 0;
    for (const char *c = text; *c; c++) {
        cur = *c == '\n' ? 0 : cur + 1;
        lines += *c == '\n';
        longest = cur > longest ? cur : longest;
    }
    char *out = malloc(n + lines * (longest + 3) + 1);
    if (!out)
        abort();
    size_t o = 0;
    const char *p = text;
    while (*p) {
        /* a run of lines with marks */
        const char *run = p;
        size_t width = 0;
        const char *q = p;
        while (*q) {
            const char *eol = strchr(q, '\n');
            const char *end = eol ? eol : q + strlen(q);
            const char *mark = memchr(q, 1, (size_t)(end - q));
            if (!mark)
                break;
            if ((size_t)(mark - q) > width)
                width = (size_t)(mark - q);
            q = eol ? eol + 1 : end;
        }
        if (q == run) { /* a line without a comment */
            const char *eol = strchr(p, '\n');
            size_t len = eol ? (size_t)(eol - p) + 1 : strlen(p);
            memcpy(out + o, p, len);
            o += len;
            p += len;
            continue;
        }
        while (p < q) {
            const char *eol = strchr(p, '\n');
            const char *end = eol ? eol + 1 : p + strlen(p);
            const char *mark = memchr(p, 1, (size_t)(end - p));
            size_t code = (size_t)(mark - p);
            memcpy(out + o, p, code);
            o += code;
            for (size_t i = code; i < width + 2; i++)
                out[o++] = ' ';
            memcpy(out + o, mark + 1, (size_t)(end - mark - 1));
            o += (size_t)(end - mark - 1);
            p = end;
        }
    }
    out[o] = '\0';
    free(text);
    return out;
}

/* Prints pending comments from lines before `line` on their own lines,
 * then a blank line if the source had one before `line`. */
static void leading(Fmt *f, uint32_t line) {
    while (f->next_comment < f->n_comments &&
           f->comments[f->next_comment].loc.line < line) {
        const AstComment *c = &f->comments[f->next_comment++];
        if (!f->block_start && line_blank(f, c->loc.line - 1))
            newline(f);
        put_spaces(f, (size_t)f->indent);
        put(f, c->text);
        newline(f);
        f->block_start = false;
    }
    if (!f->block_start && line_blank(f, line - 1))
        newline(f);
    f->block_start = false;
    put_spaces(f, (size_t)f->indent);
}

/* ---- expressions -------------------------------------------------------- */

static uint32_t expr_last_line(const AstExpr *e) {
    uint32_t m = e->loc.line, k;
    switch (e->kind) {
    case AST_EXPR_CALL:
        for (size_t i = 0; i < e->as.call.n_args; i++)
            if ((k = expr_last_line(e->as.call.args[i].value)) > m)
                m = k;
        return m;
    case AST_EXPR_PIPE:
    case AST_EXPR_BINARY:
        k = expr_last_line(e->as.binary.rhs);
        return k > m ? k : m;
    case AST_EXPR_NEG:
        k = expr_last_line(e->as.unary.operand);
        return k > m ? k : m;
    case AST_EXPR_LIST:
        for (size_t i = 0; i < e->as.list.len; i++)
            if ((k = expr_last_line(e->as.list.items[i])) > m)
                m = k;
        return m;
    default:
        return m;
    }
}

static uint32_t expr_first_line(const AstExpr *e) {
    switch (e->kind) {
    case AST_EXPR_PIPE:
    case AST_EXPR_BINARY:
        return expr_first_line(e->as.binary.lhs);
    case AST_EXPR_CALL:
        return expr_first_line(e->as.call.callee);
    case AST_EXPR_FIELD:
        return expr_first_line(e->as.field.object);
    default:
        return e->loc.line;
    }
}

static int expr_prec(const AstExpr *e) {
    switch (e->kind) {
    case AST_EXPR_PIPE:
        return PREC_PIPE;
    case AST_EXPR_BINARY:
        return e->as.binary.op == AST_ADD || e->as.binary.op == AST_SUB
                   ? PREC_ADD
                   : PREC_MUL;
    case AST_EXPR_NEG:
        return PREC_UNARY;
    case AST_EXPR_CALL:
    case AST_EXPR_FIELD:
        return PREC_POSTFIX;
    default:
        return PREC_ATOM;
    }
}

static void put_expr(Fmt *f, const AstExpr *e, int min_prec);

/* A line break kept inside an expression: comments of the line that ends,
 * then the continuation at column `col`. */
static void continuation(Fmt *f, uint32_t ended_line, size_t col) {
    trailing_comments(f, ended_line);
    newline(f);
    put_spaces(f, col);
}

/* Elements of an argument list or list, keeping breaks after commas. */
static void put_items(Fmt *f, const AstExpr *const *items,
                      const AstArg *args, size_t n) {
    size_t col = f->col;
    for (size_t i = 0; i < n; i++) {
        const AstExpr *v = args ? args[i].value : items[i];
        uint32_t first = args && args[i].name ? args[i].name_loc.line
                                              : expr_first_line(v);
        if (i > 0) {
            put(f, ",");
            const AstExpr *prev = args ? args[i - 1].value : items[i - 1];
            uint32_t prev_end = expr_last_line(prev);
            if (first > prev_end)
                continuation(f, prev_end, col);
            else
                put(f, " ");
        }
        if (args && args[i].name) {
            put(f, args[i].name);
            put(f, " = ");
        }
        put_expr(f, v, PREC_PIPE);
    }
}

static void put_binary(Fmt *f, const AstExpr *e, const char *op, int prec) {
    put_expr(f, e->as.binary.lhs, prec);
    uint32_t lhs_end = expr_last_line(e->as.binary.lhs);
    if (e->loc.line > lhs_end) {
        continuation(f, lhs_end, (size_t)f->indent + 4);
        put(f, op);
    } else {
        put(f, " ");
        put(f, op);
    }
    const AstExpr *rhs = e->as.binary.rhs;
    if (expr_first_line(rhs) > e->loc.line)
        continuation(f, e->loc.line, (size_t)f->indent + 4);
    else
        put(f, " ");
    put_expr(f, rhs, prec + 1);
}

static void put_expr(Fmt *f, const AstExpr *e, int min_prec) {
    int prec = expr_prec(e);
    bool parens = prec < min_prec;
    if (parens)
        put(f, "(");
    switch (e->kind) {
    case AST_EXPR_NUMBER:
    case AST_EXPR_STRING:
        put_source(f, e->loc);
        break;
    case AST_EXPR_BOOL:
        put(f, e->as.boolean ? "true" : "false");
        break;
    case AST_EXPR_NAME:
        put(f, e->as.name);
        break;
    case AST_EXPR_CALL:
        put_expr(f, e->as.call.callee, PREC_POSTFIX);
        put(f, "(");
        put_items(f, NULL, e->as.call.args, e->as.call.n_args);
        put(f, ")");
        break;
    case AST_EXPR_PIPE:
        put_binary(f, e, "|>", PREC_PIPE);
        break;
    case AST_EXPR_BINARY:
        put_binary(f, e, ast_binop_name(e->as.binary.op), prec);
        break;
    case AST_EXPR_NEG:
        put(f, "-");
        put_expr(f, e->as.unary.operand, PREC_UNARY);
        break;
    case AST_EXPR_LIST:
        put(f, "[");
        put_items(f, (const AstExpr *const *)e->as.list.items, NULL,
                  e->as.list.len);
        put(f, "]");
        break;
    case AST_EXPR_FIELD:
        put_expr(f, e->as.field.object, PREC_POSTFIX);
        put(f, ".");
        put(f, e->as.field.member);
        break;
    }
    if (parens)
        put(f, ")");
}

/* ---- blocks and items --------------------------------------------------- */

static void put_type(Fmt *f, const AstType *t) {
    put(f, t->dtype);
    if (t->n_dims == 0 && !t->dims)
        return;
    put(f, "[");
    for (size_t i = 0; i < t->n_dims; i++) {
        if (i)
            put(f, ", ");
        if (t->dims[i].symbol)
            put(f, t->dims[i].symbol);
        else
            put_source(f, t->dims[i].loc);
    }
    put(f, "]");
}

/* Ends a line of code that ended on source line `line`. */
static void end_line(Fmt *f, uint32_t line) {
    trailing_comments(f, line);
    newline(f);
}

/* The closing brace of a block whose body was printed at f->indent. */
static void close_block(Fmt *f, SrcLoc end, int outer) {
    while (f->next_comment < f->n_comments &&
           f->comments[f->next_comment].loc.line < end.line) {
        const AstComment *c = &f->comments[f->next_comment++];
        if (!f->block_start && line_blank(f, c->loc.line - 1))
            newline(f);
        put_spaces(f, (size_t)f->indent);
        put(f, c->text);
        newline(f);
        f->block_start = false;
    }
    f->indent = outer;
    put_spaces(f, (size_t)outer);
    put(f, "}");
    f->block_start = false;
    end_line(f, end.line);
}

static void put_stmts(Fmt *f, const AstStmt *stmts, size_t n);

static void put_stmt(Fmt *f, const AstStmt *s) {
    leading(f, s->loc.line);
    switch (s->kind) {
    case AST_STMT_LET:
        put(f, s->name);
        put(f, " = ");
        put_expr(f, s->value, PREC_PIPE);
        end_line(f, expr_last_line(s->value));
        return;
    case AST_STMT_RETURN:
        put(f, "return ");
        put_expr(f, s->value, PREC_PIPE);
        end_line(f, expr_last_line(s->value));
        return;
    case AST_STMT_PARAM:
        put(f, "param ");
        put(f, s->name);
        put(f, ": ");
        put_type(f, &s->type);
        put(f, " = ");
        put_expr(f, s->value, PREC_PIPE);
        end_line(f, expr_last_line(s->value));
        return;
    case AST_STMT_LOOP: {
        if (s->name) {
            put(f, "for ");
            put(f, s->name);
            put(f, " in ");
        } else {
            put(f, "repeat ");
        }
        put_expr(f, s->value, PREC_PIPE);
        put(f, " {");
        end_line(f, expr_last_line(s->value));
        int outer = f->indent;
        f->indent += 4;
        f->block_start = true;
        put_stmts(f, s->body, s->n_body);
        close_block(f, s->end_loc, outer);
        return;
    }
    }
}

static void put_stmts(Fmt *f, const AstStmt *stmts, size_t n) {
    for (size_t i = 0; i < n; i++)
        put_stmt(f, &stmts[i]);
}

static void put_fields(Fmt *f, const AstItem *it) {
    size_t width = 0;
    for (size_t i = 0; i < it->n_fields; i++)
        if (strlen(it->fields[i].key) > width)
            width = strlen(it->fields[i].key);
    for (size_t i = 0; i < it->n_fields; i++) {
        const AstField *fl = &it->fields[i];
        leading(f, fl->loc.line);
        put(f, fl->key);
        put_spaces(f, width - strlen(fl->key));
        put(f, " = ");
        put_expr(f, fl->value, PREC_PIPE);
        end_line(f, expr_last_line(fl->value));
    }
}

static void put_params(Fmt *f, const AstItem *it) {
    put(f, "(");
    for (size_t i = 0; i < it->n_params; i++) {
        const AstParam *p = &it->params[i];
        if (i)
            put(f, ", ");
        put(f, p->name);
        if (p->has_type) {
            put(f, ": ");
            put_type(f, &p->type);
        }
        if (p->default_value) {
            put(f, " = ");
            put_expr(f, p->default_value, PREC_PIPE);
        }
    }
    put(f, ")");
    if (it->has_result) {
        put(f, " -> ");
        put_type(f, &it->result);
    }
}

/* The last source line of an item's header (before its '{'). */
static uint32_t header_line(const AstItem *it) {
    uint32_t m = it->name_loc.line;
    for (size_t i = 0; i < it->n_params; i++)
        if (it->params[i].loc.line > m)
            m = it->params[i].loc.line;
    if (it->has_result && it->result.loc.line > m)
        m = it->result.loc.line;
    if (it->kind == AST_ITEM_TRAIN && it->dataset_loc.line > m)
        m = it->dataset_loc.line;
    return m;
}

static void put_item(Fmt *f, const AstItem *it) {
    f->indent = 0;
    leading(f, it->loc.line);
    switch (it->kind) {
    case AST_ITEM_USE:
        put(f, "use ");
        if (it->use_is_file)
            put_source(f, it->name_loc);
        else
            put(f, it->name);
        end_line(f, it->name_loc.line);
        return;
    case AST_ITEM_CONST:
        put(f, "const ");
        put(f, it->name);
        put(f, " = ");
        put_expr(f, it->value, PREC_PIPE);
        end_line(f, expr_last_line(it->value));
        return;
    case AST_ITEM_DATASET:
        put(f, "dataset ");
        put(f, it->name);
        break;
    case AST_ITEM_TRAIN:
        put(f, "train ");
        put(f, it->name);
        put(f, " on ");
        put(f, it->dataset);
        break;
    case AST_ITEM_MODEL:
    case AST_ITEM_DEF:
        put(f, it->kind == AST_ITEM_MODEL ? "model " : "def ");
        put(f, it->name);
        put_params(f, it);
        break;
    }
    put(f, " {");
    end_line(f, header_line(it));
    f->indent = 4;
    f->block_start = true;
    if (it->kind == AST_ITEM_MODEL || it->kind == AST_ITEM_DEF)
        put_stmts(f, it->stmts, it->n_stmts);
    else
        put_fields(f, it);
    close_block(f, it->end_loc, 0);
}

char *ast_format(const AstFile *file, const char *text) {
    uint32_t n_lines = 1;
    for (const char *p = text; *p; p++)
        n_lines += *p == '\n';
    size_t *line_at = calloc((size_t)n_lines + 2, sizeof *line_at);
    if (!line_at)
        abort();
    uint32_t line = 1;
    line_at[1] = 0;
    for (size_t i = 0; text[i]; i++)
        if (text[i] == '\n')
            line_at[++line] = i + 1;
    Fmt f = {0};
    f.text = text;
    f.line_at = line_at;
    f.n_lines = n_lines;
    f.comments = file->comments;
    f.n_comments = file->n_comments;
    f.block_start = true;
    put(&f, "");
    for (size_t i = 0; i < file->n_items; i++)
        put_item(&f, &file->items[i]);
    /* comments after the last item */
    f.indent = 0;
    while (f.next_comment < f.n_comments) {
        const AstComment *c = &f.comments[f.next_comment++];
        if (!f.block_start && line_blank(&f, c->loc.line - 1))
            newline(&f);
        put(&f, c->text);
        newline(&f);
        f.block_start = false;
    }
    free(line_at);
    return align_comments(f.buf);
}
