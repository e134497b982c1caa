/* yaml_tree.c — libyaml events -> YNode tree with marks. */
#include "trainer/config/yaml_tree.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

YNode *ynode_new(YNodeKind kind, int line, int col, const char *str) {
    YNode *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    n->kind = kind;
    n->line = line;
    n->col = col;
    n->origin = -1;
    if (kind == YNODE_SCALAR) {
        n->str = strdup(str ? str : "");
        if (!n->str) {
            free(n);
            return NULL;
        }
    }
    return n;
}

void ynode_free(YNode *n) {
    if (!n) return;
    for (int i = 0; i < n->n; i++) ynode_free(n->items[i]);
    free(n->items);
    free(n->str);
    free(n);
}

int ynode_append(YNode *parent, YNode *item) {
    if (parent->n + 1 > parent->cap) {
        int cap = parent->cap ? 2 * parent->cap : 8;
        YNode **p = realloc(parent->items, (size_t)cap * sizeof *p);
        if (!p) return -1;
        parent->items = p;
        parent->cap = cap;
    }
    parent->items[parent->n++] = item;
    return 0;
}

void ynode_set_origin(YNode *n, int origin) {
    if (!n) return;
    n->origin = origin;
    for (int i = 0; i < n->n; i++) ynode_set_origin(n->items[i], origin);
}

int ynode_is_null(const YNode *n) {
    if (!n) return 1;
    if (n->kind != YNODE_SCALAR || n->quoted) return 0;
    const char *s = n->str;
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

int ynode_map_index(const YNode *map, const char *key) {
    if (!map || map->kind != YNODE_MAP) return -1;
    for (int i = 0; i < YNODE_PAIRS(map); i++)
        if (!strcmp(map->items[2 * i]->str, key)) return i;
    return -1;
}

YNode *ynode_map_get(const YNode *map, const char *key) {
    int i = ynode_map_index(map, key);
    return i < 0 ? NULL : map->items[2 * i + 1];
}

const char *ynode_kind_name(const YNode *n) {
    if (!n) return "nothing";
    switch (n->kind) {
    case YNODE_SCALAR: return "a scalar";
    case YNODE_SEQ: return "a list";
    default: return "a mapping";
    }
}

static void set_err(YError *e, int line, int col, const char *fmt, ...) {
    e->line = line;
    e->col = col;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
}

#define MAX_DEPTH 64

int ynode_parse(const char *text, size_t len, YNode **out, YError *err) {
    yaml_parser_t parser;
    yaml_event_t ev;
    YNode *stack[MAX_DEPTH];
    int depth = 0, ndocs = 0, done = 0, rc = 0;
    YNode *root = NULL;

    *out = NULL;
    memset(err, 0, sizeof *err);
    if (!yaml_parser_initialize(&parser)) {
        set_err(err, 0, 0, "cannot initialise the YAML parser");
        return -1;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    while (!done) {
        if (!yaml_parser_parse(&parser, &ev)) {
            const yaml_mark_t *m = &parser.problem_mark;
            char ctx[160] = "";
            if (parser.context)
                snprintf(ctx, sizeof ctx, " (%s started at line %d, column %d)", parser.context,
                         (int)parser.context_mark.line + 1, (int)parser.context_mark.column + 1);
            const char *hint = m->index < len && text[m->index] == '\t' ? " (a tab: indent with spaces)" : "";
            set_err(err, (int)m->line + 1, (int)m->column + 1, "YAML syntax error: %s%s%s",
                    parser.problem ? parser.problem : "unknown problem", hint, ctx);
            rc = -1;
            break;
        }
        int line = (int)ev.start_mark.line + 1, col = (int)ev.start_mark.column + 1;
        YNode *node = NULL;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++ndocs > 1) {
                set_err(err, line, col, "only one YAML document is allowed");
                rc = -1;
            }
            break;
        case YAML_ALIAS_EVENT:
            set_err(err, line, col, "YAML aliases (*%s) are not supported",
                    (const char *)ev.data.alias.anchor);
            rc = -1;
            break;
        case YAML_SCALAR_EVENT:
            node = ynode_new(YNODE_SCALAR, line, col, (const char *)ev.data.scalar.value);
            if (node) node->quoted = ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
            break;
        case YAML_SEQUENCE_START_EVENT:
            node = ynode_new(YNODE_SEQ, line, col, NULL);
            break;
        case YAML_MAPPING_START_EVENT:
            node = ynode_new(YNODE_MAP, line, col, NULL);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--;
            break;
        default:
            break;
        }
        if (rc == 0 && (ev.type == YAML_SCALAR_EVENT || ev.type == YAML_SEQUENCE_START_EVENT ||
                        ev.type == YAML_MAPPING_START_EVENT)) {
            const char *anchor = ev.type == YAML_SCALAR_EVENT ? (const char *)ev.data.scalar.anchor
                                 : ev.type == YAML_SEQUENCE_START_EVENT
                                     ? (const char *)ev.data.sequence_start.anchor
                                     : (const char *)ev.data.mapping_start.anchor;
            if (!node) {
                set_err(err, line, col, "out of memory");
                rc = -1;
            } else if (anchor) {
                set_err(err, line, col, "YAML anchors (&%s) are not supported", anchor);
                ynode_free(node);
                rc = -1;
            } else if (depth == 0) {
                root = node;
            } else {
                YNode *parent = stack[depth - 1];
                if (parent->kind == YNODE_MAP && parent->n % 2 == 0 && node->kind != YNODE_SCALAR) {
                    set_err(err, line, col, "a mapping key must be a plain name, not %s",
                            ynode_kind_name(node));
                    ynode_free(node);
                    node = NULL;
                    rc = -1;
                } else if (ynode_append(parent, node)) {
                    ynode_free(node);
                    set_err(err, line, col, "out of memory");
                    rc = -1;
                }
            }
            if (rc == 0 && node->kind != YNODE_SCALAR) {
                if (depth >= MAX_DEPTH) {
                    set_err(err, line, col, "nesting deeper than %d levels", MAX_DEPTH);
                    rc = -1;
                } else {
                    stack[depth++] = node;
                }
            }
        }
        yaml_event_delete(&ev);
        if (rc) break;
    }
    yaml_parser_delete(&parser);
    if (rc) {
        ynode_free(root);
        return -1;
    }
    *out = root;
    return 0;
}
