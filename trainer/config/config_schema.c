/* config_schema.c — every configuration key, in the order of the resolved
 * dump and of docs/config.md. Enum names are listed in the order of their C
 * values (POOL_*, GELU_*, TaskType, SampleStrategy, DecayKind, ...). */
#include "trainer/config/config_schema.h"

#include <math.h>
#include <stddef.h>

#include "trainer/config/config.h"
#include "trainer/model/family.h"
#include "trainer/model/task_kind.h"

static const char *const e_act[] = {"gelu", "gelu_new", NULL};
static const char *const e_pool[] = {"mean", "cls", "max", "pooler", NULL};
static const char *const e_strategy[] = {"proportional", "temperature", "annealed", "uniform",
                                         "round_robin", "alternating", NULL};
static const char *const e_lossw[] = {"static", "uncertainty", NULL};
static const char *const e_decay[] = {"linear", "cosine", "constant", NULL};
static const char *const e_backend[] = {"auto", "cpu", "cuda", NULL};
static const char *const e_prec[] = {"fp32", "bf16", NULL};
static const char *const e_nonfinite[] = {"skip", "stop", NULL};
static const char *const e_ctr_loss[] = {"mnrl", "cosent", "angle", "triplet", NULL}; /* CtrLoss order */

#define INF HUGE_VAL
#define C(field) BASE_CONFIG, offsetof(Config, field)
#define T(field) BASE_TASK, offsetof(TaskConfig, field)
#define S(field) BASE_SETUP, offsetof(TaskSetup, field)
#define SECTION(parent, name) {parent, name, K_SECTION, BASE_CONFIG, 0, 0, 0, 0, NULL, NULL}

const KeyDef config_keys[] = {
    SECTION("", "model"),
    {"model", "path", K_STR, C(model_path), 0, 0, 0, NULL, NULL},
    {"model", "vocab", K_STR, C(vocab), 0, 0, 0, NULL, NULL},
    {"model", "do_lower_case", K_BOOL, C(do_lower_case), 0, 0, 0, NULL, "true"},
    {"model", "type", K_ENUM, C(model.bert.family), 0, 0, 0, family_model_types, "bert"},
    {"model", "vocab_size", K_INT, C(model.bert.vocab_size), 1, 10000000, 0, NULL, "30522"},
    {"model", "hidden_size", K_INT, C(model.bert.hidden_size), 1, 16384, 0, NULL, "768"},
    {"model", "num_layers", K_INT, C(model.bert.num_hidden_layers), 1, CONFIG_MAX_LAYERS, 0, NULL, "12"},
    {"model", "num_heads", K_INT, C(model.bert.num_attention_heads), 1, 1024, 0, NULL, "12"},
    {"model", "intermediate_size", K_INT, C(model.bert.intermediate_size), 1, 65536, 0, NULL, "3072"},
    {"model", "max_position_embeddings", K_INT, C(model.bert.max_position_embeddings), 1, 65536, 0,
     NULL, "512"},
    {"model", "type_vocab_size", K_INT, C(model.bert.type_vocab_size), 0, 1024, 0, NULL, "2"},
    {"model", "pad_token_id", K_INT, C(model.bert.pad_token_id), 0, 10000000, 0, NULL, "0"},
    {"model", "hidden_act", K_ENUM, C(model.bert.hidden_act), 0, 0, 0, e_act, "gelu"},
    {"model", "layer_norm_eps", K_FLOAT, C(model.bert.layer_norm_eps), 0, 1, OPEN_MIN, NULL, "1e-12"},
    {"model", "initializer_range", K_FLOAT, C(model.bert.initializer_range), 0, 1, 0, NULL, "0.02"},
    {"model", "hidden_dropout", K_FLOAT, C(model.bert.hidden_dropout_prob), 0, 1, OPEN_MAX, NULL, "0.1"},
    {"model", "attention_dropout", K_FLOAT, C(model.bert.attention_probs_dropout_prob), 0, 1, OPEN_MAX,
     NULL, "0.1"},
    {"model", "pooling", K_ENUM, C(model.pooling), 0, 0, 0, e_pool, "mean"},
    {"model", "embedding_dim", K_INT, C(model.embedding_dim), 0, 65536, 0, NULL, "0"},
    {"model", "normalize", K_BOOL, C(model.normalize), 0, 0, 0, NULL, "false"},

    {"", "tasks", K_TASKS, BASE_CONFIG, 0, 0, 0, 0, NULL, NULL},
    {"task", "name", K_NAME, T(name), 0, 0, 0, NULL, NULL},
    {"task", "type", K_ENUM, T(type), 0, 0, 0, task_kind_names, NULL},
    {"task", "labels", K_LABELS, S(labels), 0, 0, 0, NULL, NULL},
    {"task", "num_labels", K_INT, T(num_labels), 1, MAX_LABELS, 0, NULL, NULL},
    {"task", "loss_weight", K_FLOAT, T(loss_weight), 0, 1e6, 0, NULL, "1.0"},
    {"task", "dropout", K_FLOAT, T(dropout), 0, 1, OPEN_MAX, NULL, "0.1"},
    {"task", "oversample", K_FLOAT, S(oversample), 0, 1e6, OPEN_MIN, NULL, "1.0"},
    {"task", "batch_size", K_INT, S(batch_size), 1, 65536, 0, NULL, NULL},
    {"task", "max_len", K_INT, S(max_len), 2, 65536, 0, NULL, NULL},
    {"task", "lr_multiplier", K_FLOAT, S(lr_multiplier), 0, 1e6, OPEN_MIN, NULL, "1.0"},
    {"task", "tag_scheme", K_ENUM, S(tag_scheme), 0, 0, 0, ner_scheme_names, "conlleval"},
    {"task", "loss", K_ENUM, S(ctr_loss), 0, 0, 0, e_ctr_loss, "mnrl"},
    {"task", "scale", K_FLOAT, S(ctr_scale), 0, 1e6, OPEN_MIN, NULL, "20"},
    {"task", "symmetric", K_BOOL, S(ctr_symmetric), 0, 0, 0, NULL, "false"},
    {"task", "margin", K_FLOAT, S(ctr_margin), 0, 1e6, 0, NULL, "5"},
    {"task", "mini_batch", K_INT, S(ctr_mini_batch), 0, 1 << 20, 0, NULL, "0"},
    {"task", "metric", K_NAME, S(metric), 0, 0, 0, NULL, NULL},
    {"task", "data", K_SECTION, BASE_CONFIG, 0, 0, 0, 0, NULL, NULL},
    {"task.data", "train", K_STR, S(train), 0, 0, 0, NULL, NULL},
    {"task.data", "eval", K_STR, S(eval), 0, 0, 0, NULL, NULL},
    {"task", "eval_retrieval", K_SECTION, BASE_CONFIG, 0, 0, 0, 0, NULL, NULL},
    {"task.eval_retrieval", "queries", K_STR, S(ir_queries), 0, 0, 0, NULL, NULL},
    {"task.eval_retrieval", "corpus", K_STR, S(ir_corpus), 0, 0, 0, NULL, NULL},
    {"task.eval_retrieval", "qrels", K_STR, S(ir_qrels), 0, 0, 0, NULL, NULL},

    SECTION("", "data"),
    {"data", "max_len", K_INT, C(data.max_len), 2, 65536, 0, NULL, "128"},
    {"data", "batch_size", K_INT, C(data.batch_size), 1, 1 << 20, 0, NULL, "32"},
    {"data", "mixed_batches", K_BOOL, C(data.mixed_batches), 0, 0, 0, NULL, "false"},
    {"data", "length_bucketing", K_BOOL, C(data.length_bucketing), 0, 0, 0, NULL, "false"},
    {"data", "shuffle", K_BOOL, C(data.shuffle), 0, 0, 0, NULL, "true"},

    SECTION("", "sampling"),
    {"sampling", "strategy", K_ENUM, C(sampling.strategy), 0, 0, 0, e_strategy, "proportional"},
    {"sampling", "temperature", K_DOUBLE, C(sampling.temperature), 0, 1e6, OPEN_MIN, NULL, "2.0"},
    {"sampling", "alternate_every", K_LONG, C(sampling.alternate_every), 1, 1e15, 0, NULL, "1"},
    {"sampling", "anneal_steps", K_LONG, C(sampling.anneal_steps), 0, 1e15, 0, NULL, "0"},

    {"", "loss_weighting", K_ENUM, C(loss_weighting), 0, 0, 0, e_lossw, "static"},

    SECTION("", "freeze"),
    {"freeze", "embeddings", K_BOOL, C(freeze.embeddings), 0, 0, 0, NULL, "false"},
    {"freeze", "layers", K_LAYERS, C(freeze.layers), 0, 0, 0, NULL, NULL},
    {"freeze", "backbone", K_BOOL, C(freeze.backbone), 0, 0, 0, NULL, "false"},
    {"freeze", "all", K_BOOL, C(freeze.all), 0, 0, 0, NULL, "false"},
    {"freeze", "heads", K_HEADS, C(freeze.heads), 0, 0, 0, NULL, NULL},
    {"freeze", "unfreeze_at_step", K_UNFREEZE, C(freeze.unfreeze), 0, 0, 0, NULL, NULL},

    SECTION("", "optimizer"),
    {"optimizer", "lr", K_FLOAT, C(optimizer.lr), 0, 10, OPEN_MIN, NULL, "5e-5"},
    {"optimizer", "weight_decay", K_FLOAT, C(optimizer.weight_decay), 0, 10, 0, NULL, "0.01"},
    {"optimizer", "beta1", K_FLOAT, C(optimizer.beta1), 0, 1, OPEN_MAX, NULL, "0.9"},
    {"optimizer", "beta2", K_FLOAT, C(optimizer.beta2), 0, 1, OPEN_MAX, NULL, "0.999"},
    {"optimizer", "eps", K_FLOAT, C(optimizer.eps), 0, 1, OPEN_MIN, NULL, "1e-8"},
    {"optimizer", "max_grad_norm", K_FLOAT, C(optimizer.max_grad_norm), 0, 1e9, 0, NULL, "1.0"},
    {"optimizer", "layer_decay", K_FLOAT, C(optimizer.layer_decay), 0, 1, OPEN_MIN, NULL, "1.0"},
    {"optimizer", "head_lr", K_FLOAT, C(optimizer.head_lr), 0, 10, OPEN_MIN, NULL, NULL},
    {"optimizer", "head_weight_decay", K_FLOAT, C(optimizer.head_weight_decay), 0, 10, 0, NULL, NULL},

    SECTION("", "schedule"),
    {"schedule", "warmup_steps", K_LONG, C(schedule.warmup_steps), 0, 1e15, 0, NULL, "0"},
    {"schedule", "warmup_ratio", K_DOUBLE, C(schedule.warmup_ratio), 0, 1, OPEN_MAX, NULL, "0.0"},
    {"schedule", "decay", K_ENUM, C(schedule.decay), 0, 0, 0, e_decay, "linear"},

    SECTION("", "train"),
    {"train", "steps", K_LONG, C(train.steps), 0, 1e15, 0, NULL, "0"},
    {"train", "epochs", K_DOUBLE, C(train.epochs), 0, 1e6, 0, NULL, "0"},
    {"train", "grad_accum", K_INT, C(train.grad_accum), 1, 65536, 0, NULL, "1"},
    {"train", "seed", K_U64, C(train.seed), 0, 9007199254740992.0, 0, NULL, "42"},
    {"train", "threads", K_INT, C(train.threads), 0, 4096, 0, NULL, "0"},
    {"train", "backend", K_ENUM, C(train.backend), 0, 0, 0, e_backend, "auto"},
    {"train", "precision", K_ENUM, C(train.precision), 0, 0, 0, e_prec, "fp32"},
    {"train", "nonfinite", K_ENUM, C(train.nonfinite), 0, 0, 0, e_nonfinite, "skip"},
    {"train", "gradient_checkpointing", K_BOOL, C(model.grad_checkpoint), 0, 0, 0, NULL, "false"},
    {"train", "run_name", K_STR, C(train.run_name), 0, 0, 0, NULL, NULL},
    {"train", "run_dir", K_STR, C(train.run_dir), 0, 0, 0, NULL, NULL},

    SECTION("", "eval"),
    {"eval", "every", K_LONG, C(eval.every), 0, 1e15, 0, NULL, "0"},
    {"eval", "best_metric", K_STR, C(eval.best_metric), 0, 0, 0, NULL, "mean"},
    {"eval", "patience", K_LONG, C(eval.patience), 0, 1e15, 0, NULL, "0"},
    {"eval", "min_delta", K_DOUBLE, C(eval.min_delta), 0, 1e300, 0, NULL, "0"},

    SECTION("", "logging"),
    {"logging", "every", K_LONG, C(logging.every), 1, 1e15, 0, NULL, "10"},
    {"logging", "jsonl", K_BOOL, C(logging.jsonl), 0, 0, 0, NULL, "true"},
    {"logging", "tensorboard", K_BOOL, C(logging.tensorboard), 0, 0, 0, NULL, "true"},

    SECTION("", "checkpoint"),
    {"checkpoint", "every", K_LONG, C(checkpoint.every), 0, 1e15, 0, NULL, "0"},
    {"checkpoint", "keep_last", K_INT, C(checkpoint.keep_last), 0, 1000000, 0, NULL, "3"},
    {"checkpoint", "keep_best", K_BOOL, C(checkpoint.keep_best), 0, 0, 0, NULL, "true"},
    {"checkpoint", "resume", K_STR, C(checkpoint.resume), 0, 0, 0, NULL, "none"},
    {"checkpoint", "overwrite", K_BOOL, C(checkpoint.overwrite), 0, 0, 0, NULL, "false"},

    SECTION("", "bench"),
    {"bench", "seq_len", K_INT, C(bench.seq_len), 1, 65536, 0, NULL, "128"},
    {"bench", "batch_size", K_INT, C(bench.batch_size), 1, 1 << 20, 0, NULL, "32"},
    {"bench", "steps", K_INT, C(bench.steps), 1, 1000000, 0, NULL, "10"},
    {"bench", "warmup", K_INT, C(bench.warmup), 0, 1000000, 0, NULL, "2"},
    {"bench", "frozen_backbone", K_BOOL, C(bench.frozen_backbone), 0, 0, 0, NULL, "false"},
};

const int config_nkeys = (int)(sizeof config_keys / sizeof config_keys[0]);
