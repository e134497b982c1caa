/* yaml_tree.h — a YAML document as a small tree of scalars, sequences and
 * mappings, each node carrying the line and column it started at, so that
 * a later check can point a person at the exact place of a problem.
 *
 * Parsed with libyaml's event API. One document per text; anchors and
 * aliases are refused (a configuration file has no need for them and they
 * would make "where was this set" ambiguous). */
#ifndef MTBERT_YAML_TREE_H
#define MTBERT_YAML_TREE_H

#include <stddef.h>

typedef enum { YNODE_SCALAR = 0, YNODE_SEQ, YNODE_MAP } YNodeKind;

typedef struct YNode {
    YNodeKind kind;
    int line, col;          /* 1-based start of the node */
    int origin;             /* -1: the parsed file; i >= 0: command-line override i */
    int quoted;             /* scalar written quoted or as a block: never null/number by form */
    char *str;              /* scalar text (NUL-terminated; "" for an empty scalar) */
    int n, cap;             /* number of items (a mapping: 2 x pairs) */
    struct YNode **items;   /* sequence: items[i]; mapping: key items[2i], value items[2i+1] */
} YNode;

typedef struct {
    int line, col;          /* 1-based; 0 when unknown */
    char msg[256];
} YError;

/* Parse `len` bytes of YAML. An empty document gives *out = NULL and 0.
 * On error returns -1 with the place and libyaml's problem in *err. */
int ynode_parse(const char *text, size_t len, YNode **out, YError *err);

/* Mark every node of the tree as coming from override `origin`. */
void ynode_set_origin(YNode *n, int origin);

/* A plain scalar that YAML reads as null: "", "~", "null", "Null", "NULL". */
int ynode_is_null(const YNode *n);

/* Mapping helpers (keys compared exactly; first match wins). */
YNode *ynode_map_get(const YNode *map, const char *key);
int ynode_map_index(const YNode *map, const char *key);   /* pair index or -1 */
#define YNODE_PAIRS(m) ((m)->n / 2)
/* Append an item (to a mapping: a key, then its value); takes ownership.
 * 0 or -1 (out of memory). */
int ynode_append(YNode *parent, YNode *item);

YNode *ynode_new(YNodeKind kind, int line, int col, const char *str);
void ynode_free(YNode *n);

/* "a scalar", "a list", "a mapping": for messages. */
const char *ynode_kind_name(const YNode *n);

#endif
