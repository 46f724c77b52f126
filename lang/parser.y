/* parser.y - the .aai grammar: tokens to AST.
 *
 * A pure (reentrant) bison parser; the scanner state and the ParseCtx
 * (arena, diagnostics, file id, result) come in as parameters, nothing is
 * global. Actions are thin: one builder call from parse.c per rule.
 *
 * Statements and fields inside `{ }` end at a NEWLINE token or ';' (the
 * scanner decides which line breaks are separators, see lexer.l). Error
 * recovery happens at two levels: a broken statement or field is skipped up
 * to its separator or the block's '}', a broken item header up to its
 * closing '}' or the next `dataset`, `model` or `train` keyword; so one run
 * reports several errors.
 * Syntax error messages are worded in parse.c (parse_syntax_error) from the
 * unexpected token and the exact set of expected tokens (IELR tables,
 * default reductions only in consistent states, LAC), hence
 * `parse.error custom`. */

%require "3.8"
%define api.pure full
%define api.prefix {aai_yy}
%define api.token.prefix {TK_}
%define api.location.type {SrcLoc}
%define parse.error custom
%define parse.lac full
%define lr.type ielr
%define lr.default-reduction consistent
%locations
%param {yyscan_t scanner}
%parse-param {ParseCtx *ctx}

%code requires {
#include "parse_ctx.h"
#ifndef YY_TYPEDEF_YY_SCANNER_T
#define YY_TYPEDEF_YY_SCANNER_T
typedef void *yyscan_t;
#endif
}

%code provides {
int aai_yylex(AAI_YYSTYPE *lval, AAI_YYLTYPE *lloc, yyscan_t scanner);
}

%code {
/* A rule's location is its first symbol's; an empty rule sits, zero
 * length, where the previous symbol started. */
#define YYLLOC_DEFAULT(Cur, Rhs, N)                                        \
    do {                                                                   \
        if (N) {                                                           \
            (Cur) = YYRHSLOC(Rhs, 1);                                      \
        } else {                                                           \
            (Cur) = YYRHSLOC(Rhs, 0);                                      \
            (Cur).len = 0;                                                 \
        }                                                                  \
    } while (0)

static void aai_yyerror(SrcLoc *loc, yyscan_t scanner, ParseCtx *ctx,
                        const char *msg);
}

%union {
    const char *str;
    LexNumber num;
    AstExpr *expr;
    PtrVec *vec;
    AstArg *arg;
    AstType *type;
    AstDim *dim;
    AstParam *param;
    AstField *field;
    AstStmt *stmt;
}

%token <str> NAME "name"
%token <str> STRING "string"
%token <num> NUMBER "number"
%token KW_DATASET "dataset" KW_MODEL "model" KW_TRAIN "train" KW_ON "on"
%token KW_RETURN "return" KW_TRUE "true" KW_FALSE "false"
%token KW_DEF "def" KW_USE "use" KW_CONST "const" KW_PARAM "param"
%token KW_REPEAT "repeat" KW_FOR "for" KW_IN "in"
%token LPAREN "(" RPAREN ")" LBRACKET "[" RBRACKET "]" LBRACE "{" RBRACE "}"
%token COMMA "," ASSIGN "=" ARROW "->" PIPE "|>" PLUS "+" MINUS "-"
%token STAR "*" SLASH "/" COLON ":" DOT "." SEMI ";" NEWLINE "newline"

%type <vec> fields field_seq stmts stmt_seq params param_list dims dim_list
%type <vec> args arg_list elems elem_list def_params def_param_list
%type <str> module_path
%type <expr> expr pipe additive term unary postfix primary
%type <field> field
%type <stmt> stmt
%type <param> param def_param
%type <type> type result
%type <dim> dim
%type <arg> arg

%start file

%%

file
    : items
    ;

items
    : %empty
    | items item
    | items error
    | items error RBRACE    { yyerrok; }
    ;

item
    : KW_DATASET NAME LBRACE fields RBRACE
        { parse_item_dataset(ctx, @1, $2, @2, $4, @5); }
    | KW_MODEL NAME LPAREN params RPAREN result LBRACE stmts RBRACE
        { parse_item_model(ctx, @1, $2, @2, $4, $6, $8, @9); }
    | KW_TRAIN NAME KW_ON NAME LBRACE fields RBRACE
        { parse_item_train(ctx, @1, $2, @2, $4, @4, $6, @7); }
    | KW_DEF NAME LPAREN def_params RPAREN result LBRACE stmts RBRACE
        { parse_item_def(ctx, @1, $2, @2, $4, $6, $8, @9); }
    | KW_USE module_path    { parse_item_use(ctx, @1, $2, @2, false); }
    | KW_USE STRING         { parse_item_use(ctx, @1, $2, @2, true); }
    | KW_CONST NAME ASSIGN expr
        { parse_item_const(ctx, @1, $2, @2, $4); }
    ;

module_path
    : NAME                  { $$ = $1; }
    | module_path DOT NAME  { $$ = parse_module_path(ctx, $1, $3); }
    ;

/* ---- blocks: separated fields / statements, last separator optional ---- */

sep
    : NEWLINE
    | SEMI
    ;

fields
    : field_seq             { $$ = $1; }
    | field_seq field       { $$ = parse_vec_push(ctx, $1, $2); }
    | field_seq error       { $$ = $1; }
    ;

field_seq
    : %empty                { $$ = parse_vec_new(ctx); }
    | field_seq sep         { $$ = $1; }
    | field_seq field sep   { $$ = parse_vec_push(ctx, $1, $2); }
    | field_seq error sep   { $$ = $1; yyerrok; }
    ;

field
    : NAME ASSIGN expr      { $$ = parse_field(ctx, @1, $1, $3); }
    ;

stmts
    : stmt_seq              { $$ = $1; }
    | stmt_seq stmt         { $$ = parse_vec_push(ctx, $1, $2); }
    | stmt_seq error        { $$ = $1; }
    ;

stmt_seq
    : %empty                { $$ = parse_vec_new(ctx); }
    | stmt_seq sep          { $$ = $1; }
    | stmt_seq stmt sep     { $$ = parse_vec_push(ctx, $1, $2); }
    | stmt_seq error sep    { $$ = $1; yyerrok; }
    ;

stmt
    : NAME ASSIGN expr      { $$ = parse_stmt_let(ctx, @1, $1, $3); }
    | KW_RETURN expr        { $$ = parse_stmt_return(ctx, @1, $2); }
    | KW_PARAM NAME COLON type ASSIGN expr
        { $$ = parse_stmt_param(ctx, @1, $2, @2, $4, $6); }
    | KW_REPEAT expr LBRACE stmts RBRACE
        { $$ = parse_stmt_loop(ctx, @1, NULL, @1, $2, $4, @5); }
    | KW_FOR NAME KW_IN expr LBRACE stmts RBRACE
        { $$ = parse_stmt_loop(ctx, @1, $2, @2, $4, $6, @7); }
    ;

/* ---- model signature ---- */

params
    : %empty                { $$ = parse_vec_new(ctx); }
    | param_list            { $$ = $1; }
    | param_list COMMA      { $$ = $1; }
    ;

param_list
    : param                 { $$ = parse_vec_push(ctx, parse_vec_new(ctx), $1); }
    | param_list COMMA param { $$ = parse_vec_push(ctx, $1, $3); }
    ;

param
    : NAME COLON type       { $$ = parse_param(ctx, @1, $1, $3); }
    ;

/* def parameters: `x` (a tensor), `n: int`, `widths: list = [64, 32]` */
def_params
    : %empty                { $$ = parse_vec_new(ctx); }
    | def_param_list        { $$ = $1; }
    | def_param_list COMMA  { $$ = $1; }
    ;

def_param_list
    : def_param             { $$ = parse_vec_push(ctx, parse_vec_new(ctx), $1); }
    | def_param_list COMMA def_param { $$ = parse_vec_push(ctx, $1, $3); }
    ;

def_param
    : NAME                  { $$ = parse_def_param(ctx, @1, $1, NULL, NULL); }
    | NAME COLON type       { $$ = parse_def_param(ctx, @1, $1, $3, NULL); }
    | NAME ASSIGN expr      { $$ = parse_def_param(ctx, @1, $1, NULL, $3); }
    | NAME COLON type ASSIGN expr
                            { $$ = parse_def_param(ctx, @1, $1, $3, $5); }
    ;

result
    : %empty                { $$ = NULL; }
    | ARROW type            { $$ = $2; }
    ;

type
    : NAME                  { $$ = parse_type(ctx, @1, $1, NULL); }
    | NAME LBRACKET dims RBRACKET { $$ = parse_type(ctx, @1, $1, $3); }
    ;

dims
    : %empty                { $$ = parse_vec_new(ctx); }
    | dim_list              { $$ = $1; }
    | dim_list COMMA        { $$ = $1; }
    ;

dim_list
    : dim                   { $$ = parse_vec_push(ctx, parse_vec_new(ctx), $1); }
    | dim_list COMMA dim    { $$ = parse_vec_push(ctx, $1, $3); }
    ;

dim
    : NUMBER                { $$ = parse_dim_number(ctx, @1, $1); }
    | NAME                  { $$ = parse_dim_name(ctx, @1, $1); }
    ;

/* ---- expressions, loosest first ---- */

expr
    : pipe                  { $$ = $1; }
    ;

pipe
    : additive              { $$ = $1; }
    | pipe PIPE additive    { $$ = parse_expr_pipe(ctx, @2, $1, $3); }
    ;

additive
    : term                  { $$ = $1; }
    | additive PLUS term    { $$ = parse_expr_binary(ctx, @2, AST_ADD, $1, $3); }
    | additive MINUS term   { $$ = parse_expr_binary(ctx, @2, AST_SUB, $1, $3); }
    ;

term
    : unary                 { $$ = $1; }
    | term STAR unary       { $$ = parse_expr_binary(ctx, @2, AST_MUL, $1, $3); }
    | term SLASH unary      { $$ = parse_expr_binary(ctx, @2, AST_DIV, $1, $3); }
    ;

unary
    : MINUS unary           { $$ = parse_expr_neg(ctx, @1, $2); }
    | postfix               { $$ = $1; }
    ;

postfix
    : primary               { $$ = $1; }
    | postfix LPAREN args RPAREN { $$ = parse_expr_call(ctx, $1, $3); }
    | postfix DOT NAME      { $$ = parse_expr_member(ctx, @3, $1, $3); }
    ;

primary
    : NUMBER                { $$ = parse_expr_number(ctx, @1, $1); }
    | STRING                { $$ = parse_expr_string(ctx, @1, $1); }
    | KW_TRUE               { $$ = parse_expr_bool(ctx, @1, true); }
    | KW_FALSE              { $$ = parse_expr_bool(ctx, @1, false); }
    | NAME                  { $$ = parse_expr_name(ctx, @1, $1); }
    | LPAREN expr RPAREN    { $$ = $2; }
    | LBRACKET elems RBRACKET { $$ = parse_expr_list(ctx, @1, $2); }
    ;

args
    : %empty                { $$ = parse_vec_new(ctx); }
    | arg_list              { $$ = $1; }
    | arg_list COMMA        { $$ = $1; }
    ;

arg_list
    : arg                   { $$ = parse_vec_push(ctx, parse_vec_new(ctx), $1); }
    | arg_list COMMA arg    { $$ = parse_vec_push(ctx, $1, $3); }
    ;

arg
    : NAME ASSIGN expr      { $$ = parse_arg(ctx, $1, @1, $3); }
    | expr                  { $$ = parse_arg(ctx, NULL, @1, $1); }
    ;

elems
    : %empty                { $$ = parse_vec_new(ctx); }
    | elem_list             { $$ = $1; }
    | elem_list COMMA       { $$ = $1; }
    ;

elem_list
    : expr                  { $$ = parse_vec_push(ctx, parse_vec_new(ctx), $1); }
    | elem_list COMMA expr  { $$ = parse_vec_push(ctx, $1, $3); }
    ;

%%

/* Maps a grammar symbol back to the token kind the scanner returns
 * (bison only tabulates the other direction). */
static int symbol_token(yysymbol_kind_t sym) {
    for (int tok = 0; tok <= YYMAXUTOK; tok++)
        if (YYTRANSLATE(tok) == sym)
            return tok == 0 ? TK_YYEOF : tok;
    return TK_AAI_YYUNDEF;
}

/* Hands the unexpected token and the expected set to parse.c, which words
 * the message. */
static int yyreport_syntax_error(const yypcontext_t *yyctx, yyscan_t scanner,
                                 ParseCtx *ctx) {
    (void)scanner;
    if (ctx->fatal)
        return 0;
    yysymbol_kind_t syms[YYNTOKENS];
    int n = yypcontext_expected_tokens(yyctx, syms, YYNTOKENS);
    if (n < 0)
        n = 0;
    int expected[YYNTOKENS];
    for (int i = 0; i < n; i++)
        expected[i] = symbol_token(syms[i]);
    parse_syntax_error(ctx, *yypcontext_location(yyctx),
                       symbol_token(yypcontext_token(yyctx)), expected, n);
    return 0;
}

/* Bison calls this only when its stack is exhausted: input nested beyond
 * what any sensible program needs (e.g. thousands of unary minus signs). */
static void aai_yyerror(SrcLoc *loc, yyscan_t scanner, ParseCtx *ctx,
                        const char *msg) {
    (void)scanner;
    if (ctx->fatal)
        return;
    ctx->fatal = true;
    (void)msg; /* "memory exhausted": say what the user can change */
    diag_error(ctx->diag, *loc,
               "expression nested too deeply (the parser's stack is full)");
}
