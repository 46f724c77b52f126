/* parse.c - the front end's C half: positions, literals, syntax error
 * wording and the AST builders.
 *
 * lexer.l and parser.y stay declarative by calling in here: the scanner for
 * positions, literal conversion and its errors (parse_lex_*); the grammar
 * for one tree builder per rule (parse_expr_*, parse_item_*, ...) and for
 * wording syntax errors from the exact expected-token set
 * (parse_syntax_error). parse_source ties it together. Nothing here is
 * global: all state is the ParseCtx of one parse (parse_ctx.h). */
#include "parse.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "parse_ctx.h"
#include "parser.h"

/* Longest piece of a token quoted in a message. */
enum { EXCERPT_MAX = 32 };

/* Integers are stored as doubles in the AST: refuse what is not exact. */
#define PARSE_MAX_INT 9007199254740992.0 /* 2^53 */

/* ------------------------------------------------------------------ */
/* scanner helpers                                                      */
/* ------------------------------------------------------------------ */

void parse_lex_advance(ParseCtx *ctx, SrcLoc *loc, const char *text,
                       size_t len) {
    *loc = (SrcLoc){ctx->file, ctx->line, ctx->col, (uint32_t)len};
    ctx->tok_offset = ctx->offset;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\n') {
            ctx->line++;
            ctx->col = 1;
        } else {
            ctx->col++;
        }
    }
    ctx->offset += len;
}

static bool token_is_separator(int token) {
    return token == TK_NEWLINE || token == TK_SEMI || token == TK_LBRACE ||
           token == TK_RBRACE;
}

int parse_lex_token(ParseCtx *ctx, int token, SrcLoc loc) {
    /* quiet lasts through the separator that ends the broken statement */
    if (ctx->quiet_ends)
        ctx->quiet = ctx->quiet_ends = false;
    if (ctx->quiet && token_is_separator(token))
        ctx->quiet_ends = true;
    ctx->prev_token = ctx->last_token;
    ctx->prev_loc = ctx->last_loc;
    ctx->prev_offset = ctx->last_offset;
    ctx->last_token = token;
    ctx->last_loc = loc;
    ctx->last_offset = ctx->tok_offset;
    ctx->last_virtual = ctx->virtual_next;
    ctx->virtual_next = false;
    if (token == TK_KW_DATASET)
        ctx->header = PARSE_BLOCK_DATASET;
    else if (token == TK_KW_MODEL)
        ctx->header = PARSE_BLOCK_MODEL;
    else if (token == TK_KW_TRAIN)
        ctx->header = PARSE_BLOCK_TRAIN;
    else if (token == TK_KW_DEF)
        ctx->header = PARSE_BLOCK_MODEL;
    if (token_is_separator(token))
        ctx->recovering = false;
    return token;
}

/* Tokens that can end an operand: a line break after them may end the
 * statement. */
static bool token_ends_operand(int token) {
    switch (token) {
    case TK_NAME:
    case TK_NUMBER:
    case TK_STRING:
    case TK_KW_TRUE:
    case TK_KW_FALSE:
    case TK_RPAREN:
    case TK_RBRACKET:
    case TK_RBRACE:
        return true;
    default:
        return false;
    }
}

/* True when a line starting at `p` continues the previous one: it starts
 * with something no statement can start with (an operator, a closing
 * bracket, '{', `on`). */
static bool line_continues(const char *p) {
    if (strchr("|+-*/.,=)]{}", *p) && *p)
        return true;
    return strncmp(p, "on", 2) == 0 && p[2] != '_' &&
           !(p[2] >= 'a' && p[2] <= 'z') && !(p[2] >= 'A' && p[2] <= 'Z') &&
           !(p[2] >= '0' && p[2] <= '9');
}

bool parse_lex_newline_separates(ParseCtx *ctx, SrcLoc *loc) {
    if (!ctx->in_block)
        return false;
    /* point "end of line" right after the line's last token, not after a
     * trailing comment */
    if (ctx->last_loc.line == loc->line && ctx->last_token != TK_YYEOF) {
        loc->col = ctx->last_loc.col + ctx->last_loc.len;
        loc->len = 1;
    }
    if (ctx->recovering) {
        /* after a syntax error, resynchronise at the next line break */
        ctx->depth = 0;
        return true;
    }
    if (ctx->depth > 0)
        return false;
    /* a value must start on the line of its '=': `loss =` then a line
     * break is a missing value, not a value on the next line */
    if (ctx->last_token == TK_ASSIGN)
        return true;
    return token_ends_operand(ctx->last_token) &&
           !line_continues(ctx->text + ctx->offset);
}

/* Writes at most EXCERPT_MAX bytes of `text` into buf, adding "..." when
 * cut; returns buf. */
static const char *excerpt(char *buf, size_t cap, const char *text,
                           size_t len) {
    if (len > EXCERPT_MAX)
        snprintf(buf, cap, "%.*s...", EXCERPT_MAX, text);
    else
        snprintf(buf, cap, "%.*s", (int)len, text);
    return buf;
}

LexNumber parse_lex_number(ParseCtx *ctx, SrcLoc loc, const char *text,
                           bool is_int) {
    char buf[EXCERPT_MAX + 8];
    double value = strtod(text, NULL);
    if (isinf(value) || (is_int && value > PARSE_MAX_INT)) {
        diag_error(ctx->diag, loc,
                   is_int ? "integer literal '%s' is too large (the limit is "
                            "2^53 = 9007199254740992)"
                          : "number literal '%s' is out of range",
                   excerpt(buf, sizeof buf, text, loc.len));
        return (LexNumber){0.0, is_int};
    }
    return (LexNumber){value, is_int};
}

/* Length of the valid UTF-8 sequence at `p` (at most `n` bytes), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n) {
    size_t len = p[0] < 0x80   ? 1
                 : p[0] < 0xC2 ? 0
                 : p[0] < 0xE0 ? 2
                 : p[0] < 0xF0 ? 3
                 : p[0] < 0xF5 ? 4
                               : 0;
    if (len == 0 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    if ((p[0] == 0xE0 && p[1] < 0xA0) || (p[0] == 0xED && p[1] > 0x9F) ||
        (p[0] == 0xF0 && p[1] < 0x90) || (p[0] == 0xF4 && p[1] > 0x8F))
        return 0;
    return len;
}

/* The location of the `len` bytes at column offset `at` inside token
 * `loc` (tokens never span lines here). */
static SrcLoc loc_inside(SrcLoc loc, size_t at, size_t len) {
    loc.col += (uint32_t)at;
    loc.len = (uint32_t)len;
    return loc;
}

/* Resolves one escape at `p` (just after the backslash); reports an
 * unknown one and returns the character to store. */
static char unescape(ParseCtx *ctx, SrcLoc esc_loc, unsigned char c) {
    switch (c) {
    case 'n':
        return '\n';
    case 't':
        return '\t';
    case '"':
    case '\\':
        return (char)c;
    default:
        if (c > 0x20 && c < 0x7f)
            diag_error(ctx->diag, esc_loc,
                       "unknown escape sequence '\\%c' (use \\\", \\\\, \\n "
                       "or \\t)",
                       c);
        else
            diag_error(ctx->diag, esc_loc,
                       "unknown escape sequence '\\' followed by byte "
                       "'\\x%02x'",
                       c);
        return (char)c;
    }
}

const char *parse_lex_string(ParseCtx *ctx, SrcLoc loc, const char *text,
                             size_t len, bool unterminated) {
    size_t end = unterminated ? len : len - 1;
    if (unterminated) {
        ctx->quiet = ctx->recovering = true; /* brackets are likely open */
        ctx->quiet_ends = false;
        diag_error(ctx->diag, loc,
                   "unterminated string literal (missing closing '\"' "
                   "before the end of the line)");
        if (end > 1 && text[end - 1] == '\\')
            end--;
    }
    char *out = arena_alloc(ctx->arena, len + 1);
    size_t n = 0;
    const unsigned char *p = (const unsigned char *)text;
    for (size_t i = 1; i < end;) {
        if (p[i] == '\\' && i + 1 < end) {
            out[n++] = unescape(ctx, loc_inside(loc, i, 2), p[i + 1]);
            i += 2;
            continue;
        }
        size_t u = utf8_len(p + i, end - i);
        if (u == 0 || (p[i] < 0x20 && p[i] != '\t')) {
            diag_error(ctx->diag, loc_inside(loc, i, 1),
                       u == 0 ? "invalid UTF-8 byte '\\x%02x' in string "
                                "literal"
                              : "control character '\\x%02x' in string "
                                "literal",
                       p[i]);
            u = 1;
        }
        memcpy(out + n, p + i, u);
        n += u;
        i += u;
    }
    out[n] = '\0';
    return out;
}

const char *parse_lex_single_quoted(ParseCtx *ctx, SrcLoc loc,
                                    const char *text, size_t len) {
    bool closed = len >= 2 && text[len - 1] == '\'';
    diag_error(ctx->diag, loc, "strings use double quotes: write \"%.*s\"",
               (int)(len - 1 - closed), text + 1);
    if (!closed)
        ctx->quiet = ctx->recovering = true;
        ctx->quiet_ends = false;
    return arena_strndup(ctx->arena, text + 1, len - 1 - closed);
}

void parse_lex_comments(ParseCtx *ctx, SrcLoc loc, const char *text,
                        size_t len) {
    uint32_t line = loc.line, col = loc.col;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\n') {
            line++;
            col = 1;
            continue;
        }
        if (text[i] != '#') {
            col++;
            continue;
        }
        size_t end = i;
        while (end < len && text[end] != '\n')
            end++;
        size_t n = end - i;
        while (n > 1 && (text[i + n - 1] == ' ' || text[i + n - 1] == '\t' ||
                         text[i + n - 1] == '\r'))
            n--;
        AstComment *c = ARENA_NEW(ctx->arena, AstComment);
        c->loc = (SrcLoc){ctx->file, line, col, (uint32_t)n};
        c->text = arena_strndup(ctx->arena, text + i, n);
        ptrvec_push(ctx->arena, &ctx->comments, c);
        col += (uint32_t)(end - i);
        i = end - 1;
    }
}

void parse_lex_stray(ParseCtx *ctx, SrcLoc loc, const char *text,
                     size_t len) {
    unsigned char c = (unsigned char)text[0];
    ctx->quiet = true; /* what follows in this statement is likely noise */
    ctx->quiet_ends = false;
    if (len > 1)
        diag_error(ctx->diag, loc,
                   "unexpected character '%.*s' (names and operators are "
                   "ASCII)",
                   (int)len, text);
    else if (c == '|')
        diag_error(ctx->diag, loc,
                   "unexpected character '|' (the pipe operator is '|>')");
    else if (c > 0x20 && c < 0x7f)
        diag_error(ctx->diag, loc, "unexpected character '%c'", c);
    else
        diag_error(ctx->diag, loc, "unexpected character '\\x%02x'", c);
}

bool parse_lex_open(ParseCtx *ctx, SrcLoc loc, char kind) {
    if (ctx->depth >= PARSE_MAX_NESTING) {
        diag_error(ctx->diag, loc,
                   "expression nested too deeply (more than %d levels of "
                   "'(' and '[')",
                   PARSE_MAX_NESTING);
        ctx->fatal = true;
        return false;
    }
    ctx->open[ctx->depth] = loc;
    ctx->open_kind[ctx->depth] = kind;
    ctx->depth++;
    return true;
}

void parse_lex_close(ParseCtx *ctx, char kind) {
    if (ctx->depth > 0 && ctx->open_kind[ctx->depth - 1] == kind)
        ctx->depth--;
}

void parse_lex_brace(ParseCtx *ctx, SrcLoc loc, bool open) {
    ctx->depth_at_brace = ctx->depth;
    ctx->depth = 0;
    /* loop bodies nest inside a model or def body */
    if (open) {
        if (ctx->brace_depth++ == 0) {
            ctx->block = ctx->header;
            ctx->block_open = loc;
        }
    } else if (ctx->brace_depth > 0) {
        ctx->brace_depth--;
    }
    ctx->in_block = ctx->brace_depth > 0;
    if (!ctx->in_block)
        ctx->block = PARSE_BLOCK_NONE;
}

static bool is_name_start(char c) {
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool parse_lex_unclosed_block(ParseCtx *ctx, SrcLoc *loc) {
    if (!ctx->in_block) {
        ctx->closing_blocks = false;
        return false;
    }
    if (ctx->closing_blocks) {
        /* an outer block of a loop body: close it too, quietly */
        parse_lex_brace(ctx, *loc, false);
        ctx->closing_blocks = ctx->in_block;
        ctx->virtual_next = true;
        ctx->offset = ctx->tok_offset;
        ctx->line = loc->line;
        ctx->col = loc->col;
        return true;
    }
    if (ctx->last_loc.line >= loc->line)
        return false;
    const char *p = ctx->text + ctx->offset;
    while (*p == ' ' || *p == '\t')
        p++;
    if (!is_name_start(*p))
        return false;
    if (ctx->depth > 0) {
        char kind = ctx->open_kind[ctx->depth - 1];
        diag_error(ctx->diag, *loc, "missing '%c' and '}' before '%.*s'",
                   kind == '(' ? ')' : ']', (int)loc->len,
                   ctx->text + ctx->tok_offset);
        diag_note(ctx->diag, ctx->open[ctx->depth - 1], "'%c' opened here",
                  kind);
    } else {
        diag_error(ctx->diag, *loc, "missing '}' before '%.*s'",
                   (int)loc->len, ctx->text + ctx->tok_offset);
        diag_note(ctx->diag, ctx->block_open, "block opened here");
    }
    parse_lex_brace(ctx, *loc, false);
    ctx->closing_blocks = ctx->in_block;
    ctx->virtual_next = true;
    ctx->offset = ctx->tok_offset;
    ctx->line = loc->line;
    ctx->col = loc->col;
    return true;
}

/* ------------------------------------------------------------------ */
/* syntax errors                                                        */
/* ------------------------------------------------------------------ */

/* Keywords and punctuation: as written, and quoted for messages. */
static const struct {
    int kind;
    const char *text, *quoted;
} token_texts[] = {
    {TK_KW_DATASET, "dataset", "'dataset'"},
    {TK_KW_MODEL, "model", "'model'"},
    {TK_KW_TRAIN, "train", "'train'"},
    {TK_KW_ON, "on", "'on'"},
    {TK_KW_RETURN, "return", "'return'"},
    {TK_KW_TRUE, "true", "'true'"},
    {TK_KW_FALSE, "false", "'false'"},
    {TK_KW_DEF, "def", "'def'"},
    {TK_KW_USE, "use", "'use'"},
    {TK_KW_CONST, "const", "'const'"},
    {TK_KW_PARAM, "param", "'param'"},
    {TK_KW_REPEAT, "repeat", "'repeat'"},
    {TK_KW_FOR, "for", "'for'"},
    {TK_KW_IN, "in", "'in'"},
    {TK_LPAREN, "(", "'('"},
    {TK_RPAREN, ")", "')'"},
    {TK_LBRACKET, "[", "'['"},
    {TK_RBRACKET, "]", "']'"},
    {TK_LBRACE, "{", "'{'"},
    {TK_RBRACE, "}", "'}'"},
    {TK_COMMA, ",", "','"},
    {TK_ASSIGN, "=", "'='"},
    {TK_ARROW, "->", "'->'"},
    {TK_PIPE, "|>", "'|>'"},
    {TK_PLUS, "+", "'+'"},
    {TK_MINUS, "-", "'-'"},
    {TK_STAR, "*", "'*'"},
    {TK_SLASH, "/", "'/'"},
    {TK_COLON, ":", "':'"},
    {TK_DOT, ".", "'.'"},
    {TK_SEMI, ";", "';'"},
};

static int token_text_index(int kind) {
    for (int i = 0; i < (int)(sizeof token_texts / sizeof token_texts[0]); i++)
        if (token_texts[i].kind == kind)
            return i;
    return -1;
}

/* How a token kind reads in a message. */
static const char *token_spelling(int token) {
    switch (token) {
    case TK_YYEOF:
        return "end of file";
    case TK_NAME:
        return "a name";
    case TK_STRING:
        return "a string";
    case TK_NUMBER:
        return "a number";
    case TK_NEWLINE:
        return "end of line";
    default: {
        int i = token_text_index(token);
        return i < 0 ? "an invalid token" : token_texts[i].quoted;
    }
    }
}

const char *parse_token_name(int kind) {
    switch (kind) {
    case TK_YYEOF:
        return "EOF";
    case TK_NAME:
        return "NAME";
    case TK_STRING:
        return "STRING";
    case TK_NUMBER:
        return "NUMBER";
    case TK_NEWLINE:
        return "NEWLINE";
    default: {
        int i = token_text_index(kind);
        return i < 0 ? "INVALID" : token_texts[i].text;
    }
    }
}

static bool token_is_keyword(int token) {
    return token == TK_KW_DATASET || token == TK_KW_MODEL ||
           token == TK_KW_TRAIN || token == TK_KW_ON ||
           token == TK_KW_RETURN || token == TK_KW_TRUE ||
           token == TK_KW_FALSE || token == TK_KW_DEF || token == TK_KW_USE ||
           token == TK_KW_CONST || token == TK_KW_PARAM ||
           token == TK_KW_REPEAT || token == TK_KW_FOR || token == TK_KW_IN;
}

/* Describes the token of kind `token` whose text starts at `offset` with
 * `len` bytes: "name 'lr'", "keyword 'model'", "')'", "end of line". */
static const char *token_describe(ParseCtx *ctx, char *buf, size_t cap,
                                  int token, size_t offset, uint32_t len) {
    char text[EXCERPT_MAX + 8];
    const char *kind = token == TK_NAME     ? "name"
                       : token == TK_NUMBER ? "number"
                       : token == TK_STRING ? "string"
                       : token_is_keyword(token) ? "keyword"
                                                 : NULL;
    if (!kind || offset + len > ctx->len)
        return token_spelling(token);
    excerpt(text, sizeof text, ctx->text + offset, len);
    snprintf(buf, cap, "%s %s%s%s", kind, token == TK_STRING ? "" : "'",
             text, token == TK_STRING ? "" : "'");
    return buf;
}

/* The text of the token before the unexpected one. */
static const char *prev_text(ParseCtx *ctx, char *buf, size_t cap) {
    if (ctx->prev_offset + ctx->prev_loc.len > ctx->len)
        return "";
    return excerpt(buf, cap, ctx->text + ctx->prev_offset,
                   ctx->prev_loc.len);
}

typedef struct Expected {
    const int *tokens;
    int n;
} Expected;

static bool expects(Expected e, int token) {
    for (int i = 0; i < e.n; i++)
        if (e.tokens[i] == token)
            return true;
    return false;
}

static bool expects_only(Expected e, int token) {
    return e.n == 1 && e.tokens[0] == token;
}

/* Points a note at the innermost '(' or '[' still open before the
 * unexpected token (which may itself have opened one, or reset the count
 * by being a brace). */
static void note_open_bracket(ParseCtx *ctx, int unexpected) {
    int depth = ctx->depth;
    if (unexpected == TK_LPAREN || unexpected == TK_LBRACKET)
        depth--;
    else if (unexpected == TK_LBRACE || unexpected == TK_RBRACE)
        depth = ctx->depth_at_brace;
    int i = depth - 1;
    if (i >= 0)
        diag_note(ctx->diag, ctx->open[i], "'%c' opened here",
                  ctx->open_kind[i]);
}

static bool token_is_operator(int token) {
    return token == TK_PLUS || token == TK_MINUS || token == TK_STAR ||
           token == TK_SLASH || token == TK_PIPE;
}

/* Unexpected end of file inside an unclosed bracket or block. */
static bool report_eof(ParseCtx *ctx, SrcLoc loc) {
    if (ctx->depth > 0) {
        char kind = ctx->open_kind[ctx->depth - 1];
        diag_error(ctx->diag, loc, "missing '%c' before end of file",
                   kind == '(' ? ')' : ']');
        note_open_bracket(ctx, TK_YYEOF);
        return true;
    }
    if (ctx->in_block) {
        diag_error(ctx->diag, loc, "missing '}' before end of file");
        diag_note(ctx->diag, ctx->block_open, "block opened here");
        return true;
    }
    return false;
}

/* Where an operand (expression) must start. */
static void report_operand(ParseCtx *ctx, SrcLoc loc, Expected e,
                           const char *found) {
    char prev[EXCERPT_MAX + 8];
    if (ctx->prev_token == TK_ASSIGN)
        diag_error(ctx->diag, loc, "expected a value after '=', found %s",
                   found);
    else if (token_is_operator(ctx->prev_token))
        diag_error(ctx->diag, loc, "expected an operand after '%s', found %s",
                   prev_text(ctx, prev, sizeof prev), found);
    else if (expects(e, TK_RPAREN))
        diag_error(ctx->diag, loc, "expected an argument or ')', found %s",
                   found);
    else if (expects(e, TK_RBRACKET))
        diag_error(ctx->diag, loc,
                   "expected a list element or ']', found %s", found);
    else
        diag_error(ctx->diag, loc, "expected an expression, found %s", found);
}

/* At the start of a field or statement inside a block. */
static void report_block_start(ParseCtx *ctx, SrcLoc loc, const char *found) {
    if (ctx->block == PARSE_BLOCK_MODEL)
        diag_error(ctx->diag, loc,
                   "expected a statement ('name = expr' or 'return expr') "
                   "or '}', found %s",
                   found);
    else
        diag_error(ctx->diag, loc,
                   "expected a field ('name = expr') or '}', found %s",
                   found);
}

/* Just after the name of a field or statement: only '=' fits. */
static void report_missing_assign(ParseCtx *ctx, SrcLoc loc,
                                  const char *found) {
    char prev[EXCERPT_MAX + 8];
    prev_text(ctx, prev, sizeof prev);
    if (ctx->block == PARSE_BLOCK_MODEL)
        diag_error(ctx->diag, loc,
                   "expected '=' after '%s' (statements are 'name = expr' or "
                   "'return expr'), found %s",
                   prev, found);
    else
        diag_error(ctx->diag, loc,
                   "expected '=' after field name '%s', found %s", prev,
                   found);
}

/* Expected a name (after a keyword, '->', ':' or '.'). */
static void report_name(ParseCtx *ctx, SrcLoc loc, const char *found) {
    switch (ctx->prev_token) {
    case TK_KW_DATASET:
    case TK_KW_MODEL:
    case TK_KW_TRAIN:
    case TK_KW_ON:
    case TK_KW_DEF:
    case TK_KW_USE:
    case TK_KW_CONST:
    case TK_KW_PARAM:
    case TK_KW_FOR:
        diag_error(ctx->diag, loc, "expected a name after %s, found %s",
                   token_spelling(ctx->prev_token), found);
        break;
    case TK_ARROW:
    case TK_COLON:
        diag_error(ctx->diag, loc,
                   "expected a type (like f32[batch, 4]) after %s, found %s",
                   token_spelling(ctx->prev_token), found);
        break;
    case TK_DOT:
        diag_error(ctx->diag, loc,
                   "expected a member name after '.', found %s", found);
        break;
    default:
        diag_error(ctx->diag, loc, "expected a name, found %s", found);
        break;
    }
}

/* Inside brackets, after an element: ',' or the closer. */
static bool report_in_brackets(ParseCtx *ctx, SrcLoc loc, int unexpected,
                               Expected e, const char *found) {
    bool comma = expects(e, TK_COMMA), operators = expects(e, TK_PLUS);
    if (expects(e, TK_RPAREN) && comma)
        diag_error(ctx->diag, loc, "expected ',' or ')' in the %s list, found %s",
                   operators ? "argument" : "parameter", found);
    else if (expects(e, TK_RBRACKET) && comma)
        diag_error(ctx->diag, loc, "expected ',' or ']' in the %s, found %s",
                   operators ? "list" : "shape", found);
    else if (expects(e, TK_RPAREN))
        diag_error(ctx->diag, loc, "expected ')', found %s", found);
    else
        return false;
    note_open_bracket(ctx, unexpected);
    return true;
}

/* Generic form: "unexpected X, expected A, B or C". */
static void report_generic(ParseCtx *ctx, SrcLoc loc, Expected e,
                           const char *found) {
    if (e.n == 0 || e.n > 6) {
        diag_error(ctx->diag, loc, "unexpected %s", found);
        return;
    }
    char list[256] = "";
    size_t used = 0;
    for (int i = 0; i < e.n; i++) {
        const char *sep = i == 0 ? "" : i == e.n - 1 ? " or " : ", ";
        int w = snprintf(list + used, sizeof list - used, "%s%s", sep,
                         token_spelling(e.tokens[i]));
        if (w > 0 && (size_t)w < sizeof list - used)
            used += (size_t)w;
    }
    diag_error(ctx->diag, loc, "unexpected %s, expected %s", found, list);
}

/* The header and block cases: keywords, names, '{'. */
static bool report_structure(ParseCtx *ctx, SrcLoc loc, Expected e,
                             const char *found) {
    char prev[EXCERPT_MAX + 8];
    if (expects(e, TK_KW_DATASET)) {
        diag_error(ctx->diag, loc,
                   "expected 'dataset', 'model', 'train', 'def', 'use' or "
                   "'const' at the top level, found %s",
                   found);
    } else if (expects_only(e, TK_ASSIGN)) {
        report_missing_assign(ctx, loc, found);
    } else if (expects_only(e, TK_COLON)) {
        diag_error(ctx->diag, loc,
                   "expected ':' and a type after parameter name '%s', "
                   "found %s",
                   prev_text(ctx, prev, sizeof prev), found);
    } else if (expects_only(e, TK_KW_ON)) {
        diag_error(ctx->diag, loc,
                   "expected 'on' after the model name in 'train %s on "
                   "DATASET', found %s",
                   prev_text(ctx, prev, sizeof prev), found);
    } else if (expects_only(e, TK_NAME)) {
        report_name(ctx, loc, found);
    } else if (expects(e, TK_NAME) && expects(e, TK_RPAREN) && e.n == 2) {
        diag_error(ctx->diag, loc,
                   "expected a parameter name or ')', found %s", found);
    } else if (expects(e, TK_NUMBER)) {
        diag_error(ctx->diag, loc,
                   "expected a dimension (an integer or a name), found %s",
                   found);
    } else if (expects(e, TK_LBRACE)) {
        diag_error(ctx->diag, loc, "expected %s'{' to start the %s, found %s",
                   expects(e, TK_ARROW) ? "'->' or " : "",
                   ctx->header == PARSE_BLOCK_MODEL ? "model body" : "block",
                   found);
    } else if (expects(e, TK_RBRACE) && expects(e, TK_NAME)) {
        report_block_start(ctx, loc, found);
    } else if (expects(e, TK_NEWLINE)) {
        diag_error(ctx->diag, loc,
                   "unexpected %s after the expression (end a %s with a "
                   "line break or ';')",
                   found,
                   ctx->block == PARSE_BLOCK_MODEL ? "statement" : "field");
    } else {
        return false;
    }
    return true;
}

void parse_syntax_error(ParseCtx *ctx, SrcLoc loc, int unexpected,
                        const int *expected, int n_expected) {
    Expected e = {expected, n_expected};
    bool at_last = loc.line == ctx->last_loc.line &&
                   loc.col == ctx->last_loc.col;
    char buf[EXCERPT_MAX + 32];
    const char *found =
        at_last ? token_describe(ctx, buf, sizeof buf, unexpected,
                                 ctx->last_offset, ctx->last_loc.len)
                : token_spelling(unexpected);
    if (unexpected != TK_NEWLINE && unexpected != TK_YYEOF &&
        !token_is_separator(unexpected))
        ctx->recovering = true;
    if (ctx->quiet || (at_last && ctx->last_virtual))
        return; /* the scanner already reported what broke the statement */
    if (unexpected == TK_YYEOF && report_eof(ctx, loc))
        return;
    if (expects(e, TK_STRING)) {
        report_operand(ctx, loc, e, found);
        return;
    }
    if (report_structure(ctx, loc, e, found))
        return;
    if (report_in_brackets(ctx, loc, unexpected, e, found))
        return;
    report_generic(ctx, loc, e, found);
}

/* ------------------------------------------------------------------ */
/* tree builders                                                        */
/* ------------------------------------------------------------------ */

PtrVec *parse_vec_new(ParseCtx *ctx) { return ARENA_NEW(ctx->arena, PtrVec); }

PtrVec *parse_vec_push(ParseCtx *ctx, PtrVec *vec, void *item) {
    ptrvec_push(ctx->arena, vec, item);
    return vec;
}

static AstExpr *expr_new(ParseCtx *ctx, AstExprKind kind, SrcLoc loc) {
    AstExpr *e = ARENA_NEW(ctx->arena, AstExpr);
    e->kind = kind;
    e->loc = loc;
    e->depth = 1;
    return e;
}

/* Sets e->depth from its children, given the deepest one. Past
 * AST_MAX_EXPR_DEPTH reports once and returns that child marked as
 * already reported (depth MAX + 1), so the tree stays shallow and
 * enclosing expressions stay quiet. */
static AstExpr *expr_nest(ParseCtx *ctx, AstExpr *e, AstExpr *deepest) {
    if (!deepest)
        return e;
    if (deepest->depth > AST_MAX_EXPR_DEPTH)
        return deepest;
    e->depth = deepest->depth + 1;
    if (e->depth <= AST_MAX_EXPR_DEPTH)
        return e;
    diag_error(ctx->diag, e->loc,
               "expression nested too deeply (more than %d levels)",
               AST_MAX_EXPR_DEPTH);
    deepest->depth = AST_MAX_EXPR_DEPTH + 1;
    return deepest;
}

static AstExpr *deeper(AstExpr *a, AstExpr *b) {
    if (!a)
        return b;
    return b && b->depth > a->depth ? b : a;
}

AstExpr *parse_expr_number(ParseCtx *ctx, SrcLoc loc, LexNumber num) {
    AstExpr *e = expr_new(ctx, AST_EXPR_NUMBER, loc);
    e->as.number.value = num.value;
    e->as.number.is_int = num.is_int;
    return e;
}

AstExpr *parse_expr_string(ParseCtx *ctx, SrcLoc loc, const char *s) {
    AstExpr *e = expr_new(ctx, AST_EXPR_STRING, loc);
    e->as.string = s;
    return e;
}

AstExpr *parse_expr_bool(ParseCtx *ctx, SrcLoc loc, bool value) {
    AstExpr *e = expr_new(ctx, AST_EXPR_BOOL, loc);
    e->as.boolean = value;
    return e;
}

AstExpr *parse_expr_name(ParseCtx *ctx, SrcLoc loc, const char *name) {
    AstExpr *e = expr_new(ctx, AST_EXPR_NAME, loc);
    e->as.name = name;
    return e;
}

AstExpr *parse_expr_call(ParseCtx *ctx, AstExpr *callee, PtrVec *args) {
    if (callee->kind != AST_EXPR_NAME && callee->kind != AST_EXPR_FIELD) {
        diag_error(ctx->diag, callee->loc,
                   "only a name can be called (like 'relu(x)' or "
                   "'std.nn.mlp(x)')");
        return callee;
    }
    AstExpr *e = expr_new(ctx, AST_EXPR_CALL, callee->loc);
    e->as.call.callee = callee;
    e->as.call.n_args = args->len;
    e->as.call.args = ARENA_NEW_ARRAY(ctx->arena, AstArg, args->len);
    AstExpr *deepest = callee;
    for (size_t i = 0; i < args->len; i++) {
        e->as.call.args[i] = *(AstArg *)args->items[i];
        deepest = deeper(deepest, e->as.call.args[i].value);
    }
    return expr_nest(ctx, e, deepest);
}

AstExpr *parse_expr_pipe(ParseCtx *ctx, SrcLoc op, AstExpr *lhs,
                         AstExpr *rhs) {
    AstExpr *e = expr_new(ctx, AST_EXPR_PIPE, op);
    e->as.binary.lhs = lhs;
    e->as.binary.rhs = rhs;
    return expr_nest(ctx, e, deeper(lhs, rhs));
}

AstExpr *parse_expr_binary(ParseCtx *ctx, SrcLoc op, AstBinOp kind,
                           AstExpr *lhs, AstExpr *rhs) {
    AstExpr *e = expr_new(ctx, AST_EXPR_BINARY, op);
    e->as.binary.op = kind;
    e->as.binary.lhs = lhs;
    e->as.binary.rhs = rhs;
    return expr_nest(ctx, e, deeper(lhs, rhs));
}

AstExpr *parse_expr_neg(ParseCtx *ctx, SrcLoc op, AstExpr *operand) {
    AstExpr *e = expr_new(ctx, AST_EXPR_NEG, op);
    e->as.unary.operand = operand;
    return expr_nest(ctx, e, operand);
}

AstExpr *parse_expr_list(ParseCtx *ctx, SrcLoc open, PtrVec *items) {
    AstExpr *e = expr_new(ctx, AST_EXPR_LIST, open);
    e->as.list.len = items->len;
    e->as.list.items = (AstExpr **)items->items;
    AstExpr *deepest = NULL;
    for (size_t i = 0; i < items->len; i++)
        deepest = deeper(deepest, e->as.list.items[i]);
    return expr_nest(ctx, e, deepest);
}

AstExpr *parse_expr_member(ParseCtx *ctx, SrcLoc name_loc, AstExpr *object,
                           const char *member) {
    AstExpr *e = expr_new(ctx, AST_EXPR_FIELD, name_loc);
    e->as.field.object = object;
    e->as.field.member = member;
    return expr_nest(ctx, e, object);
}

AstArg *parse_arg(ParseCtx *ctx, const char *name, SrcLoc name_loc,
                  AstExpr *value) {
    AstArg *arg = ARENA_NEW(ctx->arena, AstArg);
    arg->name = name;
    arg->name_loc = name_loc;
    arg->value = value;
    return arg;
}

AstDim *parse_dim_number(ParseCtx *ctx, SrcLoc loc, LexNumber num) {
    AstDim *dim = ARENA_NEW(ctx->arena, AstDim);
    dim->loc = loc;
    if (!num.is_int) {
        /* 1e91 does not fit a long long: report it and keep size 0 */
        diag_error(ctx->diag, loc,
                   "a dimension must be a whole number, found %g", num.value);
        return dim;
    }
    dim->size = (long long)num.value;
    return dim;
}

AstDim *parse_dim_name(ParseCtx *ctx, SrcLoc loc, const char *name) {
    AstDim *dim = ARENA_NEW(ctx->arena, AstDim);
    dim->loc = loc;
    dim->symbol = name;
    return dim;
}

AstType *parse_type(ParseCtx *ctx, SrcLoc loc, const char *dtype,
                    PtrVec *dims) {
    AstType *type = ARENA_NEW(ctx->arena, AstType);
    type->dtype = dtype;
    type->loc = loc;
    if (!dims)
        return type;
    type->n_dims = dims->len;
    type->dims = ARENA_NEW_ARRAY(ctx->arena, AstDim, dims->len);
    for (size_t i = 0; i < dims->len; i++)
        type->dims[i] = *(AstDim *)dims->items[i];
    return type;
}

AstParam *parse_param(ParseCtx *ctx, SrcLoc loc, const char *name,
                      AstType *type) {
    AstParam *param = ARENA_NEW(ctx->arena, AstParam);
    param->name = name;
    param->loc = loc;
    param->type = *type;
    param->has_type = true;
    return param;
}

AstParam *parse_def_param(ParseCtx *ctx, SrcLoc loc, const char *name,
                          AstType *type, AstExpr *default_value) {
    AstParam *param = ARENA_NEW(ctx->arena, AstParam);
    param->name = name;
    param->loc = loc;
    if (type) {
        param->type = *type;
        param->has_type = true;
    }
    param->default_value = default_value;
    return param;
}

const char *parse_module_path(ParseCtx *ctx, const char *prefix,
                              const char *name) {
    return arena_printf(ctx->arena, "%s.%s", prefix, name);
}

AstStmt *parse_stmt_param(ParseCtx *ctx, SrcLoc kw, const char *name,
                          SrcLoc name_loc, AstType *type, AstExpr *init) {
    AstStmt *stmt = ARENA_NEW(ctx->arena, AstStmt);
    stmt->kind = AST_STMT_PARAM;
    stmt->loc = kw;
    stmt->name = name;
    stmt->name_loc = name_loc;
    stmt->type = *type;
    stmt->value = init;
    return stmt;
}

/* Copies a PtrVec of AstStmt * into a contiguous array. */
static AstStmt *stmts_copy(ParseCtx *ctx, PtrVec *stmts, size_t *n) {
    *n = stmts->len;
    AstStmt *out = ARENA_NEW_ARRAY(ctx->arena, AstStmt, stmts->len);
    for (size_t i = 0; i < stmts->len; i++)
        out[i] = *(AstStmt *)stmts->items[i];
    return out;
}

AstStmt *parse_stmt_loop(ParseCtx *ctx, SrcLoc kw, const char *var,
                         SrcLoc var_loc, AstExpr *value, PtrVec *body,
                         SrcLoc end) {
    AstStmt *stmt = ARENA_NEW(ctx->arena, AstStmt);
    stmt->kind = AST_STMT_LOOP;
    stmt->loc = kw;
    stmt->name = var;
    stmt->name_loc = var_loc;
    stmt->value = value;
    stmt->body = stmts_copy(ctx, body, &stmt->n_body);
    stmt->end_loc = end;
    return stmt;
}

AstStmt *parse_stmt_let(ParseCtx *ctx, SrcLoc loc, const char *name,
                        AstExpr *value) {
    AstStmt *stmt = ARENA_NEW(ctx->arena, AstStmt);
    stmt->kind = AST_STMT_LET;
    stmt->loc = loc;
    stmt->name = name;
    stmt->value = value;
    return stmt;
}

AstStmt *parse_stmt_return(ParseCtx *ctx, SrcLoc loc, AstExpr *value) {
    AstStmt *stmt = ARENA_NEW(ctx->arena, AstStmt);
    stmt->kind = AST_STMT_RETURN;
    stmt->loc = loc;
    stmt->value = value;
    return stmt;
}

AstField *parse_field(ParseCtx *ctx, SrcLoc loc, const char *key,
                      AstExpr *value) {
    AstField *field = ARENA_NEW(ctx->arena, AstField);
    field->key = key;
    field->loc = loc;
    field->value = value;
    return field;
}

static AstItem *item_new(ParseCtx *ctx, AstItemKind kind, SrcLoc kw,
                         const char *name, SrcLoc name_loc, SrcLoc end) {
    AstItem *item = ARENA_NEW(ctx->arena, AstItem);
    item->kind = kind;
    item->loc = kw;
    item->name = name;
    item->name_loc = name_loc;
    item->end_loc = end;
    ptrvec_push(ctx->arena, &ctx->items, item);
    return item;
}

/* Copies a PtrVec of AstField * into a contiguous array. */
static void item_set_fields(ParseCtx *ctx, AstItem *item, PtrVec *fields) {
    item->n_fields = fields->len;
    item->fields = ARENA_NEW_ARRAY(ctx->arena, AstField, fields->len);
    for (size_t i = 0; i < fields->len; i++)
        item->fields[i] = *(AstField *)fields->items[i];
}

void parse_item_dataset(ParseCtx *ctx, SrcLoc kw, const char *name,
                        SrcLoc name_loc, PtrVec *fields, SrcLoc end) {
    AstItem *item =
        item_new(ctx, AST_ITEM_DATASET, kw, name, name_loc, end);
    item_set_fields(ctx, item, fields);
}

void parse_item_model(ParseCtx *ctx, SrcLoc kw, const char *name,
                      SrcLoc name_loc, PtrVec *params, AstType *result,
                      PtrVec *stmts, SrcLoc end) {
    AstItem *item = item_new(ctx, AST_ITEM_MODEL, kw, name, name_loc, end);
    item->n_params = params->len;
    item->params = ARENA_NEW_ARRAY(ctx->arena, AstParam, params->len);
    for (size_t i = 0; i < params->len; i++)
        item->params[i] = *(AstParam *)params->items[i];
    if (result) {
        item->result = *result;
        item->has_result = true;
    }
    item->n_stmts = stmts->len;
    item->stmts = ARENA_NEW_ARRAY(ctx->arena, AstStmt, stmts->len);
    for (size_t i = 0; i < stmts->len; i++)
        item->stmts[i] = *(AstStmt *)stmts->items[i];
}

void parse_item_def(ParseCtx *ctx, SrcLoc kw, const char *name,
                    SrcLoc name_loc, PtrVec *params, AstType *result,
                    PtrVec *stmts, SrcLoc end) {
    parse_item_model(ctx, kw, name, name_loc, params, result, stmts, end);
    AstItem *item = ctx->items.items[ctx->items.len - 1];
    item->kind = AST_ITEM_DEF;
}

void parse_item_use(ParseCtx *ctx, SrcLoc kw, const char *path,
                    SrcLoc path_loc, bool is_file) {
    AstItem *item = item_new(ctx, AST_ITEM_USE, kw, path, path_loc, path_loc);
    item->use_is_file = is_file;
}

void parse_item_const(ParseCtx *ctx, SrcLoc kw, const char *name,
                      SrcLoc name_loc, AstExpr *value) {
    AstItem *item = item_new(ctx, AST_ITEM_CONST, kw, name, name_loc,
                             value->loc);
    item->value = value;
}

void parse_item_train(ParseCtx *ctx, SrcLoc kw, const char *model,
                      SrcLoc model_loc, const char *dataset,
                      SrcLoc dataset_loc, PtrVec *fields, SrcLoc end) {
    AstItem *item = item_new(ctx, AST_ITEM_TRAIN, kw, model, model_loc, end);
    item->dataset = dataset;
    item->dataset_loc = dataset_loc;
    item_set_fields(ctx, item, fields);
}

/* ------------------------------------------------------------------ */
/* entry point                                                          */
/* ------------------------------------------------------------------ */

/* Prepares a ParseCtx for `text`; false (error reported) when the text is
 * too large for the scanner's int lengths. */
static bool ctx_init(ParseCtx *ctx, Arena *a, Diag *d, uint32_t file,
                     const char *text) {
    ctx->arena = a;
    ctx->diag = d;
    ctx->file = file;
    ctx->text = text;
    ctx->len = strlen(text);
    ctx->line = 1;
    ctx->col = 1;
    if (ctx->len <= INT_MAX / 2)
        return true;
    diag_error(d, (SrcLoc){file, 0, 0, 0}, "source file too large (%zu bytes)",
               ctx->len);
    return false;
}

LexToken *parse_tokens(Arena *a, Diag *d, const char *path, const char *text,
                       size_t *n_tokens) {
    ParseCtx *ctx = ARENA_NEW(a, ParseCtx);
    *n_tokens = 0;
    if (!text)
        text = "";
    if (!ctx_init(ctx, a, d, diag_add_file(d, path, text), text))
        return NULL;
    return parse_lex_all(ctx, n_tokens);
}

AstFile *parse_source(Arena *a, Diag *d, const char *path, const char *text) {
    AstFile *file = ARENA_NEW(a, AstFile);
    if (!text)
        text = "";
    file->path = path;
    file->file_id = diag_add_file(d, path, text);
    ParseCtx *ctx = ARENA_NEW(a, ParseCtx);
    if (!ctx_init(ctx, a, d, file->file_id, text))
        return file;
    int errors = diag_error_count(d);
    int status = parse_run(ctx);
    if (status != 0 && diag_error_count(d) == errors)
        diag_error(d, ctx->last_loc, "syntax error");
    file->n_items = ctx->items.len;
    file->items = ARENA_NEW_ARRAY(a, AstItem, ctx->items.len);
    for (size_t i = 0; i < ctx->items.len; i++)
        file->items[i] = *(AstItem *)ctx->items.items[i];
    file->n_comments = ctx->comments.len;
    file->comments = ARENA_NEW_ARRAY(a, AstComment, ctx->comments.len);
    for (size_t i = 0; i < ctx->comments.len; i++)
        file->comments[i] = *(AstComment *)ctx->comments.items[i];
    return file;
}
