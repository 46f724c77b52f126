/* parse_ctx.h - state shared by the scanner (lexer.l), the grammar
 * (parser.y) and the tree builders (parse.c). Private to lang/.
 *
 * One ParseCtx lives on parse_source's stack for one parse; the scanner
 * reaches it as yyextra and the grammar as its parse-param, so nothing is
 * global. Newlines: inside a `{ }` block the scanner turns a line break into
 * a NEWLINE separator token when the line ends a statement (last token ends
 * an operand, no '(' or '[' open, next line does not start with a
 * continuation such as `|>`); everywhere else line breaks are blanks. */
#ifndef AAI_PARSE_CTX_H
#define AAI_PARSE_CTX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "ast.h"
#include "diag.h"

/* Deepest '(' / '[' nesting the scanner accepts before giving up. */
enum { PARSE_MAX_NESTING = AST_MAX_EXPR_DEPTH };

/* A numeric literal as the scanner hands it to the grammar. */
typedef struct LexNumber {
    double value;
    bool is_int; /* written without '.' or exponent */
} LexNumber;

/* Which kind of block the scanner is in; used to word syntax errors. */
typedef enum ParseBlock {
    PARSE_BLOCK_NONE,
    PARSE_BLOCK_DATASET,
    PARSE_BLOCK_MODEL,
    PARSE_BLOCK_TRAIN,
} ParseBlock;

typedef struct ParseCtx {
    Arena *arena;
    Diag *diag;
    uint32_t file;    /* Diag file id */
    const char *text; /* the whole source, NUL-terminated */
    size_t len;       /* bytes scanned: strlen(text) */
    /* scanner position */
    size_t offset;   /* byte offset of the next unscanned byte */
    uint32_t line;   /* 1-based line of `offset` */
    uint32_t col;    /* 1-based column of `offset` */
    size_t tok_offset; /* byte offset of the token being scanned */
    int last_token;  /* kind of the last token returned (0 at start) */
    SrcLoc last_loc; /* its location */
    size_t last_offset; /* its byte offset in text */
    SrcLoc prev_loc;    /* the token before it */
    int prev_token;
    size_t prev_offset;
    /* bracket and block tracking */
    int depth;                           /* open '(' and '[' */
    int depth_at_brace;                  /* depth before the last brace */
    bool virtual_next;                   /* next '}' is made up */
    bool last_virtual;                   /* the last token was made up */
    SrcLoc open[PARSE_MAX_NESTING + 1];  /* where each one opened */
    char open_kind[PARSE_MAX_NESTING + 1]; /* '(' or '[' */
    bool in_block;                       /* inside `{ }` */
    int brace_depth;                     /* open `{` (loops nest) */
    bool closing_blocks;                 /* closing every open block
                                            before an item keyword */
    SrcLoc block_open;                   /* its '{' */
    ParseBlock block, header;            /* current block / last keyword */
    /* error handling */
    bool recovering; /* a syntax error happened: next line break separates */
    bool quiet;      /* a lexical error broke this statement: no syntax
                        errors until its separator has been read */
    bool quiet_ends; /* that separator was just returned */
    bool fatal;      /* give up: scanner returns end of file from now on */
    /* result */
    PtrVec items;    /* AstItem *, in source order */
    PtrVec comments; /* AstComment *, in source order */
} ParseCtx;

/* Scans and parses ctx->text (lexer.l); items land in ctx->items.
 * Returns yyparse's status (0 ok, 1 syntax error, 2 out of memory). */
int parse_run(ParseCtx *ctx);

/* One scanned token, for tests and debugging (parse_tokens). */
typedef struct LexToken {
    int kind;         /* a TK_ token kind from the generated parser.h */
    const char *name; /* parse_token_name(kind) */
    SrcLoc loc;
    const char *str;  /* NAME and STRING: the (unescaped) text */
    LexNumber num;    /* NUMBER */
} LexToken;

/* Scans `text` (registered in `d` under `path`) without parsing and
 * returns its tokens, ending with the end-of-file token, in an arena
 * array; *n_tokens gets the count. Lexical errors go to `d`. */
LexToken *parse_tokens(Arena *a, Diag *d, const char *path, const char *text,
                       size_t *n_tokens);
/* Scanner half of parse_tokens (lexer.l). */
LexToken *parse_lex_all(ParseCtx *ctx, size_t *n_tokens);
/* Stable short name of a token kind: "NAME", "NUMBER", "STRING",
 * "NEWLINE", "EOF", or the keyword / punctuation itself ("model", "|>"). */
const char *parse_token_name(int kind);

/* ---- scanner helpers (parse.c), called from lexer.l ---- */

/* Sets *loc to the token at the current position with `len` bytes and
 * advances the position over `text` (which may contain newlines). */
void parse_lex_advance(ParseCtx *ctx, SrcLoc *loc, const char *text,
                       size_t len);
/* Records `token` as the last one returned and returns it. */
int parse_lex_token(ParseCtx *ctx, int token, SrcLoc loc);
/* Decides whether the line break just scanned (at *loc) separates
 * statements; if so *loc is moved to just after the line's last token. */
bool parse_lex_newline_separates(ParseCtx *ctx, SrcLoc *loc);
/* Converts a number literal; reports overflow at `loc`. */
LexNumber parse_lex_number(ParseCtx *ctx, SrcLoc loc, const char *text,
                           bool is_int);
/* Resolves escapes of a quoted literal `text` (quotes included unless
 * `unterminated`), reporting bad escapes and bytes; returns arena text. */
const char *parse_lex_string(ParseCtx *ctx, SrcLoc loc, const char *text,
                             size_t len, bool unterminated);
/* Reports a single-quoted string `text` and returns its text as if it had
 * been double-quoted (no escapes). */
const char *parse_lex_single_quoted(ParseCtx *ctx, SrcLoc loc,
                                    const char *text, size_t len);
/* Records the `#` comments in `text` (a comment, or a run of line breaks
 * and comment lines) scanned at `loc`, for the formatter. */
void parse_lex_comments(ParseCtx *ctx, SrcLoc loc, const char *text,
                        size_t len);
/* Reports the stray byte or UTF-8 character `text` at `loc`. */
void parse_lex_stray(ParseCtx *ctx, SrcLoc loc, const char *text, size_t len);
/* Bracket bookkeeping; open returns false when nesting is too deep (the
 * error is reported and the parse stops). */
bool parse_lex_open(ParseCtx *ctx, SrcLoc loc, char kind);
void parse_lex_close(ParseCtx *ctx, char kind);
void parse_lex_brace(ParseCtx *ctx, SrcLoc loc, bool open);
/* Called on `dataset`/`model`/`train` at *loc: when it starts an item
 * header inside a block, reports the missing '}', closes the block, moves
 * the position back to the keyword and returns true (the scanner then
 * returns a '}' and rescans the keyword). */
bool parse_lex_unclosed_block(ParseCtx *ctx, SrcLoc *loc);

/* ---- syntax errors (parse.c), called from parser.y ---- */

/* Reports a syntax error at `loc` for the unexpected token kind
 * `unexpected` (a yytoken_kind_t), given the `n_expected` token kinds the
 * grammar would have accepted. */
void parse_syntax_error(ParseCtx *ctx, SrcLoc loc, int unexpected,
                        const int *expected, int n_expected);

/* ---- tree builders (parse.c): one per grammar rule ---- */

PtrVec *parse_vec_new(ParseCtx *ctx);
PtrVec *parse_vec_push(ParseCtx *ctx, PtrVec *vec, void *item);

AstExpr *parse_expr_number(ParseCtx *ctx, SrcLoc loc, LexNumber num);
AstExpr *parse_expr_string(ParseCtx *ctx, SrcLoc loc, const char *s);
AstExpr *parse_expr_bool(ParseCtx *ctx, SrcLoc loc, bool value);
AstExpr *parse_expr_name(ParseCtx *ctx, SrcLoc loc, const char *name);
AstExpr *parse_expr_call(ParseCtx *ctx, AstExpr *callee, PtrVec *args);
AstExpr *parse_expr_pipe(ParseCtx *ctx, SrcLoc op, AstExpr *lhs,
                         AstExpr *rhs);
AstExpr *parse_expr_binary(ParseCtx *ctx, SrcLoc op, AstBinOp kind,
                           AstExpr *lhs, AstExpr *rhs);
AstExpr *parse_expr_neg(ParseCtx *ctx, SrcLoc op, AstExpr *operand);
AstExpr *parse_expr_list(ParseCtx *ctx, SrcLoc open, PtrVec *items);
AstExpr *parse_expr_member(ParseCtx *ctx, SrcLoc name_loc, AstExpr *object,
                           const char *member);
AstArg *parse_arg(ParseCtx *ctx, const char *name, SrcLoc name_loc,
                  AstExpr *value);

AstDim *parse_dim_number(ParseCtx *ctx, SrcLoc loc, LexNumber num);
AstDim *parse_dim_name(ParseCtx *ctx, SrcLoc loc, const char *name);
AstType *parse_type(ParseCtx *ctx, SrcLoc loc, const char *dtype,
                    PtrVec *dims);
AstParam *parse_param(ParseCtx *ctx, SrcLoc loc, const char *name,
                      AstType *type);
AstParam *parse_def_param(ParseCtx *ctx, SrcLoc loc, const char *name,
                          AstType *type, AstExpr *default_value);
const char *parse_module_path(ParseCtx *ctx, const char *prefix,
                              const char *name);

AstStmt *parse_stmt_let(ParseCtx *ctx, SrcLoc loc, const char *name,
                        AstExpr *value);
AstStmt *parse_stmt_return(ParseCtx *ctx, SrcLoc loc, AstExpr *value);
AstStmt *parse_stmt_param(ParseCtx *ctx, SrcLoc kw, const char *name,
                          SrcLoc name_loc, AstType *type, AstExpr *init);
AstStmt *parse_stmt_loop(ParseCtx *ctx, SrcLoc kw, const char *var,
                         SrcLoc var_loc, AstExpr *value, PtrVec *body,
                         SrcLoc end);
AstField *parse_field(ParseCtx *ctx, SrcLoc loc, const char *key,
                      AstExpr *value);

/* Items are appended to ctx->items as they complete. */
void parse_item_dataset(ParseCtx *ctx, SrcLoc kw, const char *name,
                        SrcLoc name_loc, PtrVec *fields, SrcLoc end);
void parse_item_model(ParseCtx *ctx, SrcLoc kw, const char *name,
                      SrcLoc name_loc, PtrVec *params, AstType *result,
                      PtrVec *stmts, SrcLoc end);
void parse_item_def(ParseCtx *ctx, SrcLoc kw, const char *name,
                    SrcLoc name_loc, PtrVec *params, AstType *result,
                    PtrVec *stmts, SrcLoc end);
void parse_item_use(ParseCtx *ctx, SrcLoc kw, const char *path,
                    SrcLoc path_loc, bool is_file);
void parse_item_const(ParseCtx *ctx, SrcLoc kw, const char *name,
                      SrcLoc name_loc, AstExpr *value);
void parse_item_train(ParseCtx *ctx, SrcLoc kw, const char *model,
                      SrcLoc model_loc, const char *dataset,
                      SrcLoc dataset_loc, PtrVec *fields, SrcLoc end);

#endif
