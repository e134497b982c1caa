/* config_schema.h — the table of configuration keys (internal to
 * config.c): where each key lives in Config, its type, range and default. */
#ifndef MTBERT_CONFIG_SCHEMA_H
#define MTBERT_CONFIG_SCHEMA_H

#include <stddef.h>

typedef enum {
    K_SECTION,   /* a mapping of further keys: section name = parent.name */
    K_TASKS,     /* the list of tasks (items: section "task") */
    K_INT, K_LONG, K_U64, K_FLOAT, K_DOUBLE, K_BOOL, K_ENUM,
    K_STR,       /* char *, malloc'd; NULL when absent */
    K_NAME,      /* char[MAX_NAME] */
    K_LABELS,    /* task labels: list of names */
    K_LAYERS,    /* freeze.layers: int, "LO-HI" or a list of those */
    K_HEADS,     /* freeze.heads: list of task names */
    K_UNFREEZE   /* freeze.unfreeze_at_step: mapping group -> step */
} KeyKind;

typedef enum { BASE_CONFIG, BASE_TASK, BASE_SETUP } KeyBase;

enum { OPEN_MIN = 1, OPEN_MAX = 2 };

typedef struct {
    const char *section;        /* "" top level, "model", ..., "task", "task.data" */
    const char *name;
    KeyKind kind;
    KeyBase base;               /* Config, TaskConfig (model.tasks[i]) or TaskSetup (task[i]) */
    size_t off;
    double min, max;            /* numbers: allowed range */
    int open;                   /* OPEN_MIN / OPEN_MAX: exclusive bounds */
    const char *const *enums;   /* K_ENUM: names, NULL-terminated; value = index */
    const char *def;            /* default as YAML text; NULL: none / resolved later */
} KeyDef;

extern const KeyDef config_keys[];
extern const int config_nkeys;

#endif
