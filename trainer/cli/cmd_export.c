/* mtbert export — a checkpoint (or any model folder) as a clean Hugging Face
 * BERT folder in the sentence-transformers layout, heads beside it. */
#include <stdio.h>
#include <string.h>

#include "trainer/cli/cli.h"
#include "trainer/cli/args.h"
#include "trainer/store/model_open.h"
#include "trainer/store/task_export.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: mtbert export --checkpoint DIR --out DIR [--task-models]\n"
            "\n"
            "DIR (--checkpoint) is a checkpoint, RUN/latest, RUN/best, a run directory or\n"
            "any model folder.\n"
            "\n"
            "Writes DIR (--out) with config.json, model.safetensors (Hugging Face BertModel\n"
            "names), vocab.txt, tokenizer_config.json, special_tokens_map.json; the\n"
            "sentence-transformers files (modules.json, sentence_bert_config.json,\n"
            "1_Pooling/, 2_Dense/ when a projection is used, 3_Normalize when enabled); and\n"
            "the task heads in mtbert_heads.safetensors described by mtbert_tasks.json\n"
            "(docs/export.md). Loads in transformers (BertModel.from_pretrained), in\n"
            "sentence-transformers (SentenceTransformer(DIR)) and back in mtbert.\n"
            "\n"
            "  --task-models   also write DIR/tasks/TASK/ for each task with a head: the\n"
            "                  encoder and that head as a transformers task model for\n"
            "                  pipeline(\"text-classification\" / \"token-classification\"):\n"
            "                  <Family>ForTokenClassification, BertForSequenceClassification\n"
            "                  (pooling pooler, no projection), else a small remote-code\n"
            "                  class (modeling_mtbert.py, trust_remote_code=True) that keeps\n"
            "                  the head's pooling, projection and normalisation\n");
}

int cmd_export(int argc, char **argv) {
    const char *in = NULL, *out = NULL;
    int task_models = 0;
    const OptSpec opts[] = {
        {"task-models", OPT_FLAG, &task_models, 0, 0, 1},
        {"checkpoint", OPT_STRING, &in, 0, 0, 0},
        {"out", OPT_STRING, &out, 0, 0, 0},
    };
    int npos, pr = cli_parse("export", argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, &npos, usage);
    if (pr) return cli_exit(pr);
    if (!in || !out) { fprintf(stderr, "mtbert export: --checkpoint DIR and --out DIR are required\n"); usage(stderr); return 2; }
    char err[8192];
    OpenOptions oo = {.backend = "cpu", .max_batch = 1, .max_len = 2, .pooling = -1, .normalize = -1,
                      .no_tokenizer = 1};
    OpenModel om;
    int status;
    if (model_open(&om, in, &oo, &status, err, sizeof err)) {
        fprintf(stderr, "mtbert export: %s\n", err);
        return status;
    }
    const ModelDir *d = &om.dir;
    LabelNames labels[MAX_TASKS];
    for (int t = 0; t < d->mc.ntasks; t++) {
        labels[t].n = d->nlabels[t];
        labels[t].names = d->labels[t];
        labels[t].tag_scheme = ner_scheme_name(d->tag_scheme[t]);
    }
    int rc = 0;
    if (model_dir_save(&om.model, out, d->vocab, d->do_lower_case, d->max_seq_length, labels, err, sizeof err)) {
        fprintf(stderr, "mtbert export: %s\n", err);
        rc = 1;
    } else {
        fprintf(stderr, "mtbert export: wrote %s (%d task head%s)\n", out, d->mc.ntasks, d->mc.ntasks == 1 ? "" : "s");
    }
    if (!rc && task_models) {
        char root[1200];
        snprintf(root, sizeof root, "%s/tasks", out);
        if (task_export_all(&om.model, d, labels, root, stderr, err, sizeof err) < 0) {
            fprintf(stderr, "mtbert export: %s\n", err);
            rc = 1;
        }
    }
    model_close(&om);
    return rc;
}
