/* ast.h - the syntax tree of a .aai file.
 *
 * The parser builds it, nothing else writes it; sema reads it. Every node
 * carries the SrcLoc of its first token (a call's loc covers the callee
 * name, a binary expression's loc the operator) so later stages can point
 * diagnostics at the exact text. All nodes live in the compilation's arena. */
#ifndef AAI_AST_H
#define AAI_AST_H

#include <stdbool.h>
#include <stddef.h>

#include "arena.h"
#include "diag.h"

typedef struct AstExpr AstExpr;

/* The parser rejects expressions nested deeper than this (parentheses,
 * operators and calls all count), so later stages may recurse on the tree
 * without guarding their stack. */
#define AST_MAX_EXPR_DEPTH 256

typedef enum AstExprKind {
    AST_EXPR_NUMBER, /* 3, 0.01, 1e-3: `number`, `is_int` */
    AST_EXPR_STRING, /* "data/iris.csv": `string` (escapes resolved) */
    AST_EXPR_BOOL,   /* true / false: `boolean` */
    AST_EXPR_NAME,   /* relu, x, standardize: `name` */
    AST_EXPR_CALL,   /* f(a, b, k = v): `call` */
    AST_EXPR_PIPE,   /* a |> f(b)  means f(a, b); a |> f means f(a): `binary` */
    AST_EXPR_BINARY, /* a + b, a - b, a * b, a / b: `binary` */
    AST_EXPR_NEG,    /* -a: `unary` */
    AST_EXPR_LIST,   /* [a, b, c]: `list` */
    AST_EXPR_FIELD,  /* a.b (member access, e.g. std.nn.mlp): `field` */
} AstExprKind;

typedef enum AstBinOp { AST_ADD, AST_SUB, AST_MUL, AST_DIV } AstBinOp;

/* One argument of a call: positional when `name` is NULL. */
typedef struct AstArg {
    const char *name; /* keyword, or NULL */
    SrcLoc name_loc;  /* the keyword's position (valid when name != NULL) */
    AstExpr *value;
} AstArg;

typedef struct AstExprList {
    AstExpr **items;
    size_t len;
} AstExprList;

struct AstExpr {
    AstExprKind kind;
    SrcLoc loc;
    uint32_t depth; /* height of this subtree, 1 for a leaf (parser-set) */
    union {
        struct {
            double value;
            bool is_int; /* written without '.', 'e' */
        } number;
        const char *string;
        bool boolean;
        const char *name;
        struct {
            AstExpr *callee; /* AST_EXPR_NAME or AST_EXPR_FIELD */
            AstArg *args;
            size_t n_args;
        } call;
        struct {
            AstBinOp op; /* unused for AST_EXPR_PIPE */
            AstExpr *lhs, *rhs;
        } binary;
        struct {
            AstExpr *operand;
        } unary;
        AstExprList list;
        struct {
            AstExpr *object;
            const char *member;
        } field;
    } as;
};

/* A dimension of a tensor type: a number or a symbolic name ("batch"). */
typedef struct AstDim {
    const char *symbol; /* NULL for a literal size */
    long long size;     /* valid when symbol == NULL */
    SrcLoc loc;
} AstDim;

/* f32[batch, 4]: dtype name and dimensions (n_dims = 0 for a scalar). */
typedef struct AstType {
    const char *dtype; /* "f32", "i64", ... as written; sema checks it */
    SrcLoc loc;
    AstDim *dims;
    size_t n_dims;
} AstType;

/* A model or def parameter. Model parameters always have a type; a def
 * parameter may omit it (a tensor) and may have a default value. */
typedef struct AstParam {
    const char *name;
    SrcLoc loc;
    AstType type;
    bool has_type;          /* `: type` was written */
    AstExpr *default_value; /* def only: `= expr`, or NULL */
} AstParam;

typedef enum AstStmtKind {
    AST_STMT_LET,    /* name = expr */
    AST_STMT_RETURN, /* return expr */
    AST_STMT_PARAM,  /* param name: type = init */
    AST_STMT_LOOP,   /* repeat expr { body } / for var in expr { body } */
} AstStmtKind;

typedef struct AstStmt AstStmt;
struct AstStmt {
    AstStmtKind kind;
    SrcLoc loc;       /* the name (let, param) or the keyword */
    const char *name; /* LET, PARAM; the loop variable (NULL for repeat) */
    SrcLoc name_loc;  /* PARAM, LOOP: the name's position */
    AstExpr *value;   /* LET, RETURN; PARAM: the initializer; LOOP: the
                         count (repeat) or the list iterated (for) */
    AstType type;     /* PARAM */
    AstStmt *body;    /* LOOP */
    size_t n_body;
    SrcLoc end_loc;   /* LOOP: the closing brace */
};

/* `key = expr` inside a dataset or train block. */
typedef struct AstField {
    const char *key;
    SrcLoc loc; /* the key */
    AstExpr *value;
} AstField;

typedef enum AstItemKind {
    AST_ITEM_DATASET, /* dataset NAME { fields } */
    AST_ITEM_MODEL,   /* model NAME(params) -> type { stmts } */
    AST_ITEM_TRAIN,   /* train MODEL on DATASET { fields } */
    AST_ITEM_DEF,     /* def NAME(params) -> type { stmts } */
    AST_ITEM_USE,     /* use std.nn / use "path.aai": `name` is the module
                         path ("std.nn") or the file path as written */
    AST_ITEM_CONST,   /* const NAME = expr: `value` */
} AstItemKind;

typedef struct AstItem {
    AstItemKind kind;
    SrcLoc loc;       /* the item's keyword */
    const char *name; /* dataset/model name; the model name for train */
    SrcLoc name_loc;
    /* dataset, train */
    AstField *fields;
    size_t n_fields;
    /* train: the dataset it runs on */
    const char *dataset;
    SrcLoc dataset_loc;
    /* use */
    bool use_is_file; /* use "path.aai" (else a module path) */
    /* const */
    AstExpr *value;
    /* model, def */
    AstParam *params;
    size_t n_params;
    AstType result;
    bool has_result;
    AstStmt *stmts;
    size_t n_stmts;
    SrcLoc end_loc; /* the closing brace (for "missing return") */
} AstItem;

/* A `#` comment, kept for the formatter (aaic fmt); the parser ignores
 * comments otherwise. `text` starts with '#' and has no line break. */
typedef struct AstComment {
    SrcLoc loc;
    const char *text;
} AstComment;

typedef struct AstFile {
    const char *path;
    uint32_t file_id; /* Diag file id */
    AstItem *items;
    size_t n_items;
    AstComment *comments; /* in source order */
    size_t n_comments;
} AstFile;

/* Prints the tree as indented S-expressions (tests and --emit=ast). */
void ast_print(FILE *out, const AstFile *file);
const char *ast_binop_name(AstBinOp op);

#endif
